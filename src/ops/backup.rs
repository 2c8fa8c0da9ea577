//! One backup run, in the order that keeps the repository honest: lock, clean up
//! leftovers, insert a running event, stream every source through the pipeline into
//! `<archive>.tar.partial`, fsync and rename, write the sidecars, and only then mark
//! the event complete in the catalog. A failed source fails the event; nothing that is
//! not complete is ever marked so.

use crate::archive::pipeline::{self, Settings};
use crate::archive::writer::{sync_dir, ArchiveWriter};
use crate::catalog::Catalog;
use crate::error::{Error, IoContext, Result};
use crate::model::{Event, Member, MemberKind, COMPLETE, FAILED};
use crate::ops::{cleanup, lock::RepoLock};
use crate::source::Source;
use chrono::{Local, TimeZone};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Plan<'a> {
    pub repo: PathBuf,
    pub host: String,
    pub settings: Settings,
    pub sources: Vec<Box<dyn Source>>,
    /// Called with the number of uncompressed bytes written so far.
    pub progress: &'a dyn Fn(u64),
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    pub event: Event,
    pub warnings: Vec<String>,
    pub members: usize,
    pub size: u64,
}

#[derive(Serialize)]
struct SourceSummary {
    name: String,
    members: usize,
    bytes: u64,
}

/// The `.meta` sidecar: a JSON summary of the event. Never holds a secret.
#[derive(Serialize)]
struct Meta<'a> {
    id: i64,
    host: &'a str,
    start_time: String,
    end_time: String,
    status: &'a str,
    completed: i64,
    archive: &'a str,
    bytes: u64,
    sha256: Option<&'a str>,
    members: usize,
    files: usize,
    uncompressed_bytes: u64,
    warnings: usize,
    error: Option<&'a str>,
    sources: Vec<SourceSummary>,
}

fn rfc3339(t: i64) -> String {
    Local
        .timestamp_opt(t, 0)
        .single()
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

/// Archive path relative to the repository: `YYYY/MM/<host>_YYYY-MM-DD_<id>.tar`.
pub fn archive_name(host: &str, start: i64, id: i64) -> String {
    let t = Local
        .timestamp_opt(start, 0)
        .single()
        .unwrap_or_else(Local::now);
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "{}/{}_{}_{id}.tar",
        t.format("%Y/%m"),
        host,
        t.format("%Y-%m-%d")
    )
}

/// Test hook: with `STRATA_CRASH_AT=<point>`, the process SIGKILLs itself there, so the
/// tests can check that a crash at any step leaves no event marked complete wrongly.
fn crash_point(point: &str) {
    if std::env::var("STRATA_CRASH_AT").is_ok_and(|p| p == point) {
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

fn sidecar(tar: &Path, ext: &str) -> PathBuf {
    tar.with_extension(ext)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).ctx(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .ctx(|| format!("cannot write {}", path.display()))
}

fn write_sidecars(
    tar: &Path,
    ev: &Event,
    members: &[Member],
    warnings: &[String],
    error: Option<&str>,
) -> Result<()> {
    let mut sources: Vec<SourceSummary> = Vec::new();
    for m in members {
        match sources.iter_mut().find(|s| s.name == m.source) {
            Some(s) => {
                s.members += 1;
                s.bytes += m.size;
            }
            None => sources.push(SourceSummary {
                name: m.source.clone(),
                members: 1,
                bytes: m.size,
            }),
        }
    }
    let meta = Meta {
        id: ev.id,
        host: &ev.host,
        start_time: rfc3339(ev.start_time),
        end_time: rfc3339(ev.end_time.unwrap_or(ev.start_time)),
        status: ev.status(),
        completed: ev.completed,
        archive: &ev.file,
        bytes: ev.bytes,
        sha256: ev.sha256.as_deref(),
        members: members.len(),
        files: members.iter().filter(|m| m.kind.has_content()).count(),
        uncompressed_bytes: members.iter().map(|m| m.size).sum(),
        warnings: warnings.len(),
        error,
        sources,
    };
    let mut json = serde_json::to_vec_pretty(&meta).expect("meta serialises");
    json.push(b'\n');
    write_file(&sidecar(tar, "meta"), &json)?;
    let mut err = String::new();
    for w in warnings {
        err.push_str("warning: ");
        err.push_str(w);
        err.push('\n');
    }
    if let Some(e) = error {
        err.push_str("error: ");
        err.push_str(e);
        err.push('\n');
    }
    write_file(&sidecar(tar, "err"), err.as_bytes())?;
    if let Some(sha) = &ev.sha256 {
        let name = tar.file_name().unwrap_or_default().to_string_lossy();
        write_file(
            &sidecar(tar, "tar.sha256"),
            format!("{sha}  {name}\n").as_bytes(),
        )?;
    }
    sync_dir(tar)
}

/// Runs a backup. On success returns the report (which may hold warnings); a failed
/// event is an `Err` whose message says why, after the event is marked failed.
pub fn run(plan: Plan) -> Result<Report> {
    std::fs::create_dir_all(&plan.repo)
        .ctx(|| format!("cannot create the repository {}", plan.repo.display()))?;
    let _lock = RepoLock::acquire(&plan.repo)?;
    let mut cat = Catalog::open(&plan.repo)?;
    for line in cleanup::leftovers(&plan.repo, &cat)? {
        tracing::warn!("{line}");
    }

    let start = chrono::Utc::now().timestamp();
    let id = cat.begin_event(&plan.host, start)?;
    let file = archive_name(&plan.host, start, id);
    cat.set_event_file(id, &file)?;
    let tar = plan.repo.join(&file);
    let mut ev = Event {
        id,
        host: plan.host.clone(),
        start_time: start,
        end_time: None,
        completed: COMPLETE,
        bytes: 0,
        file: file.clone(),
        sha256: None,
        error: None,
        warnings: 0,
        info: Default::default(),
    };
    let fail =
        |cat: &Catalog, ev: &mut Event, warnings: &[String], members: &[Member], e: Error| {
            let msg = e.to_string();
            ev.completed = FAILED;
            ev.end_time = Some(chrono::Utc::now().timestamp());
            ev.warnings = warnings.len() as u64;
            let _ = write_sidecars(&tar, ev, members, warnings, Some(&msg));
            let _ = cat.fail_event(ev.id, FAILED, ev.end_time.unwrap(), &msg, ev.warnings);
            e
        };

    if let Some(dir) = tar.parent() {
        if let Err(e) =
            std::fs::create_dir_all(dir).ctx(|| format!("cannot create {}", dir.display()))
        {
            return Err(fail(&cat, &mut ev, &[], &[], e));
        }
    }
    crash_point("before-archive");
    let mut writer = match ArchiveWriter::create(&tar) {
        Ok(w) => w,
        Err(e) => return Err(fail(&cat, &mut ev, &[], &[], e)),
    };
    let mut errors: Vec<Error> = Vec::new();
    let sources = &plan.sources;
    let errs = &mut errors;
    let spool_dir = plan.repo.join(format!(".spool-{id}"));
    let mut settings = plan.settings.clone();
    settings.spool_dir = spool_dir.clone();
    let ran = pipeline::run(&mut writer, settings, plan.progress, move |sink| {
        for s in sources {
            if let Err(e) = s.run(sink) {
                let fatal = matches!(e, Error::WriterStopped);
                errs.push(e);
                if fatal {
                    break;
                }
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&spool_dir);
    let mut warnings = match ran {
        Ok(o) => {
            ev.info = o.notes;
            o.warnings
        }
        Err(e) => {
            let members = writer.members().to_vec();
            writer.discard();
            return Err(fail(&cat, &mut ev, &[], &members, e));
        }
    };
    if !errors.is_empty() {
        let first = errors.remove(0);
        warnings.extend(errors.iter().map(|e| e.to_string()));
        let members = writer.members().to_vec();
        writer.discard();
        return Err(fail(&cat, &mut ev, &warnings, &members, first));
    }

    ev.end_time = Some(chrono::Utc::now().timestamp());
    ev.warnings = warnings.len() as u64;
    let finished = match writer.finish(ev.clone()) {
        Ok(f) => f,
        Err(e) => return Err(fail(&cat, &mut ev, &warnings, &[], e)),
    };
    crash_point("after-rename");
    ev.bytes = finished.bytes;
    ev.sha256 = Some(finished.sha256.clone());
    if let Err(e) = write_sidecars(&tar, &ev, &finished.members, &warnings, None) {
        let _ = std::fs::remove_file(&tar);
        return Err(fail(&cat, &mut ev, &warnings, &finished.members, e));
    }
    crash_point("before-catalog");
    cat.complete_event(&ev, &finished.members)?;
    Ok(Report {
        members: finished.members.len(),
        size: finished
            .members
            .iter()
            .filter(|m| m.kind != MemberKind::Dir)
            .map(|m| m.size)
            .sum(),
        event: ev,
        warnings,
    })
}
