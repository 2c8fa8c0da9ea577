//! One backup run, in the order that keeps the repository honest: lock, clean up
//! leftovers, refuse to run beside archives the catalog does not know, insert a
//! running event under an id never used before, stream every source through the
//! pipeline into `<archive>.tar.partial`, fsync and rename (never over an existing
//! file), write the sidecars, and only then mark the event complete in the catalog.
//! Sources that fail are named and the others kept (a partial event); only a run where
//! no source succeeded is failed.

use crate::archive::pipeline::{self, Settings};
use crate::archive::writer::ArchiveWriter;
use crate::catalog::Catalog;
use crate::error::{Error, IoContext, Result};
use crate::format::manifest::WriterInfo;
use crate::model::{Event, Member, MemberKind, COMPLETE, FAILED, PARTIAL};
use crate::ops::{cleanup, layout, lock::RepoLock, sidecars};
use crate::source::Source;
use std::path::{Path, PathBuf};

pub use crate::ops::layout::archive_name;

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
    /// `source 'name': what went wrong`, one per failed source (a partial event).
    pub failed: Vec<String>,
    pub members: usize,
    pub size: u64,
}

/// Test hook: with `STRATA_CRASH_AT=<point>`, the process SIGKILLs itself there, so the
/// tests can check that a crash at any step leaves no event marked complete wrongly.
pub fn crash_point(point: &str) {
    if std::env::var("STRATA_CRASH_AT").is_ok_and(|p| p == point) {
        // SAFETY: kill(2) on this process's own id with SIGKILL: the test hook's point.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// Archives (files named as strata names them) that the catalog does not list: the
/// catalog was lost or replaced, or `reindex` could not read them, so a run refuses and
/// says how to bring them back. Only the recent months are looked at (new archives are
/// there), so a run costs the same in a repository of 100,000 events as in one of ten.
fn refuse_unknown_archives(repo: &Path, cat: &Catalog) -> Result<()> {
    let recent: Vec<layout::EventFile> = layout::recent_event_files(repo)
        .into_iter()
        .filter(|f| f.suffix == ".tar")
        .collect();
    let Some(oldest) = recent.iter().map(|f| f.id).min() else {
        return Ok(());
    };
    let known = cat.files_from(oldest)?;
    let mut unknown: Vec<String> = recent
        .into_iter()
        .filter(|f| !known.contains(&f.rel))
        .map(|f| f.rel)
        .collect();
    unknown.sort();
    if let Some(first) = unknown.first() {
        return Err(Error::Other(format!(
            "{} archive(s) in {} are not in the catalog (first: {first}); the catalog was lost or replaced. Run `strata reindex` to rebuild it from the archives (move out of the repository any archive it reports as unreadable), then back up again",
            unknown.len(),
            repo.display()
        )));
    }
    Ok(())
}

/// Marks `ev` failed with `e`, writing its `.meta` and `.err`; returns `e`.
fn fail(
    cat: &Catalog,
    tar: &Path,
    ev: &mut Event,
    warnings: &[String],
    members: &[Member],
    e: Error,
) -> Error {
    let msg = e.to_string();
    ev.completed = FAILED;
    ev.end_time = Some(chrono::Utc::now().timestamp());
    ev.warnings = warnings.len() as u64;
    ev.error = Some(msg.clone());
    ev.sha256 = None;
    ev.bytes = 0;
    let _ = sidecars::write(tar, ev, members, warnings, std::slice::from_ref(&msg), &[]);
    let _ = cat.fail_event(ev.id, FAILED, ev.end_time.unwrap(), &msg, ev.warnings);
    e
}

/// What the sources produced: warnings, and one line per failed source.
struct Produced {
    warnings: Vec<String>,
    failed: Vec<String>,
}

/// Where the newest complete or partial event of each source left the binlog, for
/// sources that continue where the last event stopped (binlog capture).
fn previous_notes(cat: &Catalog) -> Result<std::collections::BTreeMap<String, String>> {
    cat.latest_snapshots()
}

fn produce(
    writer: &mut ArchiveWriter,
    ev: &mut Event,
    plan: &Plan,
    spool_dir: &Path,
    previous: std::collections::BTreeMap<String, String>,
) -> Result<Produced> {
    let mut failed: Vec<String> = Vec::new();
    let sources = &plan.sources;
    let errs = &mut failed;
    let mut settings = plan.settings.clone();
    settings.spool_dir = spool_dir.to_path_buf();
    settings.previous = previous;
    let ran = pipeline::run(writer, settings, plan.progress, move |sink| {
        for s in sources {
            if let Err(e) = s.run(sink) {
                if matches!(e, Error::WriterStopped) {
                    return Err(e);
                }
                let msg = e.to_string();
                let name = format!("source '{}'", s.name());
                errs.push(if msg.contains(&name) {
                    msg
                } else {
                    format!("{name}: {msg}")
                });
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(spool_dir);
    let outcome = ran?;
    ev.info = outcome.notes;
    Ok(Produced {
        warnings: outcome.warnings,
        failed,
    })
}

/// Runs a backup. Returns the report of a complete or partial event (which may hold
/// warnings and failed sources); a failed event is an `Err` saying why, after the
/// event is marked failed.
pub fn run(plan: Plan) -> Result<Report> {
    std::fs::create_dir_all(&plan.repo)
        .ctx(|| format!("cannot create the repository {}", plan.repo.display()))?;
    let _lock = RepoLock::acquire(&plan.repo)?;
    let mut cat = Catalog::open(&plan.repo)?;
    for line in cleanup::leftovers(&plan.repo, &mut cat)? {
        tracing::warn!("{line}");
    }
    refuse_unknown_archives(&plan.repo, &cat)?;

    let start = chrono::Utc::now().timestamp();
    let id = cat.begin_event(
        &plan.host,
        start,
        layout::recent_event_files(&plan.repo)
            .iter()
            .map(|f| f.id)
            .max()
            .unwrap_or(0),
    )?;
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
    if let Some(dir) = tar.parent() {
        if let Err(e) =
            std::fs::create_dir_all(dir).ctx(|| format!("cannot create {}", dir.display()))
        {
            return Err(fail(&cat, &tar, &mut ev, &[], &[], e));
        }
    }
    crash_point("before-archive");
    let mut writer = match ArchiveWriter::create(&tar) {
        Ok(w) => w,
        Err(e) => return Err(fail(&cat, &tar, &mut ev, &[], &[], e)),
    };
    let spool_dir = plan.repo.join(format!(".spool-{id}"));
    let previous = match previous_notes(&cat) {
        Ok(p) => p,
        Err(e) => return Err(fail(&cat, &tar, &mut ev, &[], &[], e)),
    };
    let produced = match produce(&mut writer, &mut ev, &plan, &spool_dir, previous) {
        Ok(p) => p,
        Err(e) => {
            let members = writer.members().to_vec();
            writer.discard();
            return Err(fail(&cat, &tar, &mut ev, &[], &members, e));
        }
    };
    let Produced { warnings, failed } = produced;
    if !failed.is_empty() && failed.len() == plan.sources.len() {
        let members = writer.members().to_vec();
        writer.discard();
        let mut rest = warnings;
        rest.extend(failed[1..].iter().cloned());
        let first = Error::Other(failed[0].clone());
        return Err(fail(&cat, &tar, &mut ev, &rest, &members, first));
    }
    if !failed.is_empty() {
        ev.completed = PARTIAL;
        ev.error = Some(format!(
            "{} source(s) failed: {}",
            failed.len(),
            failed.join("; ")
        ));
    }
    finish(&mut cat, &plan.settings, writer, &tar, ev, warnings, failed)
}

/// Writes the manifest, renames the archive into place, writes the sidecars and marks
/// the event complete (or partial). If the catalog cannot record it, the archive is
/// taken back and the event marked failed, so that nothing disagrees.
fn finish(
    cat: &mut Catalog,
    settings: &Settings,
    writer: ArchiveWriter,
    tar: &Path,
    mut ev: Event,
    warnings: Vec<String>,
    failed: Vec<String>,
) -> Result<Report> {
    ev.end_time = Some(chrono::Utc::now().timestamp());
    ev.warnings = warnings.len() as u64;
    let info = WriterInfo {
        program: concat!("strata ", env!("CARGO_PKG_VERSION")).to_string(),
        frame_size: settings.frame_size as u32,
        level: settings.level,
    };
    let finished = match writer.finish(ev.clone(), info) {
        Ok(f) => f,
        Err(e) => return Err(fail(cat, tar, &mut ev, &warnings, &[], e)),
    };
    crash_point("after-rename");
    ev.bytes = finished.bytes;
    ev.sha256 = Some(finished.sha256.clone());
    let written = sidecars::write(tar, &ev, &finished.members, &warnings, &failed, &failed);
    crash_point("before-catalog");
    if let Err(e) = written.and_then(|()| cat.complete_event(&ev, &finished.members)) {
        let _ = std::fs::remove_file(tar);
        let _ = std::fs::remove_file(layout::sidecar(tar, "tar.sha256"));
        return Err(fail(cat, tar, &mut ev, &warnings, &finished.members, e));
    }
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
        failed,
    })
}
