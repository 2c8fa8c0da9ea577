//! `prune` and `forget`: retention from the command line or `[retention]`.

use super::{fmt, Env};
use crate::error::{exit, Error, IoContext, Result};
use crate::model::{KeepPolicy, Span};
use crate::ops::prune;
use std::io::Write;

/// restic's `--keep-*` options.
#[derive(clap::Args, Debug, Default)]
pub struct KeepArgs {
    /// Keep the N newest events.
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep the newest event of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    keep_hourly: Option<u32>,
    /// Keep the newest event of each of the last N days that have one.
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest event of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Keep the newest event of each of the last N months that have one.
    #[arg(long, value_name = "N")]
    keep_monthly: Option<u32>,
    /// Keep the newest event of each of the last N years that have one.
    #[arg(long, value_name = "N")]
    keep_yearly: Option<u32>,
    /// Keep every event within this span before the newest (`30d`, `1y2m`, `12h`).
    #[arg(long, value_name = "SPAN", value_parser = parse_span)]
    keep_within: Option<Span>,
}

fn parse_span(s: &str) -> std::result::Result<Span, String> {
    Span::parse(s).ok_or_else(|| format!("{s:?} is not a span; write e.g. 30d, 1y2m or 12h"))
}

impl KeepArgs {
    fn policy(&self) -> Option<KeepPolicy> {
        let p = KeepPolicy {
            last: self.keep_last.unwrap_or(0),
            hourly: self.keep_hourly.unwrap_or(0),
            daily: self.keep_daily.unwrap_or(0),
            weekly: self.keep_weekly.unwrap_or(0),
            monthly: self.keep_monthly.unwrap_or(0),
            yearly: self.keep_yearly.unwrap_or(0),
            within: self.keep_within,
        };
        let given = self.keep_last.is_some()
            || self.keep_hourly.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
            || self.keep_within.is_some();
        given.then_some(p)
    }
}

pub fn prune(env: &Env, keep: &KeepArgs, dry_run: bool, as_json: bool) -> Result<u8> {
    env.check_catalog()?;
    let policy = match (keep.policy(), env.config.as_ref().and_then(|c| c.retention.clone())) {
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return Err(Error::NotFound(
                "no retention policy: give --keep-last, --keep-daily, ... or keep_* keys under [retention] in the config".into(),
            ))
        }
    };
    let decisions = prune::run(&env.repo, &policy, dry_run)?;
    let mut out = std::io::stdout().lock();
    if as_json {
        let v = serde_json::json!({ "dry_run": dry_run, "events": decisions });
        writeln!(out, "{}", serde_json::to_string_pretty(&v).expect("json"))
            .ctx(|| "stdout".into())?;
        return Ok(exit::OK);
    }
    let gone = decisions.iter().filter(|d| !d.keep).count();
    if dry_run || !env.quiet {
        let mut rows = vec![vec![
            "ID".into(),
            "DATE".into(),
            "STATUS".into(),
            "ACTION".into(),
            "WHY".into(),
        ]];
        for d in &decisions {
            let action = match (d.keep, d.local_only, dry_run) {
                (true, _, _) => "keep",
                (false, true, true) => "would remove locally",
                (false, true, false) => "removed locally",
                (false, false, true) => "would remove",
                (false, false, false) => "removed",
            };
            rows.push(vec![
                d.id.to_string(),
                fmt::date(d.start_time),
                d.status.into(),
                action.into(),
                d.reasons.join(", "),
            ]);
        }
        if dry_run || gone > 0 {
            fmt::table(&mut out, &rows).ctx(|| "stdout".into())?;
        }
    }
    tracing::info!("{gone} events removed, {} kept", decisions.len() - gone);
    Ok(exit::OK)
}

pub fn forget(env: &Env, ids: &[i64], dry_run: bool) -> Result<u8> {
    env.check_catalog()?;
    let events = prune::forget(&env.repo, ids, dry_run)?;
    for ev in &events {
        let what = if dry_run { "would forget" } else { "forgot" };
        tracing::info!("{what} event {} ({})", ev.id, ev.file);
        if dry_run {
            println!("event {} ({}) would be removed", ev.id, ev.file);
        }
    }
    Ok(exit::OK)
}
