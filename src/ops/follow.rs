//! `strata binlog [--follow]`: small events that hold only the binary log written since
//! the previous event, so that the recovery point is minutes old rather than a day.
//!
//! Each event is an ordinary backup run (lock, archive, fsync, sidecars, catalog row),
//! so it is exactly as durable; the position it records is where the next one starts.
//! A follower killed at any moment, or a server that restarts or is unreachable for a
//! while, therefore resumes from the last recorded position: no gap, no event twice.
//! Between events only a poll runs (`SHOW MASTER STATUS`, `SHOW BINARY LOGS`); the log
//! itself is streamed through the spool, so memory stays bounded.

use crate::archive::pipeline::Settings;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ops::backup::{self, Plan, Report};
use crate::source::Follower;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Follow<'a> {
    pub repo: PathBuf,
    pub host: String,
    pub settings: Settings,
    pub followers: Vec<Box<dyn Follower>>,
    /// Keep following until this is set (a signal); `false` from the start: one pass.
    pub follow: bool,
    pub stop: &'a AtomicBool,
    /// Told of every event made (uploads, logging).
    pub after: &'a dyn Fn(&Result<Report>),
}

/// Whether `f` has an event due: the log moved since the last recorded position, and
/// either `interval` has passed since that event or `max_size` bytes are waiting. A
/// follower with no recorded position yet is due at once (its first event records
/// where the chain starts). `force` (`strata binlog` without `--follow`): due now,
/// even when the log did not move, so that the event proves nothing was written up to
/// now and `load --until` can reach the present.
fn due(cat: &Catalog, f: &dyn Follower, force: bool) -> Result<bool> {
    let last = cat.latest_snapshot(f.name())?;
    let since = last.as_ref().map(|(_, at)| at.as_str());
    let (now, bytes) = f.pending(since)?;
    let Some((id, _)) = last else {
        return Ok(true);
    };
    if force {
        return Ok(true);
    }
    if since == Some(now.as_str()) {
        return Ok(false);
    }
    let age = chrono::Utc::now().timestamp() - cat.event_brief(id)?.0;
    Ok(bytes >= f.max_size() || age >= f.interval().as_secs() as i64)
}

/// Polls every follower and makes one event for those that are due; with `follow`,
/// again and again until `stop` is set.
pub fn run(f: Follow) -> Result<()> {
    let shortest = f
        .followers
        .iter()
        .map(|x| x.interval())
        .min()
        .unwrap_or(Duration::from_secs(300));
    let poll = (shortest / 5).clamp(Duration::from_secs(1), Duration::from_secs(10));
    // What was last said of each unreachable server, so an outage is logged once.
    let mut down: BTreeMap<String, String> = BTreeMap::new();
    // Events that failed in a row: the next try waits twice as long each time (up to
    // an hour), so a lasting fault does not make a failed event every poll.
    let mut failures = 0u32;
    let mut wake = std::time::Instant::now();
    loop {
        while std::time::Instant::now() < wake {
            if f.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        wake = std::time::Instant::now() + poll;
        std::fs::create_dir_all(&f.repo).map_err(|e| {
            Error::io(
                format!("cannot create the repository {}", f.repo.display()),
                e,
            )
        })?;
        let cat = Catalog::open(&f.repo)?;
        let mut sources = Vec::new();
        for x in &f.followers {
            match due(&cat, x.as_ref(), !f.follow) {
                Ok(yes) => {
                    if down.remove(x.name()).is_some() {
                        tracing::info!("source '{}': reachable again", x.name());
                    }
                    if yes {
                        sources.push(x.source());
                    }
                }
                Err(e) if f.follow => {
                    let msg = e.to_string();
                    if down.insert(x.name().to_string(), msg.clone()).as_ref() != Some(&msg) {
                        tracing::warn!("{msg}; retrying every {} s", poll.as_secs());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        drop(cat);
        if !sources.is_empty() {
            let report = backup::run(Plan {
                repo: f.repo.clone(),
                host: f.host.clone(),
                settings: f.settings.clone(),
                sources,
                progress: &|_| {},
            });
            match report {
                // A backup holds the repository: its event continues the chain.
                Err(Error::Locked(_)) if f.follow => {
                    tracing::info!("another run holds the repository; retrying")
                }
                r => {
                    let failed = r.as_ref().map_or(true, |r| !r.failed.is_empty());
                    (f.after)(&r);
                    failures = if failed { failures + 1 } else { 0 };
                    if failed && f.follow {
                        let wait = (poll * 2u32.saturating_pow(failures.min(12)))
                            .min(Duration::from_secs(3600));
                        tracing::warn!(
                            "{failures} event(s) failed in a row; next try in {} s",
                            wait.as_secs()
                        );
                        wake = std::time::Instant::now() + wait;
                    }
                }
            }
        }
        if !f.follow {
            return Ok(());
        }
    }
}
