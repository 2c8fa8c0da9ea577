//! Errors that cross module boundaries, and the exit codes they map to.
//!
//! Every message names what failed and, where there is one, what to do next. No variant
//! ever carries a secret: callers pass paths, hosts and member names, never credentials.

use std::path::PathBuf;

/// The documented exit codes of the `strata` binary (README, "Exit codes").
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Done, but with warnings (backup), damage found (verify), or differences (diff).
    pub const WARN: u8 = 1;
    /// Trouble: bad config, failed event, unreadable repository.
    pub const ERROR: u8 = 2;
    /// Another backup holds the repository lock.
    pub const LOCKED: u8 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("another strata backup is running on this repository (lock {} is held); this run exits", .0.display())]
    Locked(PathBuf),

    #[error(
        "archive {archive}: member {member}: frame {frame} (archive offset {offset}): {message}"
    )]
    CorruptFrame {
        archive: String,
        member: String,
        frame: usize,
        offset: u64,
        message: String,
    },

    #[error("archive {archive}: member {member}: {message}")]
    CorruptMember {
        archive: String,
        member: String,
        message: String,
    },

    #[error("archive {archive}: {message}")]
    Archive { archive: String, message: String },

    #[error("catalog {}: {message}", path.display())]
    Catalog { path: PathBuf, message: String },

    #[error("{0}")]
    NotFound(String),

    /// A remote target failed; `transient` failures (connection, timeout, server
    /// error) are worth retrying, the rest (credentials, missing bucket, host key) not.
    #[error("target {target}: {message}")]
    Target {
        target: String,
        message: String,
        transient: bool,
    },

    /// Encrypting for, or decrypting from, an encrypted target failed.
    #[error("target {target}: {message}")]
    Encryption { target: String, message: String },

    #[error("{context}: {}", describe(source))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the archive writer stopped")]
    WriterStopped,

    /// A point-in-time replay refused before anything was loaded, or stopped: `target`
    /// is the server, `message` what happened and what to do.
    #[error("replaying the binlogs into {target}: {message}")]
    Replay { target: String, message: String },

    /// A restore through a command source's own tool (`restore --run`) that could not
    /// run or did not take the whole member.
    #[error("restore --run of {source_name}: {message}")]
    RestoreCommand {
        source_name: String,
        message: String,
    },

    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Locked(_) => exit::LOCKED,
            _ => exit::ERROR,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An I/O error as one plain clause with what to do where that is clear: no `(os
/// error N)`, and a full disk, a read-only filesystem or a refused permission said so.
pub fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match (e.raw_os_error(), e.kind()) {
        (Some(libc::ENOSPC | libc::EDQUOT), _)
        | (_, ErrorKind::StorageFull | ErrorKind::QuotaExceeded) => {
            return "the disk is full (no space left on the device); free space on it and run again".into()
        }
        (Some(libc::EROFS), _) | (_, ErrorKind::ReadOnlyFilesystem) => {
            return "the filesystem is read-only; writing commands need it writable".into()
        }
        (Some(libc::EACCES | libc::EPERM), _) | (_, ErrorKind::PermissionDenied) => {
            return "permission denied; run strata as the user that owns the repository (usually root)".into()
        }
        _ => {}
    }
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if c.is_uppercase() && chars.clone().next().is_some_and(|n| n.is_lowercase()) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => text.to_string(),
    }
}

/// Adds a context line to `std::io::Result`s, turning them into [`Error::Io`].
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}
