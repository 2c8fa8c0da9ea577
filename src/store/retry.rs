//! Retries with exponential backoff for transient store failures (a dropped
//! connection, a timeout, a server error); anything else fails at once.

use crate::error::{Error, Result};
use std::time::Duration;

/// Runs `f` up to `1 + retries` times while it fails with a transient error, sleeping
/// 1 s, 2 s, 4 s, ... (at most 30 s) in between.
pub fn with_retries<T>(retries: u32, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if attempt < retries && is_transient(&e) => {
                tracing::warn!("{e}; retrying in {} s", delay.as_secs());
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(30));
                attempt += 1;
            }
            r => return r,
        }
    }
}

fn is_transient(e: &Error) -> bool {
    matches!(
        e,
        Error::Target {
            transient: true,
            ..
        }
    )
}
