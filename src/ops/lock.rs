//! The repository lock: one writer at a time (backup, reindex). A second run exits at
//! once instead of waiting, which is what cron needs. The lock is `flock(2)` on
//! `<repository>/strata.lock`, so a killed process never leaves it held.

use crate::error::{Error, IoContext, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;

pub struct RepoLock {
    _file: File,
}

impl RepoLock {
    pub fn acquire(repo: &Path) -> Result<Self> {
        let path = repo.join("strata.lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(path)),
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(Error::io(format!("cannot lock {}", path.display()), err))
            }
        }
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(RepoLock { _file: file })
    }
}
