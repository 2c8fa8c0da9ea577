//! `strata load`: the command's arguments turned into a server to connect to and a
//! plan, a one-line summary (or the plan, with --dry-run).

use super::Env;
use crate::error::{exit, Error, Result};
use crate::ops::load::replay::Until;
use crate::ops::{self, load, EventRef};
use crate::source::mysql::connect::Connect;
use std::io::IsTerminal;
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

/// A bar of the SQL loaded, with tables done and rows per second, until `done`.
fn show_progress(
    p: &load::tables::Progress,
    done: &std::sync::atomic::AtomicBool,
    total: u64,
    tables: usize,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} {elapsed}",
        )
        .expect("valid template"),
    );
    let t = std::time::Instant::now();
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        bar.set_position(p.bytes.load(Relaxed));
        let rows = p.rows.load(Relaxed);
        bar.set_message(format!(
            "tables {}/{tables}, {:.0} rows/s",
            p.tables.load(Relaxed),
            rows as f64 / t.elapsed().as_secs_f64().max(1e-3)
        ));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    bar.finish_and_clear();
}

pub fn run(env: &Env, id: EventRef, a: Args) -> Result<u8> {
    let cat = env.catalog()?;
    let ev = ops::complete_event(&cat, id)?;
    if ev.binlog_only() {
        return Err(Error::Other(format!(
            "event {} holds binary logs only (made by `strata binlog`): load the backup before it with --until (`strata list` shows it)",
            ev.id
        )));
    }
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
    let progress = load::tables::Progress::default();
    let total: u64 = dbs
        .iter()
        .flat_map(|d| &d.tables)
        .map(|(_, m)| m.size)
        .sum();
    let tables: usize = dbs.iter().map(|d| d.tables.len()).sum();
    let done = std::sync::atomic::AtomicBool::new(false);
    let s = std::thread::scope(|sc| {
        if std::io::stderr().is_terminal() && !env.quiet {
            sc.spawn(|| show_progress(&progress, &done, total, tables));
        }
        let r = load::run(&cat, &store, &ev, &dbs, &opts, &progress);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    })?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "loaded {} database(s), {} table(s), {} rows, {} of SQL from event {} into {} in {secs:.1} s ({:.0} rows/s, {:.1} MB/s){}",
        s.databases,
        s.tables,
        s.rows,
        super::fmt::size(s.bytes),
        ev.id,
        opts.target.target(),
        s.rows as f64 / secs.max(1e-3),
        s.bytes as f64 / 1e6 / secs.max(1e-3),
        opts.until
            .as_ref()
            .map(|u| format!(", binlogs replayed up to {u}"))
            .unwrap_or_default()
    );
    for (db, others) in &s.beside {
        const SHOWN: usize = 5;
        let more = others.len().saturating_sub(SHOWN);
        println!(
            "{db} already held {} other table(s), left as they were: {}{}",
            others.len(),
            others[..others.len().min(SHOWN)]
                .iter()
                .map(|t| t.escape_debug().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    env.report_fetched(&store);
    Ok(exit::OK)
}
