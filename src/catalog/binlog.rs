//! `binlog_ranges`: per event and mysql source, the binlog position of its snapshot and
//! the range of binary log it captured, copied out of `events.info` when the event is
//! stored. It is what lets `strata list --pitr`, `list` and `load --until` stay fast at
//! a hundred thousand events: the chain is walked in SQL, not by parsing every event's
//! info.

use super::Catalog;
use crate::error::Result;
use crate::model::Event;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;

/// One row per source that noted a binlog position or range in `info`, with `joins`
/// computed, and the event's `binlog_only` flag; then the next event's `joins`, which
/// may have changed (reindex inserts in any order).
pub(super) fn insert(
    conn: &Connection,
    event_id: i64,
    info: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    let mut sources: Vec<&str> = info
        .keys()
        .filter_map(|k| {
            k.strip_suffix(".binlog_file")
                .or_else(|| k.strip_suffix(".binlog_to"))
        })
        .collect();
    sources.dedup();
    let mut only = false;
    for s in &sources {
        let get = |k: &str| info.get(&format!("{s}.{k}"));
        let snapshot = match (get("binlog_file"), get("binlog_position")) {
            (Some(f), Some(p)) => Some(format!("{f}:{p}")),
            _ => None,
        };
        let binlog_only = get("binlog_only").is_some_and(|v| v == "true");
        only |= binlog_only;
        conn.execute(
            "INSERT OR REPLACE INTO binlog_ranges
                 (event_id, source, snapshot, from_pos, to_pos, gap, binlog_only)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                event_id,
                s,
                snapshot,
                get("binlog_from"),
                get("binlog_to"),
                get("binlog_gap"),
                binlog_only,
            ],
        )?;
    }
    conn.execute(
        "UPDATE events SET binlog_only = ?2 WHERE id = ?1",
        params![event_id, only],
    )?;
    for s in &sources {
        refresh(conn, s, event_id)?;
        if let Some(next) = neighbour(conn, s, event_id, true)? {
            refresh(conn, s, next)?;
        }
    }
    Ok(())
}

/// Readable events with a snapshot position in `source`'s chain, as SQL.
const CHAIN: &str = "FROM binlog_ranges r JOIN events e ON e.id = r.event_id
     WHERE r.source = ?1 AND +e.completed IN (0, 3) AND r.snapshot IS NOT NULL";

/// The chain's event after (`next`) or before `id`.
fn neighbour(
    conn: &Connection,
    source: &str,
    id: i64,
    next: bool,
) -> rusqlite::Result<Option<i64>> {
    let sql = if next {
        format!("SELECT r.event_id {CHAIN} AND r.event_id > ?2 ORDER BY r.event_id LIMIT 1")
    } else {
        format!("SELECT r.event_id {CHAIN} AND r.event_id < ?2 ORDER BY r.event_id DESC LIMIT 1")
    };
    conn.prepare_cached(&sql)?
        .query_row(params![source, id], |r| r.get(0))
        .optional()
}

/// Recomputes whether event `id`'s capture continues exactly where the chain's event
/// before it stopped.
fn refresh(conn: &Connection, source: &str, id: i64) -> rusqlite::Result<()> {
    let before = neighbour(conn, source, id, false)?;
    conn.execute(
        "UPDATE binlog_ranges SET joins = COALESCE(gap IS NULL AND from_pos =
             (SELECT to_pos FROM binlog_ranges WHERE source = ?1 AND event_id = ?3), 0)
         WHERE source = ?1 AND event_id = ?2",
        params![source, id, before],
    )?;
    Ok(())
}

/// The sources whose chains event `id` is in.
pub(super) fn sources_of(conn: &Connection, id: i64) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached("SELECT source FROM binlog_ranges WHERE event_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect()
}

/// After event `id` left the chains of `sources` (deleted, being deleted): the next
/// event of each may join differently now.
pub(super) fn left(conn: &Connection, sources: &[String], id: i64) -> rusqlite::Result<()> {
    for s in sources {
        if let Some(next) = neighbour(conn, s, id, true)? {
            refresh(conn, s, next)?;
        }
    }
    Ok(())
}

/// Fills `binlog_ranges` from the info of every event (schema upgrade).
pub(super) fn backfill(conn: &Connection) -> rusqlite::Result<()> {
    let mut st = conn.prepare("SELECT id, info FROM events ORDER BY id")?;
    let rows: Vec<(i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, info) in rows {
        let info: BTreeMap<String, String> = serde_json::from_str(&info).unwrap_or_default();
        insert(conn, id, &info)?;
    }
    Ok(())
}

/// An event of a source's binlog chain, as `strata list --pitr` walks it: whether its
/// capture continues the previous readable event's exactly, and whether it is a
/// backup that can be loaded (not binlog-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: i64,
    pub start_time: i64,
    pub joins: bool,
    pub binlog_only: bool,
    pub gap: Option<String>,
}

impl Catalog {
    /// The sources that captured binlogs in any event.
    pub fn binlog_sources(&self) -> Result<Vec<String>> {
        self.strings(
            "SELECT DISTINCT source FROM binlog_ranges WHERE to_pos IS NOT NULL ORDER BY 1",
            [],
        )
    }

    /// The links of `source`'s chain (readable events with a snapshot position), oldest
    /// first, leaving out those in the middle of a run: only the events that do not
    /// join the one before, the event before each of those, the first backup after a
    /// binlog-only event that does not join (nothing before it can be loaded), and the
    /// last. A few index probes per window, whatever the number of events.
    pub fn binlog_links(&self, source: &str) -> Result<Vec<Link>> {
        let err = |e| self.err(e);
        let link = |r: &rusqlite::Row| {
            Ok(Link {
                id: r.get(0)?,
                start_time: r.get(1)?,
                joins: r.get(2)?,
                binlog_only: r.get(3)?,
                gap: r.get(4)?,
            })
        };
        const COLS: &str = "SELECT r.event_id, e.start_time, r.joins, r.binlog_only, r.gap";
        let breaks: Vec<Link> = self
            .conn
            .prepare_cached(&format!(
                "{COLS} {} AND NOT r.joins ORDER BY r.event_id",
                CHAIN.replace(
                    "binlog_ranges r",
                    "binlog_ranges r INDEXED BY binlog_ranges_breaks"
                )
            ))
            .and_then(|mut st| st.query_map([source], link)?.collect())
            .map_err(err)?;
        let one = |sql: &str, id: i64| -> Result<Option<Link>> {
            self.conn
                .prepare_cached(&format!("{COLS} {CHAIN} {sql} LIMIT 1"))
                .and_then(|mut st| st.query_row(params![source, id], link).optional())
                .map_err(err)
        };
        let before = |id| one("AND r.event_id < ?2 ORDER BY r.event_id DESC", id);
        let next_backup = |id| {
            one(
                "AND r.event_id > ?2 AND NOT r.binlog_only ORDER BY r.event_id",
                id,
            )
        };
        let mut out: Vec<Link> = Vec::new();
        for b in breaks {
            out.extend(before(b.id)?);
            if b.binlog_only {
                out.extend(next_backup(b.id)?);
            }
            out.push(b);
        }
        out.extend(before(i64::MAX)?);
        out.sort_by_key(|l| l.id);
        out.dedup_by_key(|l| l.id);
        Ok(out)
    }

    /// Where the newest readable event of each source left the binlog, as the notes
    /// `<source>.binlog_file` and `<source>.binlog_position`: where the next capture
    /// starts. A probe per source, however many events there are.
    pub fn latest_snapshots(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        // The sources by a skip scan of the primary key: one probe per source, not a
        // pass over every range.
        let sources = self.strings(
            "WITH RECURSIVE s(x) AS (
                 SELECT MIN(source) FROM binlog_ranges
                 UNION ALL
                 SELECT (SELECT MIN(source) FROM binlog_ranges WHERE source > s.x) FROM s
                 WHERE s.x IS NOT NULL)
             SELECT x FROM s WHERE x IS NOT NULL",
            [],
        )?;
        for s in sources {
            let Some((_, snapshot)) = self.latest_snapshot(&s)? else {
                continue;
            };
            if let Some((file, pos)) = snapshot.rsplit_once(':') {
                out.insert(format!("{s}.binlog_file"), file.to_string());
                out.insert(format!("{s}.binlog_position"), pos.to_string());
            }
        }
        Ok(out)
    }

    /// The newest readable event of `source`'s chain and its snapshot (`FILE:POS`).
    pub fn latest_snapshot(&self, source: &str) -> Result<Option<(i64, String)>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT r.event_id, r.snapshot {CHAIN} ORDER BY r.event_id DESC LIMIT 1"
            ))
            .and_then(|mut st| {
                st.query_row([source], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// The readable events of `source`'s chain with ids in `(after, through]`, oldest
    /// first.
    pub fn binlog_events(&self, source: &str, after: i64, through: i64) -> Result<Vec<Event>> {
        self.query_events(
            &format!(
                "SELECT {} FROM events WHERE +completed IN (0, 3) AND id > ?2 AND id <= ?3
                 AND id IN (SELECT event_id FROM binlog_ranges WHERE source = ?1 AND snapshot IS NOT NULL)
                 ORDER BY id",
                super::events::COLUMNS
            ),
            params![source, after, through],
        )
    }
}

/// A row of `strata list`: one event, or a run of consecutive binlog-only events that
/// completed cleanly (`binlog`), which a year of `binlog --follow` makes by the
/// hundred thousand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub first: i64,
    pub last: i64,
    pub count: u64,
    pub bytes: u64,
    pub binlog: bool,
}

impl Catalog {
    /// Every event in id order, runs of clean binlog-only events folded into one row:
    /// the other events come from a partial index, and each run between two of them is
    /// counted over a range of ids.
    pub fn list_runs(&self) -> Result<Vec<Run>> {
        let err = |e| self.err(e);
        let listed: Vec<(i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id, bytes FROM events
                 WHERE NOT binlog_only OR completed <> 0 OR warnings <> 0 ORDER BY id",
            )
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(err)?;
        // Count and size by the covering index; the ends by two seeks (MIN and MAX in
        // the same pass would cost twice as much).
        let mut between = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM events WHERE id > ?1 AND id < ?2",
            )
            .map_err(err)?;
        let end = |sql: &str, after: i64, before: i64| -> Result<i64> {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut st| st.query_row([after, before], |r| r.get(0)))
                .map_err(err)
        };
        let mut out = Vec::new();
        let mut run = |after: i64, before: i64, out: &mut Vec<Run>| -> Result<()> {
            let (count, bytes): (i64, i64) = between
                .query_row([after, before], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?;
            if count > 0 {
                out.push(Run {
                    first: end(
                        "SELECT id FROM events WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT 1",
                        after,
                        before,
                    )?,
                    last: end(
                        "SELECT id FROM events WHERE id > ?1 AND id < ?2 ORDER BY id DESC LIMIT 1",
                        after,
                        before,
                    )?,
                    count: count as u64,
                    bytes: bytes as u64,
                    binlog: true,
                });
            }
            Ok(())
        };
        let mut after = i64::MIN;
        for (id, bytes) in listed {
            run(after, id, &mut out)?;
            out.push(Run {
                first: id,
                last: id,
                count: 1,
                bytes: bytes as u64,
                binlog: false,
            });
            after = id;
        }
        run(after, i64::MAX, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, COMPLETE};

    fn event(id: i64, from: &str, to: &str, only: bool) -> Event {
        let mut e = Event {
            id,
            start_time: id * 100,
            end_time: Some(id * 100),
            completed: COMPLETE,
            file: format!("2026/01/h_2026-01-01_{id}.tar"),
            ..Default::default()
        };
        let (file, pos) = to.rsplit_once(':').unwrap();
        for (k, v) in [
            ("binlog_file", file),
            ("binlog_position", pos),
            ("binlog_from", from),
            ("binlog_to", to),
        ] {
            e.info.insert(format!("db.{k}"), v.to_string());
        }
        if only {
            e.info.insert("db.binlog_only".into(), "true".into());
        }
        e
    }

    #[test]
    fn the_chain_is_kept_whatever_the_order_of_inserts_and_a_removed_event_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalog::open(dir.path()).unwrap();
        let evs = [
            event(1, "b.1:4", "b.1:10", false),
            event(2, "b.1:10", "b.1:20", true),
            event(3, "b.1:20", "b.2:5", true),
            event(4, "b.2:5", "b.2:9", false),
            event(5, "b.2:9", "b.2:30", true),
        ];
        for i in [2, 0, 4, 1, 3] {
            cat.insert_event(&evs[i], &[]).unwrap();
        }
        let ids = |links: Vec<Link>| links.iter().map(|l| (l.id, l.joins)).collect::<Vec<_>>();
        assert_eq!(
            ids(cat.binlog_links("db").unwrap()),
            vec![(1, false), (5, true)]
        );
        let runs: Vec<(i64, i64, bool)> = cat
            .list_runs()
            .unwrap()
            .iter()
            .map(|r| (r.first, r.last, r.binlog))
            .collect();
        assert_eq!(
            runs,
            vec![(1, 1, false), (2, 3, true), (4, 4, false), (5, 5, true)]
        );

        cat.mark_deleting(3).unwrap();
        assert_eq!(
            ids(cat.binlog_links("db").unwrap()),
            vec![(1, false), (2, true), (4, false), (5, true)]
        );
        cat.delete_event(3).unwrap();
        assert_eq!(
            ids(cat.binlog_links("db").unwrap()),
            vec![(1, false), (2, true), (4, false), (5, true)]
        );
        assert_eq!(cat.binlog_sources().unwrap(), vec!["db".to_string()]);
        let at = cat.latest_snapshots().unwrap();
        assert_eq!(
            (
                at["db.binlog_file"].as_str(),
                at["db.binlog_position"].as_str()
            ),
            ("b.2", "30")
        );
        let chain: Vec<i64> = cat
            .binlog_events("db", 1, 5)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(chain, vec![2, 4, 5]);
    }
}
