//! `strata reindex`: rebuilds the catalog from the archives and their manifests alone.
//! Every archive is read whole (its SHA-256 computed, compared with its sidecar); one
//! that cannot be read, whose manifest is damaged, that is not a strata archive or that
//! repeats an event id already found is skipped and reported, and the rest rebuilt.
//! The new catalog is built beside the old one and renamed over it, so a failure
//! part-way leaves the old catalog in place.

use crate::archive::{scan, writer::sha256_file};
use crate::catalog::{Catalog, FILE_NAME};
use crate::error::{IoContext, Result};
use crate::model::{Event, Member, COMPLETE, PARTIAL};
use crate::ops::layout;
use crate::ops::lock::RepoLock;
use crate::store::TargetSpec;
use std::path::{Path, PathBuf};

mod remote;

/// What a reindex did.
#[derive(Debug, Default)]
pub struct Reindexed {
    pub events: usize,
    /// `<archive>: why`, one per archive left out.
    pub skipped: Vec<String>,
}

/// The event a manifest describes, as archive `rel` of `bytes` bytes with SHA-256
/// `sha`: its own name must carry its id; it is complete (or partial) since its archive
/// is whole. Shared by local and remote reindexing.
fn event_of(
    manifest: crate::format::manifest::Manifest,
    rel: &str,
    bytes: u64,
    sha: String,
) -> std::result::Result<(Event, Vec<Member>), String> {
    let mut ev = manifest.event;
    if layout::archive_id(rel) != Some(ev.id) {
        return Err(format!(
            "its manifest is for event {}, its name says otherwise",
            ev.id
        ));
    }
    ev.file = rel.to_string();
    ev.bytes = bytes;
    ev.sha256 = Some(sha);
    if ev.completed != PARTIAL {
        ev.completed = COMPLETE;
    }
    Ok((ev, manifest.members))
}

/// The event of archive `rel`, from its manifest, or why it cannot be used.
fn load(repo: &Path, rel: &str) -> std::result::Result<(Event, Vec<Member>), String> {
    let path = repo.join(rel);
    let manifest = scan::read_manifest(&path).map_err(|e| e.to_string())?;
    let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
    let sha = sha256_file(&path).map_err(|e| e.to_string())?;
    if let Ok(s) = std::fs::read_to_string(layout::sidecar(&path, "tar.sha256")) {
        if s.get(..64) != Some(sha.as_str()) {
            return Err(format!(
                "its SHA-256 differs from its .tar.sha256: the archive or its sidecar is damaged ({} kept as it is; `strata verify` after fixing)",
                path.display()
            ));
        }
    }
    let (ev, members) = event_of(manifest, rel, bytes, sha)?;
    crate::ops::sidecars::complete(&path, &ev, &members).map_err(|e| e.to_string())?;
    Ok((ev, members))
}

/// Rebuilds the catalog from the local archives.
pub fn run(repo: &Path) -> Result<Reindexed> {
    rebuild(repo, None, &[])
}

/// Rebuilds the catalog from the local archives and those on a target (all its hosts,
/// or `host`'s), reading each remote archive's manifest by ranged reads. Events only on
/// the target become remote-only events, read there; all found there are recorded as
/// copied, so nothing is uploaded twice.
/// The other configured targets (`others`) are listed too: what they hold of these
/// events is recorded as copied there.
pub fn from_target(
    repo: &Path,
    spec: &TargetSpec,
    others: &[TargetSpec],
    host: Option<&str>,
) -> Result<Reindexed> {
    rebuild(repo, Some((spec, host)), others)
}

/// Local archives: each event once, the archive under its own name winning.
fn local_events(repo: &Path, out: &mut Reindexed) -> Vec<(Event, Vec<Member>)> {
    let mut events: Vec<(Event, Vec<Member>)> = Vec::new();
    for rel in layout::archives(repo) {
        match load(repo, &rel) {
            Ok((ev, members)) => match events.iter_mut().find(|(e, _)| e.id == ev.id) {
                // Two archives of one event: the one under the name its run gave it wins.
                Some(kept) => {
                    let own =
                        |e: &Event| e.file == layout::archive_name(&e.host, e.start_time, e.id);
                    let loser = if own(&ev) && !own(&kept.0) {
                        std::mem::replace(kept, (ev, members)).0
                    } else {
                        ev
                    };
                    out.skipped.push(format!(
                        "{}: a copy of event {} (kept {})",
                        loser.file, loser.id, kept.0.file
                    ));
                }
                None => events.push((ev, members)),
            },
            Err(why) => out.skipped.push(format!("{rel}: {why}")),
        }
    }
    events
}

fn rebuild(
    repo: &Path,
    target: Option<(&TargetSpec, Option<&str>)>,
    others: &[TargetSpec],
) -> Result<Reindexed> {
    std::fs::create_dir_all(repo).ctx(|| format!("cannot create {}", repo.display()))?;
    let _lock = RepoLock::acquire(repo)?;
    let tmp: PathBuf = repo.join(format!("{FILE_NAME}.reindex"));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", tmp.display()));
    }
    let mut out = Reindexed::default();
    let mut events = local_events(repo, &mut out);
    let mut copies = Vec::new();
    let mut floor = layout::max_id_on_disk(repo);
    if let Some((spec, host)) = target {
        let found = remote::events(spec, host, &mut out.skipped)?;
        floor = floor.max(found.max_id);
        for (ev, members, copy) in found.events {
            match events.iter().find(|(e, _)| e.id == ev.id) {
                Some((local, _)) if local.file == ev.file => copies.push(copy),
                Some((local, _)) => out.skipped.push(format!(
                    "{} on target {}: event {} is {} here",
                    ev.file, spec.name, ev.id, local.file
                )),
                None => {
                    copies.push(copy);
                    events.push((ev, members));
                }
            }
        }
    }
    events.sort_by_key(|(ev, _)| ev.id);
    let known: Vec<Event> = events.iter().map(|(e, _)| e.clone()).collect();
    for other in others {
        match remote::copies_on(other, &known) {
            Ok(found) => copies.extend(found),
            Err(e) => out.skipped.push(format!(
                "the copies on target {}: it could not be listed ({e}); `strata upload` checks it",
                other.name
            )),
        }
    }
    {
        let mut cat = Catalog::open_file(&tmp)?;
        cat.reserve_ids_up_to(floor)?;
        for (ev, members) in &events {
            if let Err(e) = cat.insert_event(ev, members) {
                out.skipped.push(format!("{}: {e}", ev.file));
            } else {
                out.events += 1;
            }
        }
        for c in &copies {
            if events.iter().any(|(e, _)| e.id == c.event_id) {
                cat.set_copy(c)?;
            }
        }
    }
    let dest = repo.join(FILE_NAME);
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", dest.display()));
    }
    std::fs::rename(&tmp, &dest).ctx(|| format!("cannot replace {}", dest.display()))?;
    Ok(out)
}
