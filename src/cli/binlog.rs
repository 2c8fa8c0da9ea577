//! `strata binlog [--follow]`: an event with the binary log written since the previous
//! event, now (for cron), or again and again as the log moves (`--follow`, for a
//! systemd service), until a signal. Each event is reported as `backup` reports one
//! and copied to the targets.

use super::Env;
use crate::error::{exit, Error, Result};
use crate::ops::backup::Report;
use crate::ops::follow::{self, Follow};
use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub fn run(env: Env, keep_following: bool) -> Result<u8> {
    let config = env.config.as_ref().expect("binlog loads the config");
    let followers: Vec<_> = config.sources.iter().filter_map(|s| s.follower()).collect();
    if followers.is_empty() {
        return Err(Error::Other(format!(
            "no mysql source in {} has binlogs = true: nothing to follow",
            config.path.display()
        )));
    }
    let stop = if keep_following {
        super::signals::watch()
    } else {
        Arc::new(AtomicBool::new(false))
    };
    let code = Cell::new(exit::OK);
    let mut finish = super::backup::finish(config, "binlog");
    finish.repo = env.repo.clone();
    // Every event goes through the same steps as a backup's: copies, retention,
    // notifier, metrics.
    let after = |r: &Result<Report>| {
        let c = super::backup::after_event(&finish, r);
        code.set(code.get().max(c));
    };
    if keep_following {
        tracing::info!(
            "following the binary log of {} into {}",
            followers
                .iter()
                .map(|f| format!("'{}'", f.name()))
                .collect::<Vec<_>>()
                .join(", "),
            env.repo.display()
        );
    }
    follow::run(Follow {
        repo: env.repo.clone(),
        host: config.host.clone(),
        settings: config.settings.clone(),
        followers,
        follow: keep_following,
        stop: &stop,
        after: &after,
    })?;
    // A follower stopped by a signal has done its job; its events' troubles were logged.
    Ok(if keep_following { exit::OK } else { code.get() })
}
