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

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> Error {
        Error::Target {
            target: "t".into(),
            message: "connection reset".into(),
            transient: true,
        }
    }

    #[test]
    fn a_transient_failure_is_retried_and_a_lasting_one_is_not() {
        let mut calls = 0;
        let r = with_retries(1, || {
            calls += 1;
            if calls == 1 {
                Err(transient())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 2);
        let mut calls = 0;
        let r: Result<()> = with_retries(3, || {
            calls += 1;
            Err(Error::Target {
                target: "t".into(),
                message: "InvalidAccessKeyId".into(),
                transient: false,
            })
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
        let mut calls = 0;
        let r: Result<()> = with_retries(0, || {
            calls += 1;
            Err(transient())
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
