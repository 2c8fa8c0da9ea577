//! `strata restore`: members of an event back to disk under one directory, with mode,
//! mtime and (as root) owner. It never writes outside that directory: member paths
//! with `..` or a leading `/` are refused, and so is any path that would pass through
//! a symlink.

use crate::catalog::Catalog;
use crate::error::{Error, IoContext, Result};
use crate::model::{FileMeta, Member, MemberKind};
use crate::ops::read::MemberReader;
use crate::store::Store;
use sha2::Digest;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
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
    if unsafe { libc::geteuid() } == 0 {
        unsafe { libc::lchown(c.as_ptr(), meta.uid, meta.gid) };
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

/// Writes a content member to `dest`, checking its SHA-256 on the way.
fn write_content(store: &dyn Store, archive: &str, m: &Member, dest: &Path) -> Result<()> {
    clear(dest);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(dest)
        .ctx(|| format!("cannot create {}", dest.display()))?;
    let mut r = MemberReader::new(store, archive, m);
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut r, &mut buf).map_err(|e| Error::Other(e.to_string()))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        out.write_all(&buf[..n])
            .ctx(|| format!("cannot write {}", dest.display()))?;
    }
    let got = hex::encode(sha.finalize());
    if m.sha256.as_deref().is_some_and(|want| want != got) {
        return Err(Error::CorruptMember {
            archive: archive.to_string(),
            member: m.path.clone(),
            message: "SHA-256 of the restored bytes differs from the catalog".into(),
        });
    }
    Ok(())
}

/// Restores `members` (of the archive `archive`) under `dir`. Returns the count.
pub fn restore(store: &dyn Store, archive: &str, members: &[Member], dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).ctx(|| format!("cannot create {}", dir.display()))?;
    let mut dirs = Vec::new();
    for m in members {
        let dest = destination(dir, &m.path)?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .ctx(|| format!("cannot create {}", parent.display()))?;
        }
        match m.kind {
            MemberKind::Dir => {
                clear(&dest);
                std::fs::create_dir_all(&dest)
                    .ctx(|| format!("cannot create {}", dest.display()))?;
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
    }
    // Directories last, deepest first: creating their children changed their mtime.
    for (dest, meta) in dirs.iter().rev() {
        apply_meta(dest, meta, MemberKind::Dir)?;
    }
    Ok(members.len())
}
