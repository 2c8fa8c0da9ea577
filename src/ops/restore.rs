//! `strata restore`: members of an event back to disk under one directory, with mode,
//! mtime and (as root) owner. It never writes outside that directory: member paths
//! with `..` or a leading `/` are refused, and so is any path that would pass through
//! a symlink.

use crate::catalog::Catalog;
use crate::error::{Error, IoContext, Result};
use crate::model::{FileMeta, Member, MemberKind};
use crate::store::Store;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Members of `event_id` selected by `paths` (exact path or directory prefix; all when
/// empty). Every requested path must match something.
pub fn select(cat: &Catalog, event_id: i64, paths: &[String]) -> Result<Vec<Member>> {
    let all = cat.members_with_frames(event_id)?;
    if paths.is_empty() {
        return Ok(all);
    }
    let wanted: Vec<&str> = paths.iter().map(|p| p.trim_matches('/')).collect();
    for w in &wanted {
        let hit = all
            .iter()
            .any(|m| m.path == *w || m.path.starts_with(&format!("{w}/")) || w.is_empty());
        if !hit {
            return Err(Error::NotFound(format!(
                "no member {w} in event {event_id}; `strata show {event_id}` lists them"
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|m| {
            wanted
                .iter()
                .any(|w| w.is_empty() || m.path == *w || m.path.starts_with(&format!("{w}/")))
        })
        .collect())
}

/// `dir/<member path>`, refusing anything that could leave `dir`.
fn destination(dir: &Path, member: &str) -> Result<PathBuf> {
    let rel = Path::new(member);
    let ok = !member.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        return Err(Error::Other(format!(
            "member path {member:?} would leave the restore directory; refused"
        )));
    }
    let dest = dir.join(rel);
    // No existing ancestor inside `dir` may be a symlink.
    let mut p = dir.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len() - 1] {
        p.push(c);
        if let Ok(md) = std::fs::symlink_metadata(&p) {
            if md.file_type().is_symlink() {
                return Err(Error::Other(format!(
                    "{} is a symlink; restoring {member} through it would leave the restore directory; refused",
                    p.display()
                )));
            }
        }
    }
    Ok(dest)
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL")
}

/// Owner (as root only) and mtime, without following symlinks; mode for non-links.
fn apply_meta(path: &Path, meta: &FileMeta, kind: MemberKind) -> Result<()> {
    let c = cpath(path);
    // SAFETY: geteuid(2) reads the process's effective uid; it cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // Best effort, as tar does: a file whose owner cannot be set keeps root's.
        let _ = std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid));
    }
    if kind != MemberKind::Symlink {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode & 0o7777))
            .ctx(|| format!("cannot set the mode of {}", path.display()))?;
    }
    let ts = libc::timespec {
        tv_sec: meta.mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    // SAFETY: `c` is a NUL-terminated path that outlives the call and `times` holds the
    // two timespecs utimensat(2) reads; nothing is retained after it returns.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(Error::io(
            format!("cannot set the mtime of {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Removes whatever is at `dest` unless it is a directory.
fn clear(dest: &Path) {
    if let Ok(md) = std::fs::symlink_metadata(dest) {
        if !md.is_dir() {
            let _ = std::fs::remove_file(dest);
        }
    }
}

/// Writes a content member to `dest` through a temporary name in the same directory,
/// renamed into place only when every byte has been read and the member's hashes
/// matched; on any error nothing is left behind.
fn write_content(store: &dyn Store, archive: &str, m: &Member, dest: &Path) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".strata-restore-")
        .tempfile_in(dir)
        .ctx(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let mut r = crate::ops::read::member(store, archive, m)?;
    std::io::copy(&mut r, tmp.as_file_mut()).map_err(|e| match e.kind() {
        std::io::ErrorKind::Other => Error::Other(e.to_string()),
        _ => Error::io(format!("cannot write {}", dest.display()), e),
    })?;
    clear(dest);
    tmp.persist_noclobber(dest)
        .map_err(|e| Error::io(format!("cannot create {}", dest.display()), e.error))?;
    Ok(())
}

/// What a restore did: members written, and one line per member it could not restore.
#[derive(Debug, Default)]
pub struct Restored {
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

/// Restores one member under `dir`; directories are returned for their metadata.
fn one(
    store: &dyn Store,
    archive: &str,
    m: &Member,
    dir: &Path,
    dirs: &mut Vec<(PathBuf, FileMeta)>,
) -> Result<()> {
    let dest = destination(dir, &m.path)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).ctx(|| format!("cannot create {}", parent.display()))?;
    }
    match m.kind {
        MemberKind::Dir => {
            clear(&dest);
            std::fs::create_dir_all(&dest).ctx(|| format!("cannot create {}", dest.display()))?;
            dirs.push((dest, m.meta));
        }
        MemberKind::Symlink => {
            clear(&dest);
            let target = m.link_target.as_deref().unwrap_or_default();
            std::os::unix::fs::symlink(target, &dest)
                .ctx(|| format!("cannot create the symlink {}", dest.display()))?;
            apply_meta(&dest, &m.meta, m.kind)?;
        }
        _ => {
            write_content(store, archive, m, &dest)?;
            apply_meta(&dest, &m.meta, m.kind)?;
        }
    }
    Ok(())
}

/// Restores `members` (of the archive `archive`) under `dir`. A member that cannot be
/// restored (refused path, corrupt data) is reported and the others still restored.
pub fn restore(
    store: &dyn Store,
    archive: &str,
    members: &[Member],
    dir: &Path,
) -> Result<Restored> {
    std::fs::create_dir_all(dir).ctx(|| format!("cannot create {}", dir.display()))?;
    let mut dirs = Vec::new();
    let mut out = Restored::default();
    for m in members {
        match one(store, archive, m, dir, &mut dirs) {
            Ok(()) => out.done.push(m.path.clone()),
            Err(e) => out.failed.push(format!("{}: {e}", m.path)),
        }
    }
    // Directories last, deepest first: creating their children changed their mtime.
    for (dest, meta) in dirs.iter().rev() {
        if let Err(e) = apply_meta(dest, meta, MemberKind::Dir) {
            out.failed.push(e.to_string());
        }
    }
    Ok(out)
}
