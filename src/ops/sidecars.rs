//! The sidecars of an event: `.meta` (JSON summary), `.err` (its warnings and errors,
//! one per line) and `.tar.sha256` (`sha256sum -c` lines for the archive, `.meta` and
//! `.err`, so that damage to any of them is found). Each is written to a temporary
//! name and renamed, so a crash never leaves half a sidecar; `check` is what `verify`
//! runs on them.

use crate::archive::writer::{sha256_file, sync_dir};
use crate::error::{IoContext, Result};
use crate::format::meta::Meta;
use crate::model::{Event, Member};
use crate::ops::layout::sidecar;
use sha2::Digest;
use std::io::Write;
use std::path::Path;

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).ctx(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .ctx(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("cannot write {}", path.display()))
}

/// The `.err` text: `warning: ` and `error: ` lines; a message's own line breaks
/// continue on lines indented by two spaces.
pub fn err_text(warnings: &[String], errors: &[String]) -> String {
    let mut out = String::new();
    for (tag, list) in [("warning", warnings), ("error", errors)] {
        for m in list {
            out.push_str(tag);
            out.push_str(": ");
            out.push_str(&m.trim_end().replace('\n', "\n  "));
            out.push('\n');
        }
    }
    out
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Writes the sidecars a finished archive lacks (a run killed between its rename and
/// its sidecars): `.meta` from the event, `.err` saying how many warnings were lost,
/// then `.tar.sha256` over what is there. Existing `.meta` and `.err` are kept.
pub fn complete(tar: &Path, ev: &Event, members: &[Member]) -> Result<()> {
    let has = |ext| sidecar(tar, ext).exists();
    if has("meta") && has("err") && has("tar.sha256") {
        return Ok(());
    }
    if !has("meta") {
        let failed: Vec<String> = ev.error.iter().cloned().collect();
        let meta = Meta::new(ev, members, ev.warnings as usize, &failed).to_json();
        write_atomic(&sidecar(tar, "meta"), &meta)?;
    }
    if !has("err") {
        let lost: Vec<String> = (0..ev.warnings)
            .map(|i| format!("warning {} of the run was lost when it was killed", i + 1))
            .collect();
        let errors: Vec<String> = ev.error.iter().cloned().collect();
        write_atomic(&sidecar(tar, "err"), err_text(&lost, &errors).as_bytes())?;
    }
    let meta = std::fs::read(sidecar(tar, "meta")).ctx(|| "cannot read .meta".into())?;
    let err = std::fs::read(sidecar(tar, "err")).ctx(|| "cannot read .err".into())?;
    write_sums(tar, ev, &meta, &err)?;
    sync_dir(tar)
}

fn write_sums(tar: &Path, ev: &Event, meta: &[u8], err: &[u8]) -> Result<()> {
    let Some(sha) = &ev.sha256 else {
        return Ok(());
    };
    let hex = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let text = format!(
        "{sha}  {}\n{}  {}\n{}  {}\n",
        file_name(tar),
        hex(meta),
        file_name(&sidecar(tar, "meta")),
        hex(err),
        file_name(&sidecar(tar, "err")),
    );
    write_atomic(&sidecar(tar, "tar.sha256"), text.as_bytes())
}

/// Writes `.meta` and `.err` for `ev`, then `.tar.sha256` when the event has an archive.
pub fn write(
    tar: &Path,
    ev: &Event,
    members: &[Member],
    warnings: &[String],
    errors: &[String],
    failed_sources: &[String],
) -> Result<()> {
    let meta = Meta::new(ev, members, warnings.len(), failed_sources).to_json();
    let err = err_text(warnings, errors);
    write_atomic(&sidecar(tar, "meta"), &meta)?;
    write_atomic(&sidecar(tar, "err"), err.as_bytes())?;
    write_sums(tar, ev, &meta, err.as_bytes())?;
    sync_dir(tar)
}

/// Problems with the sidecars of readable event `ev` (whose archive is `tar`): each
/// `.tar.sha256` line must match its file and name the archive's hash the catalog
/// has; `.meta` must agree with the catalog; `.err` must hold as many warnings.
pub fn check(tar: &Path, ev: &Event, members: usize) -> Vec<String> {
    let mut out = Vec::new();
    let name = |ext: &str| sidecar(tar, ext).display().to_string();
    let sums = match std::fs::read_to_string(sidecar(tar, "tar.sha256")) {
        Ok(s) => s,
        Err(e) => return vec![format!("{}: cannot read: {e}", name("tar.sha256"))],
    };
    let mut seen = Vec::new();
    for line in sums.lines() {
        let Some((hash, file)) = line.split_once("  ") else {
            out.push(format!("{}: bad line {line:?}", name("tar.sha256")));
            continue;
        };
        seen.push(file.to_string());
        let path = tar.with_file_name(file);
        if file == file_name(tar) {
            if Some(hash) != ev.sha256.as_deref() {
                out.push(format!(
                    "{}: the archive's hash differs from the catalog's",
                    name("tar.sha256")
                ));
            }
            continue; // the archive itself is hashed by the caller
        }
        match sha256_file(&path) {
            Ok(h) if h == hash => {}
            Ok(_) => out.push(format!(
                "{}: damaged (its SHA-256 differs from {})",
                path.display(),
                name("tar.sha256")
            )),
            Err(e) => out.push(e.to_string()),
        }
    }
    for f in [tar.to_path_buf(), sidecar(tar, "meta"), sidecar(tar, "err")] {
        if !seen.contains(&file_name(&f)) {
            out.push(format!(
                "{}: does not list {}",
                name("tar.sha256"),
                file_name(&f)
            ));
        }
    }
    match std::fs::read(sidecar(tar, "meta"))
        .map_err(|e| e.to_string())
        .and_then(|b| Meta::parse(&b))
    {
        Ok(m) => {
            let agrees = m.id == ev.id
                && m.completed == ev.completed
                && m.sha256 == ev.sha256
                && m.archive == ev.file
                && m.members == members;
            if !agrees {
                out.push(format!("{}: disagrees with the catalog", name("meta")));
            }
        }
        Err(e) => out.push(format!("{}: {e}", name("meta"))),
    }
    match std::fs::read_to_string(sidecar(tar, "err")) {
        Ok(t) => {
            let n = t.lines().filter(|l| l.starts_with("warning: ")).count() as u64;
            if n != ev.warnings {
                out.push(format!(
                    "{}: holds {n} warnings, the catalog {}",
                    name("err"),
                    ev.warnings
                ));
            }
        }
        Err(e) => out.push(format!("{}: cannot read: {e}", name("err"))),
    }
    out
}
