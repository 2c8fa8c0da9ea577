//! `strata verify`: everything that can disagree is compared. Per event: the archive's
//! SHA-256, its sidecars, its tar entries against its manifest against the catalog
//! (every member once in each, at the same place), and every member's frames against
//! its seek table and hashes. Per repository: the catalog's own integrity, archives and
//! files the catalog does not know (orphans), events whose archive is missing, and
//! modes that let other users read backups.

use crate::archive::{reader, scan, writer::sha256_file};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::model::{Event, Member};
use crate::ops::{layout, sidecars};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Checks one readable event's archive; returns one line per problem (empty when sound).
pub fn event(repo: &Path, store: &dyn Store, ev: &Event, members: &[Member]) -> Vec<String> {
    let mut problems = Vec::new();
    let path = repo.join(&ev.file);
    match sha256_file(&path) {
        Ok(sha) if Some(&sha) == ev.sha256.as_ref() => {}
        Ok(_) => problems.push(format!(
            "archive {}: SHA-256 differs from the catalog; the file changed since event {} was written",
            ev.file, ev.id
        )),
        Err(e) => {
            problems.push(format!("archive {} is missing or unreadable: {e}", ev.file));
            return problems;
        }
    }
    problems.extend(sidecars::check(&path, ev, members.len()));
    problems.extend(agreement(&path, &ev.file, members));
    for m in members.iter().filter(|m| m.kind.has_content()) {
        if let Err(e) = member(store, &ev.file, m) {
            problems.push(e.to_string());
        }
    }
    problems
}

/// The tar entries, the manifest and the catalog must list the same members, once each.
fn agreement(path: &Path, archive: &str, members: &[Member]) -> Vec<String> {
    let (entries, manifest) = match scan::read(path) {
        Ok(x) => x,
        Err(e) => return vec![e.to_string()],
    };
    let mut out = Vec::new();
    let say = |out: &mut Vec<String>, m: String| out.push(format!("archive {archive}: {m}"));
    let mut by_name: HashMap<&str, &scan::TarEntry> = HashMap::new();
    for e in &entries {
        if by_name.insert(e.name.as_str(), e).is_some() {
            say(
                &mut out,
                format!("tar entry {} appears more than once", e.name),
            );
        }
    }
    let mut paths = HashSet::new();
    for m in &manifest.members {
        if !paths.insert(m.path.as_str()) {
            say(
                &mut out,
                format!("the manifest lists {} more than once", m.path),
            );
        }
        match by_name.get(m.tar_name().as_str()) {
            Some(e)
                if e.offset == m.offset
                    && (!m.kind.has_content() || e.size == m.compressed_size) => {}
            Some(_) => say(
                &mut out,
                format!(
                    "member {}: the manifest and the tar entry disagree on its place",
                    m.path
                ),
            ),
            None => say(
                &mut out,
                format!("member {} of the manifest has no tar entry", m.path),
            ),
        }
    }
    if entries.len() != manifest.members.len() {
        say(
            &mut out,
            format!(
                "{} tar entries, {} members in the manifest",
                entries.len(),
                manifest.members.len()
            ),
        );
    }
    let mut ours: Vec<&Member> = members.iter().collect();
    let mut theirs: Vec<&Member> = manifest.members.iter().collect();
    ours.sort_by(|a, b| a.path.cmp(&b.path));
    theirs.sort_by(|a, b| a.path.cmp(&b.path));
    if ours.len() != theirs.len() {
        say(
            &mut out,
            format!(
                "{} members in the catalog, {} in the manifest",
                ours.len(),
                theirs.len()
            ),
        );
    } else if let Some((a, _)) = ours.iter().zip(&theirs).find(|(a, b)| a != b) {
        say(
            &mut out,
            format!("member {}: the catalog and the manifest disagree", a.path),
        );
    }
    out
}

/// Checks `m`'s index against its seek table, decompresses every frame and compares
/// its hashes with the catalog's.
pub fn member(store: &dyn Store, archive: &str, m: &Member) -> Result<(), Error> {
    let read_at = crate::ops::read::bytes(store, archive);
    let mut r = reader::MemberReader::with_check(read_at, archive, m, reader::WholeCheck::both())?;
    std::io::copy(&mut r, &mut std::io::sink())
        .map_err(|e| reader::into_error(e, &format!("archive {archive}: member {}", m.path)))?;
    Ok(())
}

/// Problems of the repository as a whole: catalog integrity, orphans, missing archives
/// and loose modes.
pub fn repository(repo: &Path, cat: &Catalog) -> Result<Vec<String>> {
    let mut out: Vec<String> = cat
        .integrity()?
        .into_iter()
        .map(|l| format!("catalog {}: integrity check: {l}", cat.path().display()))
        .collect();
    let events: HashMap<i64, Event> = cat.events()?.into_iter().map(|e| (e.id, e)).collect();
    for f in layout::event_files(repo) {
        let owner = events.get(&f.id).filter(|e| e.file == f.archive());
        let fine = match owner {
            None => false,
            Some(e) if e.is_readable() => f.suffix != ".tar.partial",
            // A failed or interrupted event keeps at most its `.meta` and `.err`.
            Some(e) => e.completed == crate::model::RUNNING || matches!(f.suffix, ".meta" | ".err"),
        };
        if !fine {
            out.push(format!(
                "{}: orphan: no event of the catalog owns it (`strata reindex` rebuilds the catalog from archives)",
                f.rel
            ));
        }
    }
    let copied: HashSet<i64> = cat
        .copies()?
        .into_iter()
        .filter(|c| c.state == crate::catalog::CopyState::Done)
        .map(|c| c.event_id)
        .collect();
    for e in events.values().filter(|e| e.is_readable()) {
        // An event kept only on a target is checked there, not reported missing.
        if !repo.join(&e.file).is_file() && !copied.contains(&e.id) {
            out.push(format!("event {}: its archive {} is missing", e.id, e.file));
        }
    }
    for e in events
        .values()
        .filter(|e| e.completed == crate::model::DELETING)
    {
        out.push(format!(
            "event {}: its removal was interrupted (it is `deleting`, some of its files may remain); the next `strata backup`, `prune` or `forget` finishes it",
            e.id
        ));
    }
    out.extend(loose_modes(repo));
    out.sort();
    Ok(out)
}

/// Files and directories of the repository that users other than the owner can use.
fn loose_modes(repo: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(repo)
        .max_depth(3)
        .into_iter()
        .flatten()
    {
        let Ok(md) = e.metadata() else { continue };
        if md.permissions().mode() & 0o077 != 0 && !md.file_type().is_symlink() {
            out.push(format!(
                "{}: mode {:o} lets other users in; strata keeps backups owner-only (chmod -R go-rwx {})",
                e.path().display(),
                md.permissions().mode() & 0o7777,
                repo.display()
            ));
        }
    }
    out
}
