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
            message: format!("cannot open: {e}"),
        })?;
        let mut cat = Catalog {
            conn,
            path: path.to_path_buf(),
        };
        cat.init().map_err(|e| cat.err(e))?;
        Ok(cat)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Catalog {
            path: self.path.clone(),
            message: e.to_string(),
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
