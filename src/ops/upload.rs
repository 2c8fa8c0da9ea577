//! Copies complete events to the targets and keeps the catalog's `copies` rows true:
//! an event is `done` on a target only once every one of its files is there and the
//! archive's size and SHA-256, as the target holds them, equal the catalog's. The
//! `.tar.sha256` goes last, so a target never shows a complete-looking event whose
//! archive is missing. Also applies each target's `keep` rules, crash-safely: a copy is
//! marked `deleting` before its files go and forgotten after.

use super::{layout, retention};
use crate::catalog::{Catalog, CopyState, RemoteCopy};
use crate::error::{Error, Result};
use crate::model::Event;
use crate::store::{with_retries, Store, Stored, TargetSpec};
use std::path::Path;

/// The files of an event, in upload order: the archive first, its checksum last.
pub const UPLOAD_ORDER: [&str; 4] = ["tar", "meta", "err", "tar.sha256"];
/// The files of an event, in deletion order: the checksum first.
pub const DELETE_ORDER: [&str; 4] = ["tar.sha256", "tar", "meta", "err"];

/// What happened on one target.
#[derive(Debug, Default)]
pub struct TargetReport {
    pub target: String,
    pub uploaded: Vec<i64>,
    /// Event id and why its copy failed.
    pub failed: Vec<(i64, String)>,
    /// Events removed from the target by its `keep` rules.
    pub deleted: Vec<i64>,
    /// Events that cannot be uploaded (their local archive is gone).
    pub missing: Vec<i64>,
}

/// `YYYY/MM/x_..._7.tar` with extension `ext` instead of `tar`.
pub fn with_ext(rel: &str, ext: &str) -> String {
    format!("{}.{ext}", rel.strip_suffix(".tar").unwrap_or(rel))
}

/// The targets `only` selects (all when `None`), or an error naming the known ones.
pub fn select<'a>(targets: &'a [TargetSpec], only: Option<&str>) -> Result<Vec<&'a TargetSpec>> {
    match only {
        None => Ok(targets.iter().collect()),
        Some(name) => match targets.iter().find(|t| t.name == name) {
            Some(t) => Ok(vec![t]),
            None => Err(Error::NotFound(format!(
                "no target named {name:?} in the config (it names: {})",
                if targets.is_empty() {
                    "none".to_string()
                } else {
                    targets
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))),
        },
    }
}

/// Uploads whatever is not yet `done` on each selected target and applies its `keep`.
pub fn run(repo: &Path, targets: &[TargetSpec], only: Option<&str>) -> Result<Vec<TargetReport>> {
    let selected = select(targets, only)?;
    let _lock = super::lock::RepoLock::acquire(repo)?;
    let cat = Catalog::open(repo)?;
    let mut reports = Vec::new();
    for spec in selected {
        let store = crate::store::open(spec)?;
        reports.push(sync_target(repo, &cat, spec, &*store)?);
    }
    Ok(reports)
}

fn sync_target(
    repo: &Path,
    cat: &Catalog,
    spec: &TargetSpec,
    store: &dyn Store,
) -> Result<TargetReport> {
    let mut report = TargetReport {
        target: spec.name.clone(),
        ..Default::default()
    };
    let copies: std::collections::HashMap<i64, RemoteCopy> = cat
        .copies()?
        .into_iter()
        .filter(|c| c.target == spec.name)
        .map(|c| (c.event_id, c))
        .collect();
    let events = cat.events()?;
    // Deletions a crash interrupted come first.
    for ev in &events {
        if copies
            .get(&ev.id)
            .is_some_and(|c| c.state == CopyState::Deleting)
        {
            delete_copy(cat, spec, store, ev)?;
            report.deleted.push(ev.id);
        }
    }
    let foreign = match foreign_ids(spec, store, &events, &copies) {
        Ok(f) => f,
        Err(e) => {
            // The target cannot even be listed: the first copy due fails with why,
            // as an upload would (the next would fail the same way).
            let due = events.iter().filter(|e| e.is_readable()).find(|e| {
                !matches!(
                    copies.get(&e.id).map(|c| c.state),
                    Some(CopyState::Done | CopyState::Deleting | CopyState::Removed)
                )
            });
            if let Some(ev) = due {
                let mut c = RemoteCopy::new(ev.id, &spec.name, CopyState::Failed);
                c.error = Some(e.to_string());
                cat.set_copy(&c)?;
                report.failed.push((ev.id, e.to_string()));
            }
            return Ok(report);
        }
    };
    if let Some(why) = foreign {
        // Nothing goes to a target whose copies this repository would be confused with.
        for ev in events.iter().filter(|e| e.is_readable()) {
            let mut c = RemoteCopy::new(ev.id, &spec.name, CopyState::Failed);
            c.error = Some(why.clone());
            cat.set_copy(&c)?;
            report.failed.push((ev.id, why.clone()));
        }
        return Ok(report);
    }
    for ev in events.iter().filter(|e| e.is_readable()) {
        if let Some(CopyState::Done | CopyState::Deleting | CopyState::Removed) =
            copies.get(&ev.id).map(|c| c.state)
        {
            continue;
        }
        if !repo.join(&ev.file).exists() {
            report.missing.push(ev.id);
            continue;
        }
        cat.set_copy(&RemoteCopy::new(ev.id, &spec.name, CopyState::Pending))?;
        match upload_event(repo, spec, store, ev) {
            Ok(stored) => {
                let mut c = RemoteCopy::new(ev.id, &spec.name, CopyState::Done);
                c.size = Some(stored.size);
                c.sha256 = Some(stored.sha256);
                cat.set_copy(&c)?;
                report.uploaded.push(ev.id);
            }
            Err(e) => {
                let mut c = RemoteCopy::new(ev.id, &spec.name, CopyState::Failed);
                c.error = Some(e.to_string());
                cat.set_copy(&c)?;
                let store_trouble = matches!(e, Error::Target { .. });
                report.failed.push((ev.id, e.to_string()));
                if store_trouble {
                    // The target itself is failing: the next events would fail the same way.
                    break;
                }
            }
        }
    }
    if let Some(policy) = &spec.keep {
        report.deleted.extend(apply_keep(cat, spec, store, policy)?);
    }
    Ok(report)
}

/// Whether the target holds, for this repository's hosts, archives with the ids of this
/// repository's events under other names (another machine's, or a lost repository's):
/// checked while the repository has made no copy there yet, so that a new machine
/// never mixes its events into another's history. The message says what to do.
fn foreign_ids(
    spec: &TargetSpec,
    store: &dyn Store,
    events: &[Event],
    copies: &std::collections::HashMap<i64, RemoteCopy>,
) -> Result<Option<String>> {
    let known = copies.values().any(|c| {
        matches!(
            c.state,
            CopyState::Done | CopyState::Deleting | CopyState::Removed
        )
    });
    if known || events.is_empty() {
        return Ok(None);
    }
    let ours: std::collections::HashMap<i64, &str> =
        events.iter().map(|e| (e.id, e.file.as_str())).collect();
    let mut clash: Vec<String> = Vec::new();
    for o in host_objects(spec, store, events)? {
        let Some(rel) = layout::local_name(&o.name) else {
            continue;
        };
        let Some(id) = layout::archive_id(rel) else {
            continue;
        };
        if ours.get(&id).is_some_and(|file| *file != rel) {
            clash.push(rel.to_string());
        }
    }
    if clash.is_empty() {
        return Ok(None);
    }
    clash.sort();
    Ok(Some(format!(
        "target {} already holds {} archive(s) with this repository's event ids under other names ({}{}), made by another machine or a lost repository of the same host; nothing was uploaded there and nothing on it changed: run `strata reindex --from {}` first (or give this machine another `host`)",
        spec.name,
        clash.len(),
        clash[0],
        if clash.len() > 1 { ", ..." } else { "" },
        spec.name
    )))
}

/// Every object a target holds under the hosts of `events` (`<host>/...`).
pub fn host_objects(
    spec: &TargetSpec,
    store: &dyn Store,
    events: &[Event],
) -> Result<Vec<crate::store::Object>> {
    let mut hosts: Vec<&str> = events
        .iter()
        .filter_map(|e| layout::host_of(&e.file))
        .collect();
    hosts.sort();
    hosts.dedup();
    let mut out = Vec::new();
    for host in hosts {
        // Listed without the trailing `/` (which some servers' request signing
        // mishandles in a query); other hosts sharing the prefix are left out here.
        let dir = format!("{host}/");
        let listed = with_retries(spec.retries, || store.list(host))?;
        out.extend(listed.into_iter().filter(|o| o.name.starts_with(&dir)));
    }
    Ok(out)
}

/// Puts every file of `ev` on the target, the archive first and its checksum last.
pub fn upload_event(
    repo: &Path,
    spec: &TargetSpec,
    store: &dyn Store,
    ev: &Event,
) -> Result<Stored> {
    let mut archive = None;
    for ext in UPLOAD_ORDER {
        let rel = with_ext(&ev.file, ext);
        let path = repo.join(&rel);
        if ext != "tar" && !path.exists() {
            continue;
        }
        let remote = layout::remote_name(&rel);
        let stored = with_retries(spec.retries, || store.put(&remote, &path))?;
        if ext == "tar" {
            if ev.sha256.as_deref() != Some(stored.sha256.as_str()) {
                let _ = store.delete(&remote);
                return Err(Error::Archive {
                    archive: ev.file.clone(),
                    message: "its SHA-256 differs from the catalog's, so it was not copied; run `strata verify` on it".into(),
                });
            }
            archive = Some(stored);
        }
    }
    Ok(archive.expect("the archive is uploaded first"))
}

/// Removes the files of `ev` from the target: recorded as `deleting` first, `removed`
/// once its files are gone.
fn delete_copy(cat: &Catalog, spec: &TargetSpec, store: &dyn Store, ev: &Event) -> Result<()> {
    cat.set_copy(&RemoteCopy::new(ev.id, &spec.name, CopyState::Deleting))?;
    for ext in DELETE_ORDER {
        let remote = layout::remote_name(&with_ext(&ev.file, ext));
        with_retries(spec.retries, || store.delete(&remote))?;
    }
    cat.set_copy(&RemoteCopy::new(ev.id, &spec.name, CopyState::Removed))
}

/// Deletes the copies the target's `keep` rules do not keep; returns their ids.
fn apply_keep(
    cat: &Catalog,
    spec: &TargetSpec,
    store: &dyn Store,
    policy: &crate::model::KeepPolicy,
) -> Result<Vec<i64>> {
    let done: std::collections::HashSet<i64> = cat
        .copies()?
        .into_iter()
        .filter(|c| c.target == spec.name && c.state == CopyState::Done)
        .map(|c| c.event_id)
        .collect();
    let events: Vec<Event> = cat
        .events()?
        .into_iter()
        .filter(|e| done.contains(&e.id))
        .collect();
    let dated: Vec<retention::Dated> = events
        .iter()
        .map(|e| (e.id, e.start_time, e.binlog_only()))
        .collect();
    let kept = retention::apply_events(policy, &dated);
    let mut deleted = Vec::new();
    for ev in events.iter().filter(|e| !kept.contains_key(&e.id)) {
        delete_copy(cat, spec, store, ev)?;
        deleted.push(ev.id);
    }
    Ok(deleted)
}
