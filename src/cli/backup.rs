//! `strata backup`: quiet on success (cron mails whatever is printed), a progress bar
//! only on a terminal, warnings on stderr, exit 1 when the event has warnings.

use super::{fmt, Env};
use crate::error::{exit, Result};
use crate::ops::backup::{self, Plan};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub fn run(env: Env) -> Result<u8> {
    let config = env.config.expect("backup loads the config");
    if config.sources.is_empty() {
        return Err(crate::error::Error::NotFound(format!(
            "{} names no [[source]]: there is nothing to back up; add one (README, \"Use\")",
            config.path.display()
        )));
    }
    let notify = config.notify.clone();
    let notify_on_success = config.notify_on_success;
    let targets = config.targets.clone();
    let retention = config.retention.clone();
    let metrics_file = config.metrics_file.clone();
    let source_names: Vec<String> = config
        .sources
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    let host = config.host.clone();
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
    // The event is complete and durable: copy it (and whatever an earlier run left
    // pending) off the machine.
    let uploaded = targets.is_empty()
        || report.is_err()
        || match crate::ops::upload::run(&env.repo, &targets, None) {
            Ok(r) => super::remote::report_uploads(&r),
            Err(e) => {
                eprintln!("strata: upload: {e}; `strata upload` retries");
                false
            }
        };
    // Then `[retention]`, only after a run that produced an event.
    let pruned = match (&retention, &report) {
        (Some(policy), Ok(r)) if r.event.is_readable() => {
            match crate::ops::prune::run(&env.repo, policy, false) {
                Ok(d) => {
                    let gone: Vec<i64> = d.iter().filter(|d| !d.keep).map(|d| d.id).collect();
                    if !gone.is_empty() {
                        tracing::info!("[retention] removed events {gone:?}");
                    }
                    true
                }
                Err(e) => {
                    eprintln!("strata: retention: {e}");
                    false
                }
            }
        }
        _ => true,
    };
    let mut code = match &report {
        Ok(r) => outcome(&env.repo, r, uploaded && pruned),
        Err(e) => e.exit_code(),
    };
    // The notifier hears of every run that is not clean, and of clean ones on request.
    if let Some(argv) = notify
        .as_ref()
        .filter(|_| code != exit::OK || notify_on_success)
    {
        let mut text = summary(&host, &env.repo, &report);
        if !uploaded {
            text += "upload: FAILED (the event is kept locally; `strata upload` retries)\n";
        }
        if let Some(w) = crate::ops::notify::send(argv, &text) {
            tracing::warn!("{w}");
            code = code.max(exit::WARN);
        }
    }
    if let Some(path) = &metrics_file {
        let r = report.as_ref().map_err(|_| ());
        let written =
            crate::ops::metrics::gather(&env.repo, &host, &source_names, &targets, r, code)
                .and_then(|m| crate::ops::metrics::write(path, &m));
        if let Err(e) = written {
            // The backup stands; a monitoring file that was not written is a warning.
            eprintln!("strata: warning: metrics_file: {e}");
            code = code.max(exit::WARN);
        }
    }
    report.map(|_| code)
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

/// The text a notifier gets: status first, then counts, sizes, duration, errors.
fn summary(host: &str, repo: &std::path::Path, report: &Result<backup::Report>) -> String {
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
            s += &format!("strata backup on {host}: {status}\n");
            s += &format!(
                "event: {}\narchive: {}\n",
                ev.id,
                repo.join(&ev.file).display()
            );
            s += &format!(
                "members: {}\nsize: {} ({} stored)\nduration: {}\nwarnings: {}\n",
                r.members,
                fmt::size(r.size),
                fmt::size(ev.bytes),
                fmt::duration(took),
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
                "strata backup on {host}: FAILED\nrepository: {}\nerror: {e}\n",
                repo.display()
            );
        }
    }
    s
}
