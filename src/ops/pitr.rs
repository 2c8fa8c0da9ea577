//! The moments a repository can restore a MySQL source to (`strata list --pitr`), from
//! the catalog alone: each readable event is a base at its snapshot, and the binlogs it
//! captured (`binlogs = true`) reach back to the previous event's snapshot. A chain of
//! events whose captures join end to end is one window, from the first event's snapshot
//! to the last one's; a capture that starts with a gap (a log purged before strata
//! copied it) ends the window before it.

use crate::catalog::{Catalog, Link};
use crate::error::Result;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Any moment from `from` to `to` can be restored.
    Window,
    /// No moment strictly between `from` and `to` can be restored.
    Gap,
}

#[derive(Debug, Serialize)]
pub struct Span {
    pub source: String,
    pub kind: Kind,
    /// Unix seconds.
    pub from: i64,
    pub to: i64,
    /// The first and last events of the span (bases and captures); a gap's event is
    /// the one whose capture does not join.
    pub first_event: i64,
    pub last_event: i64,
    /// For a gap: the binlog range that was lost.
    pub detail: Option<String>,
}

impl Span {
    pub fn holds(&self, id: i64) -> bool {
        self.first_event <= id && id <= self.last_event
    }
}

/// The windows and gaps of every source that captured binlogs, oldest first.
pub fn all(cat: &Catalog) -> Result<Vec<Span>> {
    let mut out = Vec::new();
    for s in cat.binlog_sources()? {
        out.extend(spans(&cat.binlog_links(&s)?, &s));
    }
    Ok(out)
}

/// The windows and gaps of `source` from its chain's links, oldest first. A window
/// starts at a backup (a binlog-only event cannot be loaded): after a capture that does
/// not join, the gap lasts until the next backup.
pub fn spans(links: &[Link], source: &str) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut open: Option<Span> = None;
    // A gap whose end is not known yet: no backup since the break.
    let mut gap: Option<Span> = None;
    let window = |l: &Link| Span {
        source: source.to_string(),
        kind: Kind::Window,
        from: l.start_time,
        to: l.start_time,
        first_event: l.id,
        last_event: l.id,
        detail: None,
    };
    for l in links {
        if l.joins {
            match (open.as_mut(), gap.as_mut()) {
                (Some(w), _) => {
                    w.to = l.start_time;
                    w.last_event = l.id;
                }
                (None, Some(g)) if !l.binlog_only => {
                    g.to = l.start_time;
                    out.extend(gap.take());
                    open = Some(window(l));
                }
                (None, Some(_)) => {}
                (None, None) if !l.binlog_only => open = Some(window(l)),
                (None, None) => {}
            }
            continue;
        }
        // A capture that does not join the one before: the window (if any) ends.
        let end = open.as_ref().map(|w| w.to);
        out.extend(open.take());
        if let Some(from) = end.or(gap.as_ref().map(|g| g.from)) {
            let mut g = gap.take().unwrap_or(Span {
                source: source.to_string(),
                kind: Kind::Gap,
                from,
                to: l.start_time,
                first_event: l.id,
                last_event: l.id,
                detail: None,
            });
            g.to = l.start_time;
            g.detail = g.detail.or_else(|| {
                l.gap.clone().or_else(|| {
                    Some(format!(
                        "event {} captured no binlogs joining the previous event",
                        l.id
                    ))
                })
            });
            if l.binlog_only {
                gap = Some(g);
                continue;
            }
            out.push(g);
        }
        if !l.binlog_only {
            open = Some(window(l));
        }
    }
    out.extend(open);
    out.extend(gap.map(|mut g| {
        let lost = g.detail.take().unwrap_or_default();
        g.detail = Some(format!(
            "{lost}; no backup since: run `strata backup` to restore past it"
        ));
        g
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(id: i64, at: i64, joins: bool, gap: Option<&str>) -> Link {
        Link {
            id,
            start_time: at,
            joins,
            binlog_only: false,
            gap: gap.map(str::to_string),
        }
    }

    fn binlogs(id: i64, at: i64, joins: bool, gap: Option<&str>) -> Link {
        Link {
            binlog_only: true,
            ..link(id, at, joins, gap)
        }
    }

    #[test]
    fn after_a_gap_in_binlog_only_events_nothing_is_restorable_until_a_backup() {
        let links = vec![
            link(1, 100, false, None),
            binlogs(5, 500, true, None),
            binlogs(6, 600, false, Some("b.3:9 .. b.5:4")),
            binlogs(9, 900, true, None),
            link(10, 1000, true, None),
            binlogs(12, 1200, true, None),
            binlogs(13, 1300, false, None),
        ];
        let got: Vec<(Kind, i64, i64, i64, i64)> = spans(&links, "db")
            .into_iter()
            .map(|s| (s.kind, s.from, s.to, s.first_event, s.last_event))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Window, 100, 500, 1, 5),
                (Kind::Gap, 500, 1000, 6, 6),
                (Kind::Window, 1000, 1200, 10, 12),
                (Kind::Gap, 1200, 1300, 13, 13),
            ]
        );
        assert!(spans(&links, "db")[3]
            .detail
            .as_deref()
            .unwrap()
            .ends_with("no backup since: run `strata backup` to restore past it"));
        // Binlogs alone, before any backup: nothing to restore.
        assert!(spans(
            &[binlogs(1, 1, false, None), binlogs(2, 2, true, None)],
            "db"
        )
        .is_empty());
    }

    #[test]
    fn chained_captures_make_a_window_and_a_gap_splits_it() {
        let links = vec![
            link(1, 100, false, None),
            link(3, 300, true, None),
            link(4, 400, false, Some("b.2:50 .. b.3:4")),
            link(5, 500, true, None),
            link(6, 600, false, None),
        ];
        let s = spans(&links, "db");
        let got: Vec<(&Kind, i64, i64, i64, i64)> = s
            .iter()
            .map(|s| (&s.kind, s.from, s.to, s.first_event, s.last_event))
            .collect();
        assert_eq!(
            got,
            vec![
                (&Kind::Window, 100, 300, 1, 3),
                (&Kind::Gap, 300, 400, 4, 4),
                (&Kind::Window, 400, 500, 4, 5),
                (&Kind::Gap, 500, 600, 6, 6),
                (&Kind::Window, 600, 600, 6, 6),
            ]
        );
        assert_eq!(s[1].detail.as_deref(), Some("b.2:50 .. b.3:4"));
        assert!(s[3].detail.as_deref().unwrap().contains("event 6"));
        assert!(s[0].holds(2) && !s[0].holds(4));
    }
}
