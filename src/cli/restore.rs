//! `strata restore ID [PATH...] --to DIR`.

use super::Env;
use crate::error::{exit, Result};
use crate::ops::{self, restore, EventRef};
use std::path::Path;

pub fn run(env: &Env, id: EventRef, paths: &[String], to: &Path) -> Result<u8> {
    let cat = env.catalog()?;
    let ev = ops::complete_event(&cat, id)?;
    let id = ev.id;
    let members = restore::select(&cat, id, paths)?;
    let store = env.store()?;
    let r = restore::restore(&store, &ev.file, &members, to)?;
    env.report_fetched(&store);
    for f in &r.failed {
        eprintln!("strata: restore: not restored: {f}");
    }
    if r.failed.is_empty() {
        tracing::info!(
            "restored {} members of event {id} under {}",
            r.done.len(),
            to.display()
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "strata: restore: {} of {} members restored under {}, {} failed (listed above)",
        r.done.len(),
        members.len(),
        to.display(),
        r.failed.len()
    );
    Ok(exit::ERROR)
}
