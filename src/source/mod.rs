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
    /// The source's binary-log follower, for `strata binlog --follow`; `None` for
    /// sources that capture no binary log.
    fn follower(&self) -> Option<Box<dyn Follower>> {
        None
    }
    /// How a member of this source is restored through its own tool (`strata restore
    /// EVENT SOURCE --run`): the member path and the program's argv.
    fn restore_command(&self) -> Option<(String, Vec<String>)> {
        None
    }
}

/// A server whose binary log `strata binlog --follow` captures in small events.
pub trait Follower: Send + Sync {
    fn name(&self) -> &str;
    /// The server's position now (`FILE:POS`), and how many bytes of binary log it has
    /// written since `since` (the position the last event recorded).
    fn pending(&self, since: Option<&str>) -> Result<(String, u64)>;
    /// Close an event at least this often while the log moves...
    fn interval(&self) -> std::time::Duration;
    /// ...or once this many bytes are waiting.
    fn max_size(&self) -> u64;
    /// The source of one such event: the binary log since the previous event, only.
    fn source(&self) -> Box<dyn Source>;
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
