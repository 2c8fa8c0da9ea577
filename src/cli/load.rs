//! `strata load`: the command's arguments turned into a server to connect to and a
//! plan, a one-line summary (or the plan, with --dry-run).

use super::Env;
use crate::error::{exit, Error, Result};
use crate::ops::load::replay::Until;
use crate::ops::{self, load, EventRef};
use crate::source::mysql::connect::Connect;
use std::path::PathBuf;

pub struct Args<'a> {
    pub what: &'a [String],
    pub to: &'a str,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub rename: &'a [String],
    pub threads: Option<usize>,
    pub drop_existing: bool,
    pub dry_run: bool,
    pub until: Option<Until>,
}

/// The stop point of `--until`, `--until-position` or `--until-gtid` (at most one).
pub fn until(
    time: &Option<String>,
    position: &Option<String>,
    gtid: &Option<String>,
) -> Result<Option<Until>> {
    let bad = |flag: &str, e: String| Error::Other(format!("{flag}: {e}"));
    Ok(match (time, position, gtid) {
        (Some(t), _, _) => Some(Until::Time(t.clone())),
        (_, Some(p), _) => Some(Until::Position(
            p.parse().map_err(|e| bad("--until-position", e))?,
        )),
        (_, _, Some(g)) => Some(Until::Gtid(g.parse().map_err(|e| bad("--until-gtid", e))?)),
        _ => None,
    })
}

/// `HOST[:PORT]`, or a socket path (starting with `/`).
fn server(to: &str, user: Option<String>, password_file: Option<PathBuf>) -> Result<Connect> {
    let mut c = Connect {
        user,
        password_file,
        ..Default::default()
    };
    if to.starts_with('/') {
        c.socket = Some(PathBuf::from(to));
    } else {
        let (host, port) =
            match to.rsplit_once(':') {
                Some((h, p)) => (
                    h,
                    Some(p.parse::<u16>().map_err(|_| {
                        Error::Other(format!("--to {to}: the port must be a number"))
                    })?),
                ),
                None => (to, None),
            };
        c.host = Some(host.to_string());
        c.port = port;
    }
    Ok(c)
}

pub fn run(env: &Env, id: EventRef, a: Args) -> Result<u8> {
    let cat = env.catalog()?;
    let ev = ops::complete_event(&cat, id)?;
    let renames = a
        .rename
        .iter()
        .map(|r| {
            r.split_once('=')
                .map(|(o, n)| (o.to_string(), n.to_string()))
                .ok_or_else(|| Error::Other(format!("--rename {r}: write OLD=NEW")))
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = load::Options {
        target: server(a.to, a.user, a.password_file)?,
        selection: a.what.to_vec(),
        renames,
        threads: a.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        drop_existing: a.drop_existing,
        dry_run: a.dry_run,
        until: a.until,
    };
    let dbs = load::plan(&cat.members_with_frames(ev.id)?, &opts)?;
    if opts.dry_run {
        for line in load::describe(&dbs, &opts) {
            println!("{line}");
        }
        return Ok(exit::OK);
    }
    let store = env.store()?;
    let t = std::time::Instant::now();
    let s = load::run(&cat, &store, &ev, &dbs, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "loaded {} database(s), {} table(s), {} of SQL from event {} into {} in {secs:.1} s ({:.1} MB/s){}",
        s.databases,
        s.tables,
        super::fmt::size(s.bytes),
        ev.id,
        opts.target.target(),
        s.bytes as f64 / 1e6 / secs.max(1e-3),
        opts.until
            .as_ref()
            .map(|u| format!(", binlogs replayed up to {u}"))
            .unwrap_or_default()
    );
    env.report_fetched(&store);
    Ok(exit::OK)
}
