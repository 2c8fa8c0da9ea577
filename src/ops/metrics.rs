//! Writes the `metrics_file` after a backup run, atomically (a temporary file in the
//! same directory, then rename), so node_exporter never reads half a file.

use crate::catalog::{Catalog, CopyState};
use crate::error::{IoContext, Result};
use crate::format::metrics::{Metrics, SourceFigures, TargetFigures};
use crate::ops::backup::Report;
use crate::store::TargetSpec;
use std::io::Write;
use std::path::Path;

/// The figures of a run that ended with `exit_code` (`report` is its outcome).
pub fn gather(
    repo: &Path,
    host: &str,
    sources: &[String],
    targets: &[TargetSpec],
    report: std::result::Result<&Report, ()>,
    exit_code: u8,
) -> Result<Metrics> {
    let now = chrono::Utc::now().timestamp();
    let mut m = Metrics {
        host: host.to_string(),
        run_time: now,
        exit_code,
        ..Default::default()
    };
    let cat = Catalog::open(repo).ok();
    if let Some(cat) = &cat {
        m.last_success = cat
            .latest_complete()?
            .map(|e| e.end_time.unwrap_or(e.start_time))
            .unwrap_or(0);
    }
    let failed_source = |name: &str| match report {
        Ok(r) => r
            .failed
            .iter()
            .any(|f| f.starts_with(&format!("source '{name}'"))),
        Err(()) => true,
    };
    let members = match (report, &cat) {
        (Ok(r), Some(cat)) if r.event.is_readable() => cat.members(r.event.id)?,
        _ => Vec::new(),
    };
    for name in sources {
        let of: Vec<_> = members.iter().filter(|x| &x.source == name).collect();
        m.sources.push(SourceFigures {
            name: name.clone(),
            members: of.len() as u64,
            bytes: of.iter().map(|x| x.size).sum(),
            failed: failed_source(name),
        });
    }
    if let Ok(r) = report {
        m.duration = r.event.end_time.unwrap_or(now) - r.event.start_time;
        m.bytes_in = r.size;
        m.bytes_out = r.event.bytes;
        m.members = r.members as u64;
        m.warnings = r.warnings.len() as u64;
    }
    if let Some(cat) = &cat {
        let events = cat.events()?;
        let copies = cat.copies()?;
        let last = report.ok().map(|r| r.event.id);
        for t in targets {
            let done = |id: i64| {
                copies.iter().any(|c| {
                    c.event_id == id
                        && c.target == t.name
                        && matches!(c.state, CopyState::Done | CopyState::Removed)
                })
            };
            m.targets.push(TargetFigures {
                name: t.name.clone(),
                last_copied: last.is_some_and(done),
                pending: events
                    .iter()
                    .filter(|e| e.is_readable() && !done(e.id))
                    .count() as u64,
            });
        }
    }
    Ok(m)
}

/// Replaces `path` with the rendered metrics.
pub fn write(path: &Path, m: &Metrics) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .ctx(|| format!("cannot write the metrics file in {}", dir.display()))?;
    tmp.write_all(m.render().as_bytes())
        .ctx(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path).map_err(|e| {
        crate::error::Error::io(format!("cannot replace {}", path.display()), e.error)
    })?;
    Ok(())
}
