//! `upload`, `reindex --from` and `verify --remote`: the commands that talk to targets.

use super::Env;
use crate::catalog::{CopyState, RemoteCopy};
use crate::error::{exit, Error, IoContext, Result};
use crate::model::{Event, Member};
use crate::ops::{self, reindex, remote::Located, upload, verify_remote, EventRef};
use serde_json::json;
use std::io::Write;

/// Prints what an upload run did; returns whether every copy succeeded.
pub fn report_uploads(reports: &[upload::TargetReport]) -> bool {
    let mut ok = true;
    for r in reports {
        for (id, why) in &r.failed {
            eprintln!("strata: upload: event {id} to target {}: {why}", r.target);
            ok = false;
        }
        for id in &r.missing {
            tracing::info!(
                "event {id} is not copied to target {} and its local archive is gone",
                r.target
            );
        }
        if !r.uploaded.is_empty() {
            tracing::info!("target {}: copied events {:?}", r.target, r.uploaded);
        }
        if !r.deleted.is_empty() {
            tracing::info!(
                "target {}: removed events {:?} (keep rules)",
                r.target,
                r.deleted
            );
        }
    }
    if !ok {
        eprintln!("strata: upload: the failed copies stay pending; `strata upload` retries them");
    }
    ok
}

pub fn upload(env: &Env, target: Option<&str>) -> Result<u8> {
    if env.targets().is_empty() {
        return Err(Error::NotFound(
            "the config names no [[target]]; add one (README, \"Off-site copies\")".into(),
        ));
    }
    env.check_catalog()?;
    let reports = upload::run(&env.repo, env.targets(), target)?;
    Ok(if report_uploads(&reports) {
        exit::OK
    } else {
        exit::ERROR
    })
}

pub fn reindex(env: &Env, from: &str, host: Option<&str>) -> Result<u8> {
    let spec = upload::select(env.targets(), Some(from))?[0];
    let others: Vec<_> = env
        .targets()
        .iter()
        .filter(|t| t.name != spec.name)
        .cloned()
        .collect();
    let r = reindex::from_target(&env.repo, spec, &others, host)?;
    for s in &r.skipped {
        eprintln!("strata: reindex: skipped {s}");
    }
    tracing::info!("catalog rebuilt with {} events", r.events);
    Ok(if r.skipped.is_empty() {
        exit::OK
    } else {
        exit::WARN
    })
}

/// Checks copies by reading them on their targets, each target's store opened once
/// (an S3 store brings a runtime and a client) however many events are checked.
pub struct CopyChecker<'a> {
    env: &'a Env,
    open: Vec<(String, Located, Box<dyn crate::store::Store>)>,
}

impl<'a> CopyChecker<'a> {
    pub fn new(env: &'a Env) -> Self {
        CopyChecker {
            env,
            open: Vec::new(),
        }
    }

    /// Problems of `c`, the copy of `ev` on the target `spec` (empty when sound).
    pub fn check(
        &mut self,
        spec: &crate::store::TargetSpec,
        c: &RemoteCopy,
        ev: &Event,
        members: &[Member],
    ) -> Result<Vec<String>> {
        if c.state != CopyState::Done {
            return Ok(vec![format!(
                "target {}: the copy is {}{}",
                spec.name,
                c.state.as_str(),
                c.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )]);
        }
        let i = match self.open.iter().position(|(n, _, _)| *n == spec.name) {
            Some(i) => i,
            None => {
                let cache = self
                    .env
                    .config
                    .as_ref()
                    .and_then(|c| c.remote_cache.as_ref());
                let located =
                    Located::open(&self.env.repo, std::slice::from_ref(spec), cache)?.remote_only();
                self.open
                    .push((spec.name.clone(), located, crate::store::open(spec)?));
                self.open.len() - 1
            }
        };
        let (_, located, store) = &self.open[i];
        Ok(verify_remote::copy(located, &**store, c, ev, members))
    }
}

impl Drop for CopyChecker<'_> {
    fn drop(&mut self) {
        for (_, located, _) in &self.open {
            self.env.report_fetched(located);
        }
    }
}

pub fn verify(env: &Env, id: Option<EventRef>, as_json: bool, target: Option<&str>) -> Result<u8> {
    if env.targets().is_empty() {
        return Err(Error::NotFound(
            "the config names no [[target]]: there is no copy to verify; `strata verify` checks the local archives".into(),
        ));
    }
    let cat = env.catalog()?;
    // Without an id, every copy on every selected target (`--all` says the same).
    let wanted = match id {
        Some(r) => Some(ops::complete_event(&cat, r)?.id),
        None => None,
    };
    let mut bad = 0;
    let mut report = Vec::new();
    let mut checker = CopyChecker::new(env);
    for spec in upload::select(env.targets(), target)? {
        let copies: Vec<_> = cat
            .copies()?
            .into_iter()
            .filter(|c| c.target == spec.name && c.state != CopyState::Removed)
            .filter(|c| wanted.is_none_or(|w| w == c.event_id))
            .collect();
        if let (Some(w), true) = (wanted, copies.is_empty()) {
            bad += 1;
            let msg = format!("target {}: event {w} was never copied there", spec.name);
            eprintln!("strata: verify: {msg}");
            report.push(json!({ "id": w, "target": spec.name, "ok": false, "problems": [msg] }));
        }
        for c in copies {
            let Some(ev) = cat.event(c.event_id)? else {
                continue;
            };
            let problems = checker.check(spec, &c, &ev, &cat.members_with_frames(ev.id)?)?;
            bad += problems.len();
            if !as_json {
                for p in &problems {
                    eprintln!("strata: verify: event {}: {p}", ev.id);
                }
            }
            report.push(json!({ "id": ev.id, "target": spec.name, "ok": problems.is_empty(), "problems": problems }));
        }
    }
    if as_json {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!(report)).expect("json")
        )
        .ctx(|| "stdout".into())?;
    }
    Ok(if bad == 0 { exit::OK } else { exit::WARN })
}
