//! What gets backed up. A source walks its data and hands members to a
//! [`MemberSink`]; it knows nothing of archives, compression or the catalog.

pub mod command;
pub mod files;
pub mod mysql;

use crate::error::Result;
use crate::model::{FileMeta, MemberSink};

pub trait Source: Send + Sync {
    /// The source's name: the first component of its members' paths.
    fn name(&self) -> &str;
    /// Streams every member into `sink`. Recoverable problems (an unreadable file) are
    /// `sink.warn`ings; an `Err` fails the event.
    fn run(&self, sink: &mut dyn MemberSink) -> Result<()>;
    /// What a run would back up, one line each, found by connecting and listing
    /// without writing anything (`backup --dry-run`).
    fn dry_run(&self) -> Result<Vec<String>>;
}

/// Metadata of a path, without following symlinks.
pub fn file_meta(md: &std::fs::Metadata) -> FileMeta {
    use std::os::unix::fs::MetadataExt;
    FileMeta {
        mode: md.mode() & 0o7777,
        mtime: md.mtime(),
        uid: md.uid(),
        gid: md.gid(),
    }
}
