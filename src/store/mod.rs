//! Where archive bytes live: the local repository directory, an S3 bucket or an SFTP
//! server, all behind one small blocking trait (`read_at`, `put`, `list`, `delete`,
//! rustic_core's backend shape), so that every reader and the uploader work the same
//! over each of them. This layer is the only user of aws-sdk-s3, tokio and ssh2; it
//! knows object names, never events or catalogs.

pub mod cache;
pub mod encrypt;
pub mod local;
mod retry;
pub mod s3;
pub mod sftp;
pub mod spec;

pub use retry::with_retries;
pub use spec::{Encryption, Kind, S3Options, SftpOptions, TargetSpec};

use crate::error::Result;
use std::path::Path;

/// One object of a listing: its name relative to the store's root and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub name: String,
    pub size: u64,
}

/// What a store holds after a successful [`Store::put`]: the size and SHA-256 of the
/// bytes the store itself reported or read back, equal to the local file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub sha256: String,
}

/// A blocking storage interface over objects named by `/`-separated paths relative to
/// the store's root.
pub trait Store: Send + Sync {
    /// Reads exactly `len` bytes at `offset` of object `name`; a missing object is
    /// `ErrorKind::NotFound`.
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;

    /// Copies the local file to `name`. The copy becomes visible under `name` only
    /// whole, and only once its size and SHA-256 as held by the store equal the local
    /// file's; an interrupted put leaves nothing under `name`.
    fn put(&self, name: &str, local: &Path) -> Result<Stored>;

    /// Every object whose name starts with `prefix` (a folder path or empty).
    fn list(&self, prefix: &str) -> Result<Vec<Object>>;

    /// Removes `name`; a missing object is not an error.
    fn delete(&self, name: &str) -> Result<()>;

    /// The size of object `name`, or `None` when there is none.
    fn size_of(&self, name: &str) -> Result<Option<u64>>;

    /// Bytes read from the store so far (what `-v` reports for remote reads).
    fn fetched(&self) -> u64 {
        0
    }

    /// How messages name this store: `s3 target "offsite"`, `repository /srv/backup`.
    fn label(&self) -> String;
}

/// Opens the store a target spec describes. Nothing is contacted yet: remote stores
/// connect on first use, so commands that never leave the local repository stay
/// offline.
pub fn open(spec: &TargetSpec) -> Result<Box<dyn Store>> {
    open_cached(spec, None)
}

/// [`open`] with an on-disk cache of ranges read (`dir`, at most `max_bytes`). The
/// cache holds what the target holds: ciphertext, for an encrypted target.
pub fn open_cached(spec: &TargetSpec, cache: Option<(&Path, u64)>) -> Result<Box<dyn Store>> {
    let mut store: Box<dyn Store> = match &spec.kind {
        Kind::S3(o) => Box::new(s3::S3Store::new(&spec.name, o.clone())?),
        Kind::Sftp(o) => Box::new(sftp::SftpStore::new(&spec.name, o.clone())),
    };
    if let Some((dir, max_bytes)) = cache {
        store = Box::new(cache::DiskCache::new(store, dir, max_bytes)?);
    }
    if let Some(e) = &spec.encryption {
        store = Box::new(encrypt::Encrypted::new(
            store,
            &spec.name,
            &e.recipients,
            e.identity_file.clone(),
        )?);
    }
    Ok(store)
}

/// `a/b` joined with `c` as `a/b/c`; an empty prefix adds nothing.
pub fn join(prefix: &str, name: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        name.to_string()
    } else {
        format!("{p}/{name}")
    }
}

/// Size and hex SHA-256 of a local file.
pub fn file_sha256(local: &Path) -> Result<(u64, String)> {
    let s = copy_hashing(local, &mut std::io::sink(), "nothing")?;
    Ok((s.size, s.sha256))
}

/// Copies the local file into `out` (named `dest` in messages), reading it once, and
/// returns its size and hex SHA-256.
pub fn copy_hashing(local: &Path, out: &mut dyn std::io::Write, dest: &str) -> Result<Stored> {
    use crate::error::IoContext;
    use sha2::Digest;
    use std::io::Read;
    let mut src = std::fs::File::open(local).ctx(|| format!("cannot read {}", local.display()))?;
    let (mut sha, mut size) = (sha2::Sha256::new(), 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src
            .read(&mut buf)
            .ctx(|| format!("cannot read {}", local.display()))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        out.write_all(&buf[..n])
            .ctx(|| format!("cannot write {dest}"))?;
        size += n as u64;
    }
    Ok(Stored {
        size,
        sha256: hex::encode(sha.finalize()),
    })
}
