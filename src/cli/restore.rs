//! `strata restore ID [PATH...] --to DIR`, and `strata restore ID SOURCE --run` through
//! a command source's own restore tool.

use super::Env;
use crate::error::{exit, Error, Result};
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

/// `strata restore EVENT SOURCE --run`: the verified output of a command source,
/// streamed into the source's `restore_command` (a minimal environment, as for the
/// backup command); its exit status is strata's.
pub fn run_command(env: &Env, id: EventRef, paths: &[String]) -> Result<u8> {
    let [source] = paths else {
        return Err(Error::Other(
            "restore --run takes one command source's name, e.g. `strata restore latest mongo --run`".into(),
        ));
    };
    let config = env.config.as_ref().ok_or_else(|| Error::RestoreCommand {
        source_name: source.clone(),
        message: "needs the config (its source's restore_command), not -R alone".into(),
    })?;
    let src = config
        .sources
        .iter()
        .find(|s| s.name() == source.as_str())
        .ok_or_else(|| Error::NotFound(format!("the config has no source '{source}'")))?;
    let (path, argv) = src.restore_command().ok_or_else(|| Error::RestoreCommand {
        source_name: source.clone(),
        message: "the source has no restore_command; add one to its [[source]] (e.g. restore_command = [\"mongorestore\", \"--archive\", \"--drop\"])".into(),
    })?;
    let cat = env.catalog()?;
    let ev = ops::complete_event(&cat, id)?;
    let member = cat
        .members_with_frames(ev.id)?
        .into_iter()
        .find(|m| m.path == path)
        .ok_or_else(|| Error::NotFound(format!("event {} holds no {path}", ev.id)))?;
    let store = env.store()?;
    let mut reader = ops::read::member(&store, &ev.file, &member)?;
    let mut cmd = std::process::Command::new(&argv[0]);
    crate::source::command::minimal_env(&mut cmd)
        .args(&argv[1..])
        .stdin(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Error::RestoreCommand {
        source_name: source.clone(),
        message: format!("cannot run {:?}: {e}", argv[0]),
    })?;
    let mut stdin = child.stdin.take().expect("piped");
    let copied = std::io::copy(&mut reader, &mut stdin);
    drop(stdin);
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("restore_command {:?}", argv[0]), e))?;
    env.report_fetched(&store);
    match copied {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(crate::archive::reader::into_error(e, &path));
        }
        Err(_) if status.success() => {
            return Err(Error::RestoreCommand {
                source_name: source.clone(),
                message: format!(
                    "{:?} exited before reading all of {path}; not restored",
                    argv[0]
                ),
            });
        }
        _ => {}
    }
    match status.code() {
        Some(0) => {
            tracing::info!("restored {path} of event {} through {:?}", ev.id, argv[0]);
            Ok(exit::OK)
        }
        code => {
            eprintln!(
                "strata: restore: {:?} failed ({}) restoring {path} of event {}",
                argv[0],
                code.map_or("killed by a signal".into(), |c| format!("exit {c}")),
                ev.id
            );
            Ok(code.map_or(exit::ERROR, |c| c.clamp(1, 255) as u8))
        }
    }
}
