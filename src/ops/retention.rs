//! Which events a [`KeepPolicy`] keeps, in restic's calendar sense: for each of the
//! hourly, daily, weekly, monthly and yearly rules, going from the newest event back,
//! the newest event of each period is kept until the rule's count is used up; `last`
//! keeps the newest N; `within` keeps everything up to a span before the newest event.
//! Pure logic over (id, start time) pairs, shared by local and per-target retention.

use crate::model::{KeepPolicy, Span};
use chrono::{DateTime, Datelike, Local, Months, TimeZone, Timelike};
use std::collections::BTreeMap;

/// The period an event time falls in, as a comparable number.
type PeriodKey = fn(DateTime<Local>) -> i64;

/// Event id -> the rules that keep it (`last`, `daily`, ...). Events absent are not kept.
pub type Kept = BTreeMap<i64, Vec<&'static str>>;

fn local(t: i64) -> DateTime<Local> {
    Local
        .timestamp_opt(t, 0)
        .single()
        .unwrap_or_else(Local::now)
}

fn minus(t: DateTime<Local>, s: Span) -> DateTime<Local> {
    let months = s.years * 12 + s.months;
    let t = t.checked_sub_months(Months::new(months)).unwrap_or(t);
    t - chrono::Duration::days(s.days as i64) - chrono::Duration::hours(s.hours as i64)
}

/// Applies `policy` to `events` (id, start time; any order).
pub fn apply(policy: &KeepPolicy, events: &[(i64, i64)]) -> Kept {
    let mut sorted = events.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut kept = Kept::new();
    let periods: [(&'static str, u32, PeriodKey); 5] = [
        ("hourly", policy.hourly, |t| {
            (t.year() as i64 * 1000 + t.ordinal() as i64) * 100 + t.hour() as i64
        }),
        ("daily", policy.daily, |t| {
            t.year() as i64 * 1000 + t.ordinal() as i64
        }),
        ("weekly", policy.weekly, |t| {
            let w = t.iso_week();
            w.year() as i64 * 100 + w.week() as i64
        }),
        ("monthly", policy.monthly, |t| {
            t.year() as i64 * 100 + t.month() as i64
        }),
        ("yearly", policy.yearly, |t| t.year() as i64),
    ];
    for (rule, count, key) in periods {
        let mut left = count;
        let mut last = None;
        for &(id, t) in &sorted {
            if left == 0 {
                break;
            }
            let k = key(local(t));
            if last != Some(k) {
                last = Some(k);
                left -= 1;
                kept.entry(id).or_default().push(rule);
            }
        }
    }
    for &(id, _) in sorted.iter().take(policy.last as usize) {
        kept.entry(id).or_default().push("last");
    }
    if let (Some(span), Some(&(_, newest))) = (policy.within, sorted.first()) {
        let since = minus(local(newest), span).timestamp();
        for &(id, t) in sorted.iter().filter(|(_, t)| *t >= since) {
            let _ = t;
            kept.entry(id).or_default().push("within");
        }
    }
    kept
}

/// An event for [`apply_events`]: id, start time, and whether it holds binlogs only.
pub type Dated = (i64, i64, bool);

/// Applies `policy` to the backups among `events`; a binlog-only event (made by
/// `strata binlog`) is not counted by the rules, and is kept when it comes after the
/// oldest backup kept, since recovering that backup to a later moment replays it
/// (`binlogs`). Without any backup, binlog-only events are all kept: they are the
/// only data there is.
pub fn apply_events(policy: &KeepPolicy, events: &[Dated]) -> Kept {
    let bases: Vec<(i64, i64)> = events
        .iter()
        .filter(|e| !e.2)
        .map(|&(id, t, _)| (id, t))
        .collect();
    let mut kept = apply(policy, &bases);
    let oldest = kept.keys().next().copied();
    for &(id, _, only) in events {
        if only && (bases.is_empty() || oldest.is_some_and(|o| id > o)) {
            kept.entry(id).or_default().push("binlogs");
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    #[test]
    fn binlog_events_are_kept_after_the_oldest_kept_backup_and_not_counted() {
        let policy = KeepPolicy {
            last: 2,
            ..Default::default()
        };
        // Backups 1, 4, 7; binlog-only events between them.
        let evs: Vec<Dated> = (1..=9).map(|i| (i, i * 100, i % 3 != 1)).collect();
        let kept = apply_events(&policy, &evs);
        assert_eq!(
            kept.keys().copied().collect::<Vec<_>>(),
            vec![4, 5, 6, 7, 8, 9]
        );
        assert_eq!(kept[&5], vec!["binlogs"]);
        assert_eq!(kept[&4], vec!["last"]);
        let only: Vec<Dated> = (1..=3).map(|i| (i, i, true)).collect();
        assert_eq!(apply_events(&policy, &only).len(), 3);
    }

    use super::*;

    fn hourly_events(n: i64) -> Vec<(i64, i64)> {
        let start = Local
            .with_ymd_and_hms(2026, 1, 1, 0, 30, 0)
            .unwrap()
            .timestamp();
        (0..n).map(|i| (i + 1, start + i * 3600)).collect()
    }

    #[test]
    fn last_keeps_the_newest() {
        let p = KeepPolicy {
            last: 3,
            ..Default::default()
        };
        let k = apply(&p, &hourly_events(10));
        assert_eq!(k.keys().copied().collect::<Vec<_>>(), vec![8, 9, 10]);
    }

    #[test]
    fn daily_keeps_the_newest_event_of_each_day() {
        let p = KeepPolicy {
            daily: 2,
            ..Default::default()
        };
        // 72 hourly events: three days; the last of day 3 and of day 2.
        let k = apply(&p, &hourly_events(72));
        assert_eq!(k.keys().copied().collect::<Vec<_>>(), vec![48, 72]);
    }

    #[test]
    fn within_keeps_a_span_before_the_newest() {
        let p = KeepPolicy {
            within: Span::parse("1d"),
            ..Default::default()
        };
        let k = apply(&p, &hourly_events(72));
        assert_eq!(k.len(), 25);
        assert!(k.contains_key(&48) && !k.contains_key(&47));
    }

    #[test]
    fn spans_parse_like_restic() {
        assert_eq!(
            Span::parse("1y2m3d4h"),
            Some(Span {
                years: 1,
                months: 2,
                days: 3,
                hours: 4
            })
        );
        assert_eq!(Span::parse("30d").map(|s| s.days), Some(30));
        assert_eq!(Span::parse("30"), None);
        assert_eq!(Span::parse("3w"), None);
    }
}
