//! The SQLite catalog, `catalog.sqlite3`: events, members, frames. The only user of
//! rusqlite. WAL mode, so that a mount reads while a backup writes; the schema version
//! lives in `PRAGMA user_version` and a newer one is refused.

mod binlog;
mod copies;
mod events;
mod members;
mod schema;

use crate::error::{Error, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

pub use binlog::{Link, Run};
pub use copies::{CopyState, RemoteCopy};

pub const FILE_NAME: &str = "catalog.sqlite3";

pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

impl Catalog {
    /// Opens (creating if needed) the catalog of the repository at `repo`.
    pub fn open(repo: &Path) -> Result<Self> {
        Self::open_file(&repo.join(FILE_NAME))
    }

    /// Opens (creating if needed) the catalog at `path`.
    pub fn open_file(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| Error::Catalog {
            path: path.to_path_buf(),
            message: diagnose(path, format!("cannot open: {e}")),
        })?;
        let mut cat = Catalog {
            conn,
            path: path.to_path_buf(),
        };
        cat.init().map_err(|e| cat.err(e))?;
        Ok(cat)
    }

    /// Opens the catalog of `repo` for reading only. Works on a read-only filesystem or
    /// snapshot and on a full disk, creates and upgrades nothing; a missing, unreadable
    /// or misplaced catalog is an error saying which.
    pub fn read(repo: &Path) -> Result<Self> {
        let path = repo.join(FILE_NAME);
        check_readable(repo, &path)?;
        Self::read_file(&path)
    }

    /// Whether `repo` holds a catalog this user can read, without opening it; the error
    /// says what is wrong.
    pub fn check(repo: &Path) -> Result<()> {
        check_readable(repo, &repo.join(FILE_NAME))
    }

    /// [`Catalog::read`] that leaves not even SQLite's `-wal` and `-shm` files behind
    /// when no writer has the catalog open (dry runs change nothing, ever). While a
    /// writer has it open, its log is read as any reader does.
    pub fn read_untouched(repo: &Path) -> Result<Self> {
        let path = repo.join(FILE_NAME);
        check_readable(repo, &path)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        if Path::new(&wal).exists() {
            return Self::read_file(&path);
        }
        Self::read_with(&path, &["immutable=1"])
    }

    /// [`Catalog::read`] of the catalog file at `path`.
    pub fn read_file(path: &Path) -> Result<Self> {
        Self::read_with(path, &["mode=ro", "immutable=1"])
    }

    /// Opens `path` read-only with the first of `modes` (URI parameters) that works.
    fn read_with(path: &Path, modes: &[&str]) -> Result<Self> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |uri: String| -> std::result::Result<Catalog, String> {
            let conn = Connection::open_with_flags(uri, flags).map_err(|e| e.to_string())?;
            conn.busy_timeout(std::time::Duration::from_secs(30))
                .map_err(|e| e.to_string())?;
            let cat = Catalog {
                conn,
                path: path.to_path_buf(),
            };
            // The first read shows whether the write-ahead log's index can be used.
            let version = cat.version()?;
            if version > schema::VERSION {
                return Err(format!(
                    "schema version {version} is newer than this strata knows ({}); upgrade strata",
                    schema::VERSION
                ));
            }
            Ok(cat)
        };
        let file = uri_path(path);
        // A catalog in WAL mode needs its `-shm` index, which a read-only filesystem or
        // a full disk cannot give: then it is read as it is, unchanging (immutable).
        let mut first = None;
        let mut opened = None;
        for mode in modes {
            match open(format!("file:{file}?{mode}")) {
                Ok(c) => {
                    opened = Some(c);
                    break;
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        let cat = opened.ok_or_else(|| Error::Catalog {
            path: path.to_path_buf(),
            message: format!("cannot be read: {}", first.unwrap_or_default()),
        })?;
        if cat.version().map_err(|e| cat.err(e))? < schema::VERSION {
            // An older schema is upgraded by the first writer; until then read it as
            // one (which a read-only repository cannot do).
            drop(cat);
            return Self::open_file(path).map_err(|e| Error::Catalog {
                path: path.to_path_buf(),
                message: format!(
                    "has an older schema that must be upgraded before reading, which failed ({e}); run any strata command once where the repository is writable"
                ),
            });
        }
        Ok(cat)
    }

    fn version(&self) -> std::result::Result<i64, String> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| e.to_string())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Catalog {
            path: self.path.clone(),
            message: diagnose(&self.path, e.to_string()),
        }
    }

    fn init(&mut self) -> std::result::Result<(), String> {
        self.conn
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| e.to_string())?;
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| e.to_string())?;
        schema::migrate(&self.conn)
    }
}

/// `path` escaped for a `file:` URI.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{b:02X}")),
            _ if b.is_ascii() => out.push(*b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether `repo` is a directory holding a catalog this user can read; the error says
/// which of these fails and what to do.
fn check_readable(repo: &Path, path: &Path) -> Result<()> {
    use std::io::ErrorKind;
    let shown = repo.display();
    match std::fs::metadata(repo) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::NotFound(format!(
                "no repository at {shown}: check `repository` in the config or -R, or run `strata backup` to create it"
            )))
        }
        Err(e) => {
            return Err(Error::io(
                format!("cannot reach the repository {shown}"),
                e,
            ))
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::Catalog {
                path: path.to_path_buf(),
                message: format!(
                    "cannot be opened: {shown} is a file, not a repository directory; check `repository` in the config or -R"
                ),
            })
        }
        Ok(_) => {}
    }
    match std::fs::File::open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NotFound(format!(
            "{shown} holds no catalog; run `strata backup` first, or `strata reindex` to rebuild it from archives"
        ))),
        Err(e) => Err(Error::io(
            format!("cannot read the catalog {}", path.display()),
            e,
        )),
    }
}

/// SQLite's words for a write that the filesystem refused ("disk I/O error", "unable
/// to open database file", ...) completed with the reason, found by writing a probe
/// file beside the catalog: a full disk, a read-only filesystem or a permission.
fn diagnose(path: &Path, message: String) -> String {
    const VAGUE: [&str; 4] = [
        "disk I/O error",
        "database or disk is full",
        "unable to open database file",
        "attempt to write a readonly database",
    ];
    if !VAGUE.iter().any(|v| message.contains(v)) {
        return message;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let probe = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = tempfile::Builder::new()
            .prefix(".strata-probe-")
            .tempfile_in(dir)?;
        f.write_all(&[0u8; 8192])?;
        f.as_file().sync_all()
    })();
    match probe {
        Err(e) => format!("{message}: {}", crate::error::describe(&e)),
        Ok(()) => message,
    }
}
