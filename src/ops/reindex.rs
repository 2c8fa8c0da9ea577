//! `strata reindex`: rebuilds the catalog from the archives and their manifests alone.
//! The new catalog is built beside the old one and renamed over it, so a failure
//! part-way leaves the old catalog in place.

use crate::archive::{scan, writer::sha256_file};
use crate::catalog::{Catalog, FILE_NAME};
use crate::error::{IoContext, Result};
use crate::model::COMPLETE;
use crate::ops::lock::RepoLock;
use std::path::{Path, PathBuf};

/// Archive files (`YYYY/MM/*.tar`) of the repository, relative paths, sorted.
pub fn archives(repo: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(repo)
        .min_depth(3)
        .max_depth(3)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "tar"))
        .filter_map(|e| {
            e.path()
                .strip_prefix(repo)
                .ok()
                .and_then(|p| p.to_str())
                .map(String::from)
        })
        .collect();
    out.sort();
    out
}

/// Rebuilds the catalog; returns the number of events found.
pub fn run(repo: &Path) -> Result<usize> {
    let _lock = RepoLock::acquire(repo)?;
    let tmp: PathBuf = repo.join(format!("{FILE_NAME}.reindex"));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", tmp.display()));
    }
    let mut events = Vec::new();
    for rel in archives(repo) {
        let path = repo.join(&rel);
        let manifest = scan::read_manifest(&path)?;
        let mut ev = manifest.event;
        ev.file = rel.clone();
        ev.completed = COMPLETE;
        ev.bytes = std::fs::metadata(&path)
            .ctx(|| format!("cannot stat {}", path.display()))?
            .len();
        let sidecar = path.with_extension("tar.sha256");
        ev.sha256 = Some(match std::fs::read_to_string(&sidecar) {
            Ok(s) if s.len() >= 64 => s[..64].to_string(),
            _ => sha256_file(&path)?,
        });
        events.push((ev, manifest.members));
    }
    events.sort_by_key(|(ev, _)| ev.id);
    {
        let mut cat = Catalog::open_file(&tmp)?;
        for (ev, members) in &events {
            cat.insert_event(ev, members)?;
        }
    }
    let dest = repo.join(FILE_NAME);
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", dest.display()));
    }
    std::fs::rename(&tmp, &dest).ctx(|| format!("cannot replace {}", dest.display()))?;
    Ok(events.len())
}
