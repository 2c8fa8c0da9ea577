//! `strata restore ID [PATH...] --to DIR`.

use super::Env;
use crate::error::{exit, Result};
use crate::ops::{self, restore};
use crate::store::local::LocalStore;
use std::path::Path;

pub fn run(env: &Env, id: i64, paths: &[String], to: &Path) -> Result<u8> {
    let cat = env.catalog()?;
    let ev = ops::complete_event(&cat, id)?;
    let members = restore::select(&cat, id, paths)?;
    let store = LocalStore::new(&env.repo);
    let n = restore::restore(&store, &ev.file, &members, to)?;
    tracing::info!("restored {n} members of event {id} under {}", to.display());
    Ok(exit::OK)
}
