//! `strata backup`: quiet on success (cron mails whatever is printed), a progress bar
//! only on a terminal, warnings on stderr, exit 1 when the event has warnings.

use super::{fmt, Env};
use crate::error::{exit, Result};
use crate::ops::backup::{self, Plan};
use crate::ops::finish::Finish;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// The steps after each event, as `config` sets them.
pub(super) fn finish(config: &crate::config::Config, command: &'static str) -> Finish {
    Finish {
        command,
        repo: config.repository.clone(),
        host: config.host.clone(),
        targets: config.targets.clone(),
        retention: config.retention.clone(),
        notify: config.notify.clone(),
        notify_on_success: config.notify_on_success,
        metrics_file: config.metrics_file.clone(),
        source_names: config
            .sources
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
    }
}

/// Runs the steps after an event (copies, retention, notifier, metrics), says how they
/// went, and returns the run's exit code.
pub(super) fn after_event(finish: &Finish, report: &Result<backup::Report>) -> u8 {
    let copied = finish.copy_and_prune(report);
    let uploaded = match &copied.uploads {
        Ok(u) => super::remote::report_uploads(u),
        Err(e) => {
            eprintln!("strata: upload: {e}; `strata upload` retries");
            false
        }
    };
    let pruned = match &copied.pruned {
        Ok(gone) => {
            if !gone.is_empty() {
                tracing::info!("[retention] removed events {gone:?}");
            }
            true
        }
        Err(e) => {
            eprintln!("strata: retention: {e}");
            false
        }
    };
    let mut code = match report {
        Ok(r) => outcome(&finish.repo, r, uploaded && pruned),
        Err(e) => {
            eprintln!("strata: error: {e}");
            e.exit_code()
        }
    };
    for w in finish.tell(report, &copied, code) {
        // The event stands; a step after it that failed is a warning.
        eprintln!("strata: warning: {w}");
        code = code.max(exit::WARN);
    }
    code
}

pub fn run(env: Env) -> Result<u8> {
    let config = env.config.expect("backup loads the config");
    if config.sources.is_empty() {
        return Err(crate::error::Error::NotFound(format!(
            "{} names no [[source]]: there is nothing to back up; add one (README, \"Use\")",
            config.path.display()
        )));
    }
    let mut finish = finish(&config, "backup");
    finish.repo = env.repo.clone();
    let bar = if std::io::stderr().is_terminal() && !env.quiet {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes} read, {binary_bytes_per_sec}, {elapsed}",
            )
            .expect("valid template"),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(200));
        b
    } else {
        ProgressBar::hidden()
    };
    let progress = |n: u64| bar.set_position(n);
    let report = backup::run(Plan {
        repo: env.repo.clone(),
        host: config.host.clone(),
        settings: config.settings,
        sources: config.sources,
        progress: &progress,
    });
    bar.finish_and_clear();
    // A run that made no event was said, with its exit code, by after_event.
    Ok(after_event(&finish, &report))
}

/// Says how the run went (quiet on success) and returns its exit code.
pub(super) fn outcome(repo: &std::path::Path, report: &backup::Report, side_jobs_ok: bool) -> u8 {
    let ev = &report.event;
    let took = ev.end_time.unwrap_or(ev.start_time) - ev.start_time;
    let summary = format!(
        "event {}: {} members, {} in a {} archive, {}",
        ev.id,
        report.members,
        fmt::size(report.size),
        fmt::size(ev.bytes),
        fmt::duration(took)
    );
    if !report.failed.is_empty() {
        for f in &report.failed {
            eprintln!("strata: error: {f}");
        }
        eprintln!(
            "strata: event {} is partial: {} source(s) failed (above), the others were kept; fix the source(s) and run `strata backup` again",
            ev.id,
            report.failed.len()
        );
        exit::ERROR
    } else if !side_jobs_ok {
        exit::WARN
    } else if report.warnings.is_empty() {
        tracing::info!("{summary}");
        exit::OK
    } else {
        let err = repo.join(&ev.file).with_extension("err");
        tracing::warn!(
            "{summary}; complete with {} warnings (listed in {})",
            report.warnings.len(),
            err.display()
        );
        exit::WARN
    }
}

/// `backup --dry-run`: every source listed as a run would see it; nothing is written.
pub fn dry_run(env: &Env) -> Result<u8> {
    let config = env.config.as_ref().expect("backup loads the config");
    let mut failed = 0;
    println!(
        "repository {} (nothing is written)",
        config.repository.display()
    );
    for s in &config.sources {
        println!("source {}:", s.name());
        match s.dry_run() {
            Ok(lines) => lines.iter().for_each(|l| println!("  {l}")),
            Err(e) => {
                failed += 1;
                println!("  FAILS: {e}");
                eprintln!("strata: backup --dry-run: {e}");
            }
        }
    }
    for t in &config.targets {
        println!(
            "target {} ({}): each event copied there",
            t.name,
            t.kind.name()
        );
    }
    if let Some(r) = &config.retention {
        println!("retention: {r:?}");
    }
    Ok(if failed == 0 { exit::OK } else { exit::ERROR })
}
