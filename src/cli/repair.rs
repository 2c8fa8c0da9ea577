//! `verify` and `reindex`: checking archives and rebuilding the catalog.

use super::Env;
use crate::error::{exit, Error, IoContext, Result};
use crate::ops::{self, reindex, verify, EventRef};
use serde_json::json;
use std::io::Write;

pub fn verify(env: &Env, id: Option<EventRef>, all: bool, as_json: bool) -> Result<u8> {
    let cat = env.catalog()?;
    let events = match id {
        Some(id) => vec![ops::complete_event(&cat, id)?],
        None if all => cat
            .events()?
            .into_iter()
            .filter(|e| e.is_readable())
            .collect(),
        None => vec![ops::complete_event(&cat, EventRef::Latest(0))
            .map_err(|_| Error::NotFound("no complete event to verify".into()))?],
    };
    let store = env.store()?;
    let mut report = Vec::new();
    let mut bad = 0;
    let repo_problems = if all {
        verify::repository(&env.repo, &cat)?
    } else {
        Vec::new()
    };
    bad += repo_problems.len();
    if !as_json {
        for p in &repo_problems {
            eprintln!("strata: verify: {p}");
        }
    }
    let mut checker = super::remote::CopyChecker::new(env);
    for ev in &events {
        let members = cat.members_with_frames(ev.id)?;
        let problems = if env.repo.join(&ev.file).exists() {
            verify::event(&env.repo, &store, ev, &members)
        } else {
            remote_copies(env, &mut checker, &cat, ev, &members)?
        };
        bad += problems.len();
        if !as_json {
            for p in &problems {
                eprintln!("strata: verify: event {}: {p}", ev.id);
            }
            tracing::info!(
                "event {}: {} members checked, {} problems",
                ev.id,
                members.len(),
                problems.len()
            );
        }
        report.push(json!({ "id": ev.id, "archive": ev.file, "ok": problems.is_empty(), "problems": problems }));
    }
    if as_json {
        let v = if all {
            json!({ "ok": bad == 0, "repository": repo_problems, "events": report })
        } else {
            json!(report)
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string_pretty(&v).expect("json"))
            .ctx(|| "stdout".into())?;
    }
    Ok(if bad == 0 { exit::OK } else { exit::WARN })
}

/// An event whose local archive is gone is checked where it was copied: each target
/// holding it must hold it whole.
fn remote_copies(
    env: &Env,
    checker: &mut super::remote::CopyChecker,
    cat: &crate::catalog::Catalog,
    ev: &crate::model::Event,
    members: &[crate::model::Member],
) -> Result<Vec<String>> {
    let copies: Vec<_> = cat
        .copies_of(ev.id)?
        .into_iter()
        .filter(|c| c.state == crate::catalog::CopyState::Done)
        .collect();
    if copies.is_empty() {
        return Ok(vec![format!(
            "archive {} is missing and no target holds a copy",
            ev.file
        )]);
    }
    let mut problems = Vec::new();
    for c in &copies {
        match env.targets().iter().find(|t| t.name == c.target) {
            Some(spec) => problems.extend(checker.check(spec, c, ev, members)?),
            None => problems.push(format!(
                "archive {} is missing here and its copy is on target {}, which the config no longer names",
                ev.file, c.target
            )),
        }
    }
    Ok(problems)
}

pub fn reindex(env: &Env) -> Result<u8> {
    let r = reindex::run(&env.repo)?;
    for s in &r.skipped {
        eprintln!("strata: reindex: skipped {s}");
    }
    if r.skipped.is_empty() {
        tracing::info!("catalog rebuilt from {} archives", r.events);
        Ok(exit::OK)
    } else {
        eprintln!(
            "strata: reindex: catalog rebuilt from {} archives; {} skipped (above)",
            r.events,
            r.skipped.len()
        );
        Ok(exit::WARN)
    }
}
