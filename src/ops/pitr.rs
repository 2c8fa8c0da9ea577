//! The moments a repository can restore a MySQL source to (`strata list --pitr`), from
//! the catalog alone: each readable event is a base at its snapshot, and the binlogs it
//! captured (`binlogs = true`) reach back to the previous event's snapshot. A chain of
//! events whose captures join end to end is one window, from the first event's snapshot
//! to the last one's; a capture that starts with a gap (a log purged before strata
//! copied it) ends the window before it.

use crate::model::Event;
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
    /// The events that make the span (bases and captures), in order.
    pub events: Vec<i64>,
    /// For a gap: the binlog range that was lost.
    pub detail: Option<String>,
}

/// The mysql sources that captured binlogs in any of `events`.
pub fn sources(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = events
        .iter()
        .flat_map(|e| e.info.keys())
        .filter_map(|k| k.strip_suffix(".binlog_to"))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The windows and gaps of `source`, oldest first.
pub fn spans(events: &[Event], source: &str) -> Vec<Span> {
    let key = |e: &Event, k: &str| e.info.get(&format!("{source}.{k}")).cloned();
    let mut readable: Vec<&Event> = events
        .iter()
        .filter(|e| e.is_readable() && key(e, "binlog_file").is_some())
        .collect();
    readable.sort_by_key(|e| e.id);
    let mut out: Vec<Span> = Vec::new();
    let mut open: Option<Span> = None;
    let mut last_to: Option<String> = None;
    for e in readable {
        let from = key(e, "binlog_from");
        let joins = from.is_some() && from == last_to && key(e, "binlog_gap").is_none();
        match open.as_mut() {
            Some(w) if joins => {
                w.to = e.start_time;
                w.events.push(e.id);
            }
            _ => {
                if let Some(w) = open.take() {
                    let end = w.to;
                    out.push(w);
                    out.push(Span {
                        source: source.to_string(),
                        kind: Kind::Gap,
                        from: end,
                        to: e.start_time,
                        events: vec![e.id],
                        detail: key(e, "binlog_gap").or_else(|| {
                            Some(format!(
                                "event {} captured no binlogs joining the previous event",
                                e.id
                            ))
                        }),
                    });
                }
                open = Some(Span {
                    source: source.to_string(),
                    kind: Kind::Window,
                    from: e.start_time,
                    to: e.start_time,
                    events: vec![e.id],
                    detail: None,
                });
            }
        }
        last_to = key(e, "binlog_to");
    }
    out.extend(open);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: i64, at: i64, info: &[(&str, &str)]) -> Event {
        let mut e = Event {
            id,
            start_time: at,
            end_time: Some(at),
            completed: crate::model::COMPLETE,
            ..Default::default()
        };
        for (k, v) in info {
            e.info.insert(format!("db.{k}"), v.to_string());
        }
        e
    }

    #[test]
    fn chained_captures_make_a_window_and_a_gap_splits_it() {
        let evs = vec![
            ev(
                1,
                100,
                &[
                    ("binlog_file", "b.1"),
                    ("binlog_from", "b.1:4"),
                    ("binlog_to", "b.1:4"),
                ],
            ),
            ev(
                2,
                200,
                &[
                    ("binlog_file", "b.1"),
                    ("binlog_from", "b.1:4"),
                    ("binlog_to", "b.1:90"),
                ],
            ),
            ev(
                3,
                300,
                &[
                    ("binlog_file", "b.2"),
                    ("binlog_from", "b.1:90"),
                    ("binlog_to", "b.2:50"),
                ],
            ),
            ev(
                4,
                400,
                &[
                    ("binlog_file", "b.4"),
                    ("binlog_from", "b.3:4"),
                    ("binlog_to", "b.4:7"),
                    ("binlog_gap", "b.2:50 .. b.3:4"),
                ],
            ),
            ev(
                5,
                500,
                &[
                    ("binlog_file", "b.4"),
                    ("binlog_from", "b.4:7"),
                    ("binlog_to", "b.4:9"),
                ],
            ),
        ];
        assert_eq!(sources(&evs), vec!["db".to_string()]);
        let s = spans(&evs, "db");
        let got: Vec<(&Kind, i64, i64, &[i64])> = s
            .iter()
            .map(|s| (&s.kind, s.from, s.to, s.events.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                (&Kind::Window, 100, 300, &[1, 2, 3][..]),
                (&Kind::Gap, 300, 400, &[4][..]),
                (&Kind::Window, 400, 500, &[4, 5][..]),
            ]
        );
        assert_eq!(s[1].detail.as_deref(), Some("b.2:50 .. b.3:4"));
    }
}
