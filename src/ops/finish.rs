//! What follows every event, whichever command made it (`backup`, `binlog`, each event
//! of `binlog --follow`): its copies to the targets, `[retention]`, then, once the run's
//! exit code is known, the notifier and the metrics file. One place, so that no command
//! that makes an event skips a step.

use super::backup::Report;
use super::upload::{self, TargetReport};
use crate::error::Result;
use crate::model::KeepPolicy;
use crate::store::TargetSpec;
use crate::units;
use std::path::{Path, PathBuf};

/// The steps after an event, as the config sets them.
#[derive(Clone)]
pub struct Finish {
    /// The command that made the events (`backup`, `binlog`), for the notifier.
    pub command: &'static str,
    pub repo: PathBuf,
    pub host: String,
    pub targets: Vec<TargetSpec>,
    pub retention: Option<KeepPolicy>,
    pub notify: Option<Vec<String>>,
    pub notify_on_success: bool,
    pub metrics_file: Option<PathBuf>,
    pub source_names: Vec<String>,
}

/// What the copies and the retention did.
pub struct Copied {
    /// Per target (none without targets); `Err` when uploading could not start.
    pub uploads: Result<Vec<TargetReport>>,
    /// The events `[retention]` removed; `Err` when it failed.
    pub pruned: Result<Vec<i64>>,
}

impl Copied {
    /// Every copy made and the retention applied.
    pub fn all_ok(&self) -> bool {
        self.pruned.is_ok()
            && self
                .uploads
                .as_ref()
                .is_ok_and(|u| u.iter().all(|r| r.failed.is_empty()))
    }
}

impl Finish {
    /// Copies the new event (and whatever an earlier run left pending) to the targets,
    /// then applies `[retention]` after a run that produced a readable event.
    pub fn copy_and_prune(&self, report: &Result<Report>) -> Copied {
        let made = report.as_ref().is_ok_and(|r| r.event.is_readable());
        let uploads = if self.targets.is_empty() || report.is_err() {
            Ok(Vec::new())
        } else {
            upload::run(&self.repo, &self.targets, None)
        };
        let pruned = match &self.retention {
            Some(policy) if made => super::prune::run(&self.repo, policy, false)
                .map(|d| d.iter().filter(|d| !d.keep).map(|d| d.id).collect()),
            _ => Ok(Vec::new()),
        };
        Copied { uploads, pruned }
    }

    /// Tells the notifier (of a run that is not clean, or of every run on request) and
    /// rewrites the metrics file, once the run's exit `code` is known. Returns a line
    /// per step that failed (each a warning: the event itself stands).
    pub fn tell(&self, report: &Result<Report>, copied: &Copied, code: u8) -> Vec<String> {
        let mut trouble = Vec::new();
        if let Some(argv) = self
            .notify
            .as_ref()
            .filter(|_| code != crate::error::exit::OK || self.notify_on_success)
        {
            let mut text = summary(self.command, &self.host, &self.repo, report);
            if !copied.all_ok() {
                text += "upload: FAILED (the event is kept locally; `strata upload` retries)\n";
            }
            if let Some(w) = super::notify::send(argv, &text) {
                trouble.push(w);
            }
        }
        if let Some(path) = &self.metrics_file {
            let r = report.as_ref().map_err(|_| ());
            let written = super::metrics::gather(
                &self.repo,
                &self.host,
                &self.source_names,
                &self.targets,
                r,
                code,
            )
            .and_then(|m| super::metrics::write(path, &m));
            if let Err(e) = written {
                trouble.push(format!("metrics_file: {e}"));
            }
        }
        trouble
    }
}

/// The text a notifier gets: status first, then counts, sizes, duration, errors.
pub fn summary(command: &str, host: &str, repo: &Path, report: &Result<Report>) -> String {
    let mut s = String::new();
    match report {
        Ok(r) => {
            let ev = &r.event;
            let took = ev.end_time.unwrap_or(ev.start_time) - ev.start_time;
            let status = if !r.failed.is_empty() {
                "PARTIAL"
            } else if r.warnings.is_empty() {
                "complete"
            } else {
                "complete with warnings"
            };
            s += &format!("strata {command} on {host}: {status}\n");
            s += &format!(
                "event: {}\narchive: {}\n",
                ev.id,
                repo.join(&ev.file).display()
            );
            s += &format!(
                "members: {}\nsize: {} ({} stored)\nduration: {}\nwarnings: {}\n",
                r.members,
                units::size(r.size),
                units::size(ev.bytes),
                units::duration(took),
                r.warnings.len()
            );
            for (k, v) in &ev.info {
                s += &format!("{k}: {v}\n");
            }
            for f in &r.failed {
                s += &format!("failed: {f}\n");
            }
            for w in r.warnings.iter().take(20) {
                s += &format!("warning: {w}\n");
            }
        }
        Err(e) => {
            s += &format!(
                "strata {command} on {host}: FAILED\nrepository: {}\nerror: {e}\n",
                repo.display()
            );
        }
    }
    s
}
