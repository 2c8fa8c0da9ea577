//! `verify` and `reindex`: checking archives and rebuilding the catalog.

use super::Env;
use crate::error::{exit, Error, IoContext, Result};
use crate::ops::{self, reindex, verify};
use crate::store::local::LocalStore;
use serde_json::json;
use std::io::Write;

pub fn verify(env: &Env, id: Option<i64>, all: bool, as_json: bool) -> Result<u8> {
    let cat = env.catalog()?;
    let events = match id {
        Some(id) => vec![ops::complete_event(&cat, id)?],
        None if all => cat
            .events()?
            .into_iter()
            .filter(|e| e.is_complete())
            .collect(),
        None => {
            let latest = cat.events()?.into_iter().rev().find(|e| e.is_complete());
            vec![latest.ok_or_else(|| Error::NotFound("no complete event to verify".into()))?]
        }
    };
    let store = LocalStore::new(&env.repo);
    let mut report = Vec::new();
    let mut bad = 0;
    for ev in &events {
        let members = cat.members_with_frames(ev.id)?;
        let problems = verify::event(&env.repo, &store, ev, &members);
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
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).expect("json")
        )
        .ctx(|| "stdout".into())?;
    }
    Ok(if bad == 0 { exit::OK } else { exit::WARN })
}

pub fn reindex(env: &Env) -> Result<u8> {
    let n = reindex::run(&env.repo)?;
    tracing::info!("catalog rebuilt from {n} archives");
    Ok(exit::OK)
}
