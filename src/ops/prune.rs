//! `strata prune` and `strata forget`: removing events without ever letting the
//! catalog and the files disagree. An event is first marked `deleting` in the catalog
//! (so no reader serves it any more), then its files go (`.tar.sha256` first, so the
//! archive never looks whole without its checksum), then its row. A process killed at
//! any point leaves `deleting` events that the next `prune` or `backup` finishes. An
//! event with a proven copy on a target loses only its local files: it stays in the
//! catalog and is read from the target.

use super::{lock::RepoLock, retention};
use crate::catalog::{Catalog, CopyState};
use crate::error::{Error, Result};
use crate::model::{Event, KeepPolicy, DELETING, RUNNING};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The files of an event in the order they are removed.
const REMOVE_ORDER: [&str; 5] = [".tar.sha256", ".tar", ".tar.partial", ".meta", ".err"];

/// What prune decided for one event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub id: i64,
    pub start_time: i64,
    pub status: &'static str,
    pub keep: bool,
    /// Why: the rules that keep it, or why it goes.
    pub reasons: Vec<String>,
    /// Only the local files go: a target holds a proven copy.
    pub local_only: bool,
}

/// Test hook: `STRATA_CRASH_AT=prune:N` kills the process at the Nth step of a removal
/// (counting every catalog change and file removal), to prove every point recoverable.
fn step() {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst) + 1;
    super::backup::crash_point(&format!("prune:{n}"));
}

/// Events with a proven copy on some target.
fn copied(cat: &Catalog) -> Result<std::collections::HashSet<i64>> {
    Ok(cat
        .copies()?
        .into_iter()
        .filter(|c| c.state == CopyState::Done)
        .map(|c| c.event_id)
        .collect())
}

/// What `policy` keeps and removes among the catalog's events.
pub fn plan(repo: &Path, cat: &Catalog, policy: &KeepPolicy) -> Result<Vec<Decision>> {
    if policy.is_empty() {
        return Err(Error::NotFound(
            "the retention policy is empty and would remove every event; give at least one --keep-* option, or keep_* keys under [retention]".into(),
        ));
    }
    let events = cat.events()?;
    let readable: Vec<retention::Dated> = events
        .iter()
        .filter(|e| e.is_readable())
        .map(|e| (e.id, e.start_time, e.binlog_only()))
        .collect();
    let kept = retention::apply_events(policy, &readable);
    let newest = readable.iter().map(|e| e.0).max().unwrap_or(0);
    let copied = copied(cat)?;
    let mut out = Vec::new();
    for ev in &events {
        let (keep, reasons): (bool, Vec<String>) = match ev.completed {
            RUNNING => (true, vec!["running".into()]),
            DELETING => (false, vec!["an earlier removal was interrupted".into()]),
            _ if ev.is_readable() => match kept.get(&ev.id) {
                Some(rules) => (true, rules.iter().map(|r| r.to_string()).collect()),
                None => (false, vec!["no rule keeps it".into()]),
            },
            _ if ev.id < newest => (
                false,
                vec![format!(
                    "{}, older than the newest complete event",
                    ev.status()
                )],
            ),
            _ => (
                true,
                vec![format!("{}, newer than every complete event", ev.status())],
            ),
        };
        let local_only = !keep && ev.is_readable() && copied.contains(&ev.id);
        // An event already kept only on a target has nothing left here to remove.
        if keep || !local_only || repo.join(&ev.file).exists() {
            out.push(Decision {
                id: ev.id,
                start_time: ev.start_time,
                status: ev.status(),
                keep,
                reasons,
                local_only,
            });
        }
    }
    Ok(out)
}

/// Removes the local files of `ev`, in [`REMOVE_ORDER`].
fn remove_files(repo: &Path, ev: &Event) -> Result<()> {
    if ev.file.is_empty() {
        return Ok(());
    }
    let Some(stem) = super::layout::event_stem(&ev.file) else {
        tracing::warn!(
            "event {}: the catalog names {:?} as its archive, which is not a repository file; no file removed (check the catalog: `strata verify --all`)",
            ev.id,
            ev.file
        );
        return Ok(());
    };
    for suffix in REMOVE_ORDER {
        let p = repo.join(format!("{stem}{suffix}"));
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("cannot remove {}", p.display()), e))
            }
            _ => step(),
        }
    }
    Ok(())
}

/// Removes one event: only its local files when `local_only` (a target holds it),
/// else the whole event, crash-safely.
pub fn remove(repo: &Path, cat: &Catalog, ev: &Event, local_only: bool) -> Result<()> {
    if local_only {
        return remove_files(repo, ev);
    }
    if ev.completed != DELETING {
        cat.mark_deleting(ev.id)?;
        step();
    }
    remove_files(repo, ev)?;
    cat.delete_event(ev.id)?;
    step();
    Ok(())
}

/// Finishes the removals a killed run left (events marked `deleting`).
pub fn finish_interrupted(repo: &Path, cat: &Catalog) -> Result<Vec<i64>> {
    let mut done = Vec::new();
    for ev in cat.events_in_state(DELETING)? {
        remove(repo, cat, &ev, false)?;
        done.push(ev.id);
    }
    Ok(done)
}

/// Applies `policy` (only reports, with `dry_run`); returns every decision.
pub fn run(repo: &Path, policy: &KeepPolicy, dry_run: bool) -> Result<Vec<Decision>> {
    if dry_run {
        // A dry run changes nothing, ever: no lock file, no finished removal.
        return plan(repo, &Catalog::read_untouched(repo)?, policy);
    }
    let _lock = RepoLock::acquire(repo)?;
    let cat = Catalog::open(repo)?;
    finish_interrupted(repo, &cat)?;
    let decisions = plan(repo, &cat, policy)?;
    if !dry_run {
        for d in decisions.iter().filter(|d| !d.keep) {
            if let Some(ev) = cat.event(d.id)? {
                remove(repo, &cat, &ev, d.local_only)?;
            }
        }
    }
    Ok(decisions)
}

/// `strata forget ID...`: removes the given events (not a running one).
pub fn forget(repo: &Path, ids: &[i64], dry_run: bool) -> Result<Vec<Event>> {
    let _lock = if dry_run {
        None
    } else {
        Some(RepoLock::acquire(repo)?)
    };
    let cat = if dry_run {
        Catalog::read_untouched(repo)?
    } else {
        Catalog::open(repo)?
    };
    let mut events = Vec::new();
    for &id in ids {
        let ev = cat.event(id)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no event {id} in the catalog; `strata list` shows the events"
            ))
        })?;
        if ev.completed == RUNNING {
            return Err(Error::NotFound(format!(
                "event {id} is running; it cannot be forgotten while its backup runs"
            )));
        }
        events.push(ev);
    }
    if !dry_run {
        let copied = copied(&cat)?;
        for ev in &events {
            remove(repo, &cat, ev, ev.is_readable() && copied.contains(&ev.id))?;
        }
    }
    Ok(events)
}
