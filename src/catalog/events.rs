//! Event rows: created running (-999), then completed or failed, never both.

use super::Catalog;
use crate::error::Result;
use crate::model::{Event, COMPLETE, PARTIAL, RUNNING};
use rusqlite::{params, OptionalExtension, Row};

pub(super) const COLUMNS: &str =
    "id, host, start_time, end_time, completed, bytes, file, sha256, error, warnings, info";

fn row(r: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        host: r.get(1)?,
        start_time: r.get(2)?,
        end_time: r.get(3)?,
        completed: r.get(4)?,
        bytes: r.get::<_, i64>(5)? as u64,
        file: r.get(6)?,
        sha256: r.get(7)?,
        error: r.get(8)?,
        warnings: r.get::<_, i64>(9)? as u64,
        info: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
    })
}

fn raise_last_id(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO counters (name, value) VALUES ('last_event_id', ?1)
         ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
        [id],
    )
    .map(|_| ())
}

impl Catalog {
    /// Inserts a running event and returns its id: greater than every id the catalog
    /// ever handed out and than `floor` (the highest id found among the repository's
    /// files), so that no id, and no archive name, is ever reused.
    /// The archive paths of the events with ids from `id` on (a range of the primary key).
    pub fn files_from(&self, id: i64) -> Result<std::collections::HashSet<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT file FROM events WHERE id >= ?1")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    pub fn begin_event(&mut self, host: &str, start_time: i64, floor: i64) -> Result<i64> {
        let path = self.path.clone();
        let plain = |e: rusqlite::Error| Self::plain(&path, e);
        let tx = self.conn.transaction().map_err(plain)?;
        let id: i64 = tx
            .query_row(
                "SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0),
                            COALESCE((SELECT value FROM counters WHERE name = 'last_event_id'), 0),
                            ?1) + 1",
                [floor],
                |r| r.get(0),
            )
            .map_err(plain)?;
        tx.execute(
            "INSERT INTO events (id, host, start_time, completed) VALUES (?1, ?2, ?3, ?4)",
            params![id, host, start_time, RUNNING],
        )
        .map_err(plain)?;
        tx.execute(
            "INSERT OR REPLACE INTO counters (name, value) VALUES ('last_event_id', ?1)",
            [id],
        )
        .map_err(plain)?;
        tx.commit().map_err(plain)?;
        Ok(id)
    }

    /// `PRAGMA integrity_check` and foreign keys: one line per problem, empty when sound.
    pub fn integrity(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self.strings("PRAGMA integrity_check", [])?;
        out.retain(|l| l != "ok");
        let fk = self.strings("SELECT \"table\" FROM pragma_foreign_key_check", [])?;
        out.extend(
            fk.into_iter()
                .map(|t| format!("a row of {t} refers to a missing parent")),
        );
        Ok(out)
    }

    pub fn set_event_file(&self, id: i64, file: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE events SET file = ?2 WHERE id = ?1",
                params![id, file],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks an event as being deleted: from now on it is not readable, and the next
    /// `prune` or `backup` finishes its removal.
    pub fn mark_deleting(&self, id: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE events SET completed = ?2 WHERE id = ?1",
                params![id, crate::model::DELETING],
            )
            .and_then(|_| super::binlog::sources_of(&self.conn, id))
            .and_then(|s| super::binlog::left(&self.conn, &s, id))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes an event's row with its members, frames and copies (its id stays used).
    pub fn delete_event(&self, id: i64) -> Result<()> {
        let sources = super::binlog::sources_of(&self.conn, id).map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM events WHERE id = ?1", [id])
            .and_then(|_| super::binlog::left(&self.conn, &sources, id))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks an event failed (or interrupted) with an error code and message.
    pub fn fail_event(
        &self,
        id: i64,
        code: i64,
        end_time: i64,
        error: &str,
        warnings: u64,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE events SET completed = ?2, end_time = ?3, error = ?4, warnings = ?5 WHERE id = ?1",
                params![id, code, end_time, error, warnings as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Stores an event's members and marks it complete, in one transaction.
    pub fn complete_event(
        &mut self,
        event: &Event,
        members: &[crate::model::Member],
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| Self::plain(&self.path, e))?;
        super::members::insert(&tx, event.id, members).map_err(|e| Self::plain(&self.path, e))?;
        tx.execute(
            "UPDATE events SET end_time = ?2, completed = ?3, bytes = ?4, file = ?5, sha256 = ?6,
                    error = ?9, warnings = ?7, info = ?8 WHERE id = ?1",
            params![
                event.id,
                event.end_time,
                if event.completed == PARTIAL {
                    PARTIAL
                } else {
                    COMPLETE
                },
                event.bytes as i64,
                event.file,
                event.sha256,
                event.warnings as i64,
                serde_json::to_string(&event.info).expect("info serialises"),
                event.error
            ],
        )
        .map_err(|e| Self::plain(&self.path, e))?;
        super::binlog::insert(&tx, event.id, &event.info)
            .map_err(|e| Self::plain(&self.path, e))?;
        tx.commit().map_err(|e| Self::plain(&self.path, e))?;
        Ok(())
    }

    /// Inserts an event as it is (reindex), with its members.
    pub fn insert_event(&mut self, event: &Event, members: &[crate::model::Member]) -> Result<()> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| Self::plain(&self.path, e))?;
        tx.execute(
            &format!(
                "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                event.id,
                event.host,
                event.start_time,
                event.end_time,
                event.completed,
                event.bytes as i64,
                event.file,
                event.sha256,
                event.error,
                event.warnings as i64,
                serde_json::to_string(&event.info).expect("info serialises")
            ],
        )
        .map_err(|e| Self::plain(&self.path, e))?;
        super::members::insert(&tx, event.id, members).map_err(|e| Self::plain(&self.path, e))?;
        super::binlog::insert(&tx, event.id, &event.info)
            .map_err(|e| Self::plain(&self.path, e))?;
        raise_last_id(&tx, event.id).map_err(|e| Self::plain(&self.path, e))?;
        tx.commit().map_err(|e| Self::plain(&self.path, e))?;
        Ok(())
    }

    /// Makes sure no id up to `id` is handed out again (ids seen on disk, even in
    /// archives `reindex` could not read).
    pub fn reserve_ids_up_to(&self, id: i64) -> Result<()> {
        raise_last_id(&self.conn, id).map_err(|e| self.err(e))
    }

    fn plain(path: &std::path::Path, e: impl std::fmt::Display) -> crate::error::Error {
        crate::error::Error::Catalog {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    pub fn event(&self, id: i64) -> Result<Option<Event>> {
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE id = ?1"))
            .and_then(|mut st| st.query_row([id], row).optional())
            .map_err(|e| self.err(e))
    }

    /// All events, oldest first.
    pub fn events(&self) -> Result<Vec<Event>> {
        self.query_events(&format!("SELECT {COLUMNS} FROM events ORDER BY id"), [])
    }

    /// The `n`-th newest readable (complete or partial) event, and how many there are
    /// when there is none: `latest~n` by one index walk, not a read of every event.
    pub fn latest_readable(&self, n: usize) -> Result<std::result::Result<Event, i64>> {
        let found = self.query_events(
            &format!(
                "SELECT {COLUMNS} FROM events WHERE completed IN (?1, ?2) ORDER BY id DESC LIMIT 1 OFFSET ?3"
            ),
            rusqlite::params![crate::model::COMPLETE, crate::model::PARTIAL, n as i64],
        )?;
        if let Some(ev) = found.into_iter().next() {
            return Ok(Ok(ev));
        }
        let count: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM events WHERE completed IN (?1, ?2)",
                [crate::model::COMPLETE, crate::model::PARTIAL],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(Err(count))
    }

    /// Events still marked running.
    pub fn running_events(&self) -> Result<Vec<Event>> {
        self.events_in_state(RUNNING)
    }

    /// Events whose `completed` is `state`, by the index on it.
    pub fn events_in_state(&self, state: i64) -> Result<Vec<Event>> {
        self.query_events(
            &format!("SELECT {COLUMNS} FROM events WHERE completed = ?1 ORDER BY id"),
            [state],
        )
    }

    /// Distinct `YYYY` of complete events' archive paths. A skip scan over the index
    /// on `file`: one probe per year, not a pass over every event.
    pub fn complete_years(&self) -> Result<Vec<String>> {
        self.distinct_prefixes("", 4)
    }

    /// Distinct `MM` of complete events under `YYYY/` (one probe per month).
    pub fn complete_months(&self, year: &str) -> Result<Vec<String>> {
        Ok(self
            .distinct_prefixes(&format!("{year}/"), 7)?
            .into_iter()
            .map(|p| p[5..].to_string())
            .collect())
    }

    /// The distinct first `len` characters of complete events' `file` that start with
    /// `under` (`file`s are `YYYY/MM/...`, so `len` 4 gives years, 7 months).
    fn distinct_prefixes(&self, under: &str, len: usize) -> Result<Vec<String>> {
        // After prefix P, the next one is at or after P || '0' ('/' < '0' and every
        // character that follows a prefix is '/').
        self.strings(
            "WITH RECURSIVE p(v) AS (
                 SELECT (SELECT substr(MIN(file), 1, ?2) FROM events
                         WHERE file >= ?1 AND file < ?1 || '~' AND +completed IN (0, 3))
                 UNION ALL
                 SELECT (SELECT substr(MIN(file), 1, ?2) FROM events
                         WHERE file >= p.v || '0' AND file < ?1 || '~' AND +completed IN (0, 3))
                 FROM p WHERE p.v IS NOT NULL)
             SELECT v FROM p WHERE v IS NOT NULL AND length(v) = ?2",
            rusqlite::params![under, len as i64],
        )
    }

    /// Ids of the complete events whose archive lies under `YYYY/MM/`, oldest first.
    pub fn complete_ids_in(&self, year: &str, month: &str) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id FROM events WHERE file >= ?1 AND file < ?2 AND +completed IN (0, 3)
                 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(
                [format!("{year}/{month}/"), format!("{year}/{month}0")],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<i64>>>()
            .map_err(|e| self.err(e))
    }

    /// An event's start time and archive path, without the rest of its row.
    pub fn event_brief(&self, id: i64) -> Result<(i64, String)> {
        self.conn
            .prepare_cached("SELECT start_time, file FROM events WHERE id = ?1")
            .and_then(|mut st| st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(|e| self.err(e))
    }

    /// The newest complete event.
    pub fn latest_complete(&self) -> Result<Option<Event>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM events WHERE +completed IN (0, 3) ORDER BY id DESC LIMIT 1"
                ),
                [],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(super) fn strings<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(p, |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.err(e))
    }

    pub(super) fn query_events<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<Event>> {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(p, row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}
