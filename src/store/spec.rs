//! What a `[[target]]` of the config says, as plain data: the config layer builds it,
//! [`super::open`] turns it into a store, the upload and retention code reads its name
//! and `keep` rules.

use crate::model::KeepPolicy;
use std::path::PathBuf;

/// One configured target.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Unique among the targets; what the catalog records and `--target` names.
    pub name: String,
    pub kind: Kind,
    /// Retention on this target (none: every uploaded event stays).
    pub keep: Option<KeepPolicy>,
    /// Whole-upload attempts after a transient failure, with exponential backoff.
    pub retries: u32,
    /// Client-side encryption of everything sent there.
    pub encryption: Option<Encryption>,
}

/// A target's age encryption: who can read it, and where this machine's key is.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// age X25519 recipients (`age1...`), checked when the config is read.
    pub recipients: Vec<String>,
    /// The identity (secret key) file for reading; read on first use only, so a
    /// machine that only writes need not hold it.
    pub identity_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    S3(S3Options),
    Sftp(SftpOptions),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::S3(_) => "s3",
            Kind::Sftp(_) => "sftp",
        }
    }
}

/// An S3 (or S3-compatible) bucket. Credentials come only from the standard AWS chain.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub bucket: String,
    pub prefix: String,
    pub region: Option<String>,
    /// `http(s)://host:port` of an S3-compatible server (MinIO, Ceph, Garage, R2, ...).
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub storage_class: Option<String>,
    /// `AES256` or `aws:kms`.
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    /// Archives larger than this go up in parts of this size (at least 5 MiB).
    pub part_size: u64,
    /// Parts in flight at once.
    pub part_concurrency: usize,
}

/// A directory on an SSH server, reached over SFTP.
#[derive(Debug, Clone)]
pub struct SftpOptions {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key file; without one the SSH agent is asked.
    pub key_file: Option<PathBuf>,
    /// OpenSSH `known_hosts` the host key is checked against.
    pub known_hosts: PathBuf,
    /// Remote directory holding `<host>/YYYY/MM/...`.
    pub path: String,
}
