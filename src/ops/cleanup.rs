//! Leftovers of runs that died, found by the next run under the repository lock (so
//! nothing here can belong to a live process). A run killed after its archive was
//! renamed into place had finished writing it: the event is completed from the
//! archive's own manifest (as `reindex` would), so that no order of crash, cleanup and
//! `reindex` disagrees. Any other dead run is marked interrupted and its files removed,
//! with stray `.partial` files and `.spool-<id>` directories.

use crate::archive::{scan, writer::sha256_file};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::model::{Event, INTERRUPTED};
use crate::ops::{layout, sidecars};
use std::path::Path;

/// Completes `ev` from its renamed archive, if that archive is whole and its own.
fn roll_forward(repo: &Path, cat: &mut Catalog, ev: &Event) -> Result<bool> {
    let tar = repo.join(&ev.file);
    if ev.file.is_empty() || !tar.is_file() {
        return Ok(false);
    }
    let manifest = match scan::read_manifest(&tar) {
        Ok(m) if m.event.id == ev.id => m,
        _ => return Ok(false),
    };
    let mut done = manifest.event;
    done.file = ev.file.clone();
    done.bytes = std::fs::metadata(&tar).map(|m| m.len()).unwrap_or(0);
    done.sha256 = Some(sha256_file(&tar)?);
    sidecars::complete(&tar, &done, &manifest.members)?;
    cat.complete_event(&done, &manifest.members)?;
    Ok(true)
}

/// Removes every file event `ev` left (archive, partial, sidecars).
fn remove_files(repo: &Path, ev: &Event) {
    let Some(stem) = layout::event_stem(&ev.file) else {
        return;
    };
    let stem = repo.join(stem);
    for suffix in layout::SUFFIXES {
        let mut p = stem.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(&p);
    }
}

/// Finishes or marks interrupted the dead running events and removes stray partials
/// and spool directories. Returns a line per thing done.
pub fn leftovers(repo: &Path, cat: &mut Catalog) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let now = chrono::Utc::now().timestamp();
    for ev in cat.running_events()? {
        match roll_forward(repo, cat, &ev) {
            Ok(true) => {
                done.push(format!(
                    "event {} was killed after its archive was written; completed from the archive",
                    ev.id
                ));
                continue;
            }
            Ok(false) => {}
            Err(e) => done.push(format!("event {}: cannot complete it: {e}", ev.id)),
        }
        remove_files(repo, &ev);
        cat.fail_event(
            ev.id,
            INTERRUPTED,
            now,
            "the backup process died before the event completed (found by the next run)",
            ev.warnings,
        )?;
        done.push(format!(
            "event {} was interrupted; marked so and its files removed",
            ev.id
        ));
    }
    for id in super::prune::finish_interrupted(repo, cat)? {
        done.push(format!("event {id}: finished its interrupted removal"));
    }
    // Leftovers are only where runs write: the top (spools) and the recent months.
    let top = walkdir::WalkDir::new(repo).min_depth(1).max_depth(1);
    let months = layout::recent_months(repo).into_iter().map(|m| {
        walkdir::WalkDir::new(repo.join(m))
            .min_depth(1)
            .max_depth(1)
    });
    for entry in std::iter::once(top)
        .chain(months)
        .flat_map(|w| w.into_iter().flatten())
    {
        let name = entry.file_name().to_string_lossy();
        let in_month = entry.path().parent() != Some(repo);
        let stray = (entry.file_type().is_file()
            && (name.ends_with(".partial") || (in_month && name.ends_with(".tmp"))))
            || (!in_month && entry.file_type().is_dir() && name.starts_with(".spool-"));
        if stray {
            let p = entry.path();
            let r = if entry.file_type().is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
            match r {
                Ok(()) => done.push(format!("removed leftover {}", p.display())),
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot remove leftover {}", p.display()),
                        e,
                    ))
                }
            }
        }
    }
    Ok(done)
}
