//! Plain data shared by every layer: events, members, frames.
//!
//! No logic lives here beyond small conversions; the catalog stores these, the archive
//! manifest serialises them, the vfs and the CLI display them.

use serde::{Deserialize, Serialize};

/// `events.completed` while a backup runs (matiri's convention).
pub const RUNNING: i64 = -999;
/// `events.completed` of a finished, usable event.
pub const COMPLETE: i64 = 0;
/// `events.completed` of an event whose process died (found by the next run).
pub const INTERRUPTED: i64 = 1;
/// `events.completed` of an event where nothing usable was written (every source
/// failed, the disk filled...).
pub const FAILED: i64 = 2;
/// `events.completed` of an event whose archive holds what the sources that worked
/// wrote, while some sources failed (named in `error`, `.err` and `.meta`).
pub const PARTIAL: i64 = 3;
/// `events.completed` of an event that `prune` or `forget` is removing: its files go
/// first, then its row; a run killed in between is finished by the next one.
pub const DELETING: i64 = 4;

/// One backup run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: i64,
    pub host: String,
    /// Unix seconds.
    pub start_time: i64,
    pub end_time: Option<i64>,
    /// -999 running, 0 complete, 1 interrupted, 2 failed, 3 partial.
    pub completed: i64,
    /// Size of the archive in bytes.
    pub bytes: u64,
    /// Archive path relative to the repository (`YYYY/MM/<host>_YYYY-MM-DD_<id>.tar`).
    pub file: String,
    /// SHA-256 of the whole archive, hex.
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub warnings: u64,
    /// Facts recorded by sources: binlog file and position, GTID, server version.
    #[serde(default)]
    pub info: std::collections::BTreeMap<String, String>,
}

impl Event {
    pub fn status(&self) -> &'static str {
        match self.completed {
            RUNNING => "running",
            COMPLETE if self.warnings > 0 => "warnings",
            COMPLETE => "complete",
            INTERRUPTED => "interrupted",
            PARTIAL => "partial",
            DELETING => "deleting",
            _ => "failed",
        }
    }

    /// Complete or partial: the event has an archive that can be read.
    pub fn is_readable(&self) -> bool {
        matches!(self.completed, COMPLETE | PARTIAL)
    }

    /// Made by `strata binlog`: it holds binary logs only, no backup to load.
    pub fn binlog_only(&self) -> bool {
        self.info
            .iter()
            .any(|(k, v)| k.ends_with(".binlog_only") && v == "true")
    }
}

/// What a member is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    /// A regular file (or a FIFO read as one).
    File,
    Dir,
    Symlink,
    /// The standard output of a command source.
    Output,
    /// One table of a database source: `<source>/<db>/<table>.sql`, restorable alone.
    Table,
    /// The `CREATE DATABASE` statement of a database: `<source>/<db>/.database.sql`.
    Database,
    /// Views, routines, packages and events of a database (triggers go with their
    /// table): `<source>/<db>/.objects.sql`.
    Objects,
    /// Users, roles and grants of a MySQL source (`users = true`):
    /// `<source>/.users.sql`, never applied by a database restore.
    Users,
    /// A binary log file of a MySQL source as the server wrote it:
    /// `<source>/binlog/<file>`.
    Binlog,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::File => "file",
            MemberKind::Dir => "dir",
            MemberKind::Symlink => "symlink",
            MemberKind::Output => "output",
            MemberKind::Table => "table",
            MemberKind::Database => "database",
            MemberKind::Objects => "objects",
            MemberKind::Users => "users",
            MemberKind::Binlog => "binlog",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "file" => MemberKind::File,
            "dir" => MemberKind::Dir,
            "symlink" => MemberKind::Symlink,
            "output" => MemberKind::Output,
            "table" => MemberKind::Table,
            "database" => MemberKind::Database,
            "objects" => MemberKind::Objects,
            "users" => MemberKind::Users,
            "binlog" => MemberKind::Binlog,
            _ => return None,
        })
    }

    /// Members with content are stored as seekable zstd; the others are bare tar entries.
    pub fn has_content(self) -> bool {
        !matches!(self, MemberKind::Dir | MemberKind::Symlink)
    }
}

/// Ownership, permissions and time of a member, as recorded at backup time.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileMeta {
    pub mode: u32,
    /// Unix seconds.
    pub mtime: i64,
    pub uid: u32,
    pub gid: u32,
}

/// One independently decompressible zstd frame of a member.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the compressed frame from the start of the member's data.
    pub offset: u64,
    pub compressed_size: u32,
    /// Offset of the frame's first byte in the uncompressed member.
    pub uoffset: u64,
    pub size: u32,
}

/// One entry of an archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    /// Logical path, `<source>/<path>`; the tar entry is this plus `.zst` for content.
    pub path: String,
    pub source: String,
    pub kind: MemberKind,
    /// Byte offset of the member's data in the tar file.
    pub offset: u64,
    /// Length of the member's data in the tar (frames + seek table).
    pub compressed_size: u64,
    /// Uncompressed length.
    pub size: u64,
    pub sha256: Option<String>,
    pub blake3: Option<String>,
    pub meta: FileMeta,
    pub link_target: Option<String>,
    pub frames: Vec<Frame>,
}

impl Member {
    /// The name of the member's entry inside the tar: content members get `.zst`,
    /// unless that would make the last component longer than NAME_MAX (255 bytes), so
    /// that `tar -xf` can always create the file.
    pub fn tar_name(&self) -> String {
        let last = self.path.rsplit('/').next().unwrap_or_default();
        if self.kind.has_content() && last.len() + 4 <= 255 {
            format!("{}.zst", self.path)
        } else {
            self.path.clone()
        }
    }
}

/// Why a [`MemberSink::stream`] call failed.
#[derive(Debug)]
pub enum SinkError {
    /// Reading the content failed part-way; the member is kept with the bytes read so far.
    Read(std::io::Error),
    /// The archive side failed (disk full, write error); the whole backup must stop.
    Closed(crate::error::Error),
}

/// Where sources put their members. Implemented by the archive pipeline; sources know
/// nothing of tar, zstd or threads.
pub trait MemberSink {
    /// Adds a member without content (a directory or a symlink).
    fn entry(&mut self, member: Member) -> crate::error::Result<()>;
    /// Adds a member whose content is read from `content` until end of file. Returns the
    /// number of bytes read. Only `path`, `source`, `kind`, `meta` of `member` are used.
    fn stream(&mut self, member: Member, content: &mut dyn std::io::Read)
        -> Result<u64, SinkError>;
    /// Records a warning for the event's `.err` file.
    fn warn(&mut self, message: String);
    /// Records a fact about the event (binlog position, GTID) for `.meta` and the catalog.
    fn note(&mut self, key: String, value: String);
    /// Where the newest earlier complete or partial event left the binlog: the value
    /// of its `<source>.binlog_file` or `<source>.binlog_position` note.
    fn previous(&self, key: &str) -> Option<String>;
    /// Where and how sources that compress on their own threads spool their frames.
    fn spool(&self) -> Spool;
    /// Adds a content member made of parts already cut into frames and compressed into
    /// spool files (see [`crate::format::frame::FramedWriter`]), joined in order, with
    /// the `(sha256, blake3)` of the joined bytes. The files are removed once appended.
    fn spooled(
        &mut self,
        member: Member,
        parts: Vec<SpooledPart>,
        hashes: (String, String),
    ) -> crate::error::Result<()>;
}

/// Spool settings handed to sources.
#[derive(Debug, Clone)]
pub struct Spool {
    pub dir: std::path::PathBuf,
    pub level: i32,
    pub frame_size: usize,
}

/// A file of compressed frames written by a source, with what is known of them.
#[derive(Debug, Clone)]
pub struct SpooledPart {
    pub path: std::path::PathBuf,
    pub framed: crate::format::frame::Framed,
}

impl Member {
    /// A member with only its identity filled in, as sources hand it to a sink.
    pub fn new(source: &str, path: String, kind: MemberKind, meta: FileMeta) -> Self {
        Member {
            path,
            source: source.to_string(),
            kind,
            offset: 0,
            compressed_size: 0,
            size: 0,
            sha256: None,
            blake3: None,
            meta,
            link_target: None,
            frames: Vec::new(),
        }
    }
}

/// A retention policy in restic's vocabulary: the last N events, the newest event of
/// each of the last N hours, days, weeks, months and years, and every event within a
/// span before the newest. An event is kept when any rule keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    pub within: Option<Span>,
}

impl KeepPolicy {
    /// No rule at all: applying it would delete everything, so it is refused.
    pub fn is_empty(&self) -> bool {
        *self == KeepPolicy::default()
    }
}

/// A calendar span such as `1y2m` or `30d` (years, months, days, hours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl Span {
    /// Parses restic's `2y5m7d3h` form; every part is optional but one must be there.
    pub fn parse(s: &str) -> Option<Span> {
        let mut span = Span::default();
        let mut num = String::new();
        let mut any = false;
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u32 = num.parse().ok()?;
            num.clear();
            match c {
                'y' => span.years = n,
                'm' => span.months = n,
                'd' => span.days = n,
                'h' => span.hours = n,
                _ => return None,
            }
            any = true;
        }
        (num.is_empty() && any).then_some(span)
    }
}
