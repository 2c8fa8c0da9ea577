//! Copy rows: per event and target, whether the event's files are on the target.

use super::Catalog;
use crate::error::Result;
use rusqlite::{params, Row};

/// Where one event's copy on one target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyState {
    /// To be uploaded (never tried, or interrupted).
    Pending,
    /// Uploaded and proven: the target holds the recorded size and SHA-256.
    Done,
    /// The last attempt failed; `error` says why. `strata upload` retries it.
    Failed,
    /// Retention is removing it; the next run finishes the removal.
    Deleting,
    /// Retention removed it from the target; it is not uploaded again.
    Removed,
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Pending => "pending",
            CopyState::Done => "done",
            CopyState::Failed => "failed",
            CopyState::Deleting => "deleting",
            CopyState::Removed => "removed",
        }
    }

    fn parse(s: &str) -> CopyState {
        match s {
            "done" => CopyState::Done,
            "failed" => CopyState::Failed,
            "deleting" => CopyState::Deleting,
            "removed" => CopyState::Removed,
            _ => CopyState::Pending,
        }
    }
}

/// One row of `copies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCopy {
    pub event_id: i64,
    pub target: String,
    pub state: CopyState,
    /// Size of the archive on the target (done only).
    pub size: Option<u64>,
    /// SHA-256 of the archive as the target holds it (done only).
    pub sha256: Option<String>,
    /// Unix time of the last change.
    pub time: Option<i64>,
    pub error: Option<String>,
}

impl RemoteCopy {
    pub fn new(event_id: i64, target: &str, state: CopyState) -> RemoteCopy {
        RemoteCopy {
            event_id,
            target: target.to_string(),
            state,
            size: None,
            sha256: None,
            time: Some(chrono::Utc::now().timestamp()),
            error: None,
        }
    }
}

const COLUMNS: &str = "event_id, target, state, size, sha256, time, error";

fn row(r: &Row) -> rusqlite::Result<RemoteCopy> {
    Ok(RemoteCopy {
        event_id: r.get(0)?,
        target: r.get(1)?,
        state: CopyState::parse(&r.get::<_, String>(2)?),
        size: r.get::<_, Option<i64>>(3)?.map(|s| s as u64),
        sha256: r.get(4)?,
        time: r.get(5)?,
        error: r.get(6)?,
    })
}

impl Catalog {
    /// Records `c`, replacing the row of the same event and target.
    pub fn set_copy(&self, c: &RemoteCopy) -> Result<()> {
        self.conn
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO copies ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    c.event_id,
                    c.target,
                    c.state.as_str(),
                    c.size.map(|s| s as i64),
                    c.sha256,
                    c.time,
                    c.error
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every copy row, by event then target.
    pub fn copies(&self) -> Result<Vec<RemoteCopy>> {
        self.query_copies("SELECT {COLUMNS} FROM copies ORDER BY event_id, target", [])
    }

    /// The copies of one event.
    pub fn copies_of(&self, event_id: i64) -> Result<Vec<RemoteCopy>> {
        self.query_copies(
            "SELECT {COLUMNS} FROM copies WHERE event_id = ?1 ORDER BY target",
            [event_id],
        )
    }

    fn query_copies<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<RemoteCopy>> {
        let sql = sql.replace("{COLUMNS}", COLUMNS);
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(p, row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}
