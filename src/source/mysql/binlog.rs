//! Binary logs captured with each backup (`binlogs = true`) and by `strata binlog
//! --follow`: the range of the server's log from the position the previous event
//! recorded to this event's own position, stored per file as `<source>/binlog/<file>`
//! (kind `binlog`), each a range copy (`format::binlog`) that `mariadb-binlog` /
//! `mysqlbinlog` read as it is. Consecutive events never hold the same event twice.
//!
//! They are fetched by `mariadb-binlog --read-from-remote-server --raw` (or
//! `mysqlbinlog`), which writes the server's bytes unchanged; its credentials come from a
//! temporary option file, never argv or its environment. The covered range is noted on
//! the event (`<source>.binlog_from`, `binlog_to`, `binlog_first_time`,
//! `binlog_last_time`), so the catalog knows the window without reading archives. A file
//! the server purged before it was copied is a gap: noted (`<source>.binlog_gap`) and
//! warned about, which makes the backup exit with its warning status.

use super::connect::Connect;
use crate::error::{Error, IoContext, Result};
use crate::format::binlog;
use crate::model::{Member, MemberKind, MemberSink, SinkError};
use mysql::prelude::Queryable;
use mysql::Conn;

pub use crate::format::binlog::{sequence, Position};

/// Where the server's binary log stands now; `None` when it writes none. MySQL 8.4
/// renamed the statement, so both names are tried.
pub fn master_status(conn: &mut Conn) -> std::result::Result<Option<Position>, mysql::Error> {
    let row: Option<mysql::Row> = conn
        .query_first("SHOW MASTER STATUS")
        .or_else(|_| conn.query_first("SHOW BINARY LOG STATUS"))?;
    Ok(row.and_then(|r| {
        Some(Position {
            file: r.get(0)?,
            pos: r.get(1)?,
        })
    }))
}

/// The server's binlog files from `since`'s to `now`'s, in order, with their sizes.
pub fn files_between(
    conn: &mut Conn,
    c: &Connect,
    since: &Position,
    now: &Position,
) -> Result<Vec<(String, u64)>> {
    let logs: Vec<mysql::Row> = conn.query("SHOW BINARY LOGS").map_err(|e| c.err(&e))?;
    let range = sequence(&since.file)..=sequence(&now.file);
    Ok(logs
        .into_iter()
        .filter_map(|r| Some((r.get::<String, _>(0)?, r.get::<u64, _>(1).unwrap_or(0))))
        .filter(|(f, _)| range.contains(&sequence(f)))
        .collect())
}

/// Refuses a server that writes no binary log.
pub fn check_enabled(conn: &mut Conn, c: &Connect, source: &str) -> Result<()> {
    let on: Option<u64> = conn
        .query_first("SELECT @@log_bin")
        .map_err(|e| c.err(&e))?;
    if on != Some(1) {
        return Err(Error::Other(format!(
            "source '{source}': binlogs = true, but the server at {} runs without log_bin (start it with --log-bin)",
            c.target()
        )));
    }
    Ok(())
}

/// Copies the binlog files from `since` (where the previous backup stopped; `None` on
/// the first backup, which then captures nothing) up to `now` into the sink.
pub fn capture(
    conn: &mut Conn,
    c: &Connect,
    source: &str,
    since: Option<Position>,
    now: &Position,
    sink: &mut dyn MemberSink,
) -> Result<()> {
    sink.note(format!("{source}.binlog_to"), now.to_string());
    let Some(since) = since else {
        sink.note(format!("{source}.binlog_from"), now.to_string());
        return Ok(());
    };
    let files: Vec<String> = files_between(conn, c, &since, now)?
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    let from = if files.first() == Some(&since.file) {
        since.clone()
    } else {
        let first = files.first().cloned().unwrap_or_else(|| now.file.clone());
        let gap = format!("{since} .. {first}:4");
        sink.note(format!("{source}.binlog_gap"), gap.clone());
        sink.warn(format!(
            "source '{source}': binlog gap: the server purged {} before strata copied it; no point in time between {since} and {first}:4 can be recovered (keep binlogs longer than the backup interval: binlog_expire_logs_seconds)",
            since.file
        ));
        Position {
            file: first,
            pos: 4,
        }
    };
    sink.note(format!("{source}.binlog_from"), from.to_string());
    if files.is_empty() || from == *now {
        return Ok(());
    }
    // In the event's spool directory: removed with it, also after a crash.
    let spool = sink.spool().dir;
    std::fs::create_dir_all(&spool).ctx(|| format!("cannot create {}", spool.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("binlog-")
        .tempdir_in(&spool)
        .ctx(|| format!("cannot create a directory in {}", spool.display()))?;
    fetch(c, &files, from.pos, dir.path())?;
    let mut window: Option<(u32, u32)> = None;
    for f in &files {
        let fetched = dir.path().join(f);
        let start = if *f == from.file {
            from.pos
        } else {
            binlog::FIRST
        };
        let end = (*f == now.file).then_some(now.pos);
        let copied = range_file(&fetched, start, end)?;
        if let Some((a, b)) = copied.window {
            window = Some(window.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
        let mut file = std::fs::File::open(fetched.with_extension("range"))
            .ctx(|| format!("cannot read the range copy of {f}"))?;
        let member = Member::new(
            source,
            format!("{source}/binlog/{f}"),
            MemberKind::Binlog,
            super::meta(),
        );
        match sink.stream(member, &mut file) {
            Ok(_) => {}
            Err(SinkError::Read(e)) => return Err(Error::io(format!("cannot read {f}"), e)),
            Err(SinkError::Closed(e)) => return Err(e),
        }
    }
    if let Some((a, b)) = window {
        sink.note(format!("{source}.binlog_first_time"), a.to_string());
        sink.note(format!("{source}.binlog_last_time"), b.to_string());
    }
    Ok(())
}

/// Cuts the fetched `path` to `[start, end)` of the server's file, into `path.range`.
fn range_file(path: &std::path::Path, start: u64, end: Option<u64>) -> Result<binlog::Copied> {
    let name = path.display();
    let mut input = std::io::BufReader::new(
        std::fs::File::open(path).ctx(|| format!("mariadb-binlog wrote no {name}"))?,
    );
    let out = path.with_extension("range");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&out).ctx(|| format!("cannot create {}", out.display()))?,
    );
    let copied = binlog::copy_range(&mut input, &mut w, binlog::Range::new(start, end))
        .ctx(|| format!("cannot copy {name}"))?;
    if let Some(e) = end.filter(|&e| copied.end.unwrap_or(binlog::FIRST) < e) {
        return Err(Error::Other(format!(
            "the server sent {name} only up to {}, not to {e}",
            copied.end.unwrap_or(binlog::FIRST)
        )));
    }
    Ok(copied)
}

/// Runs the binlog client to copy `files` from the server into `dir`, unchanged, the
/// first from `start` (the server then sends the file's header and the events from
/// there, which is a range copy).
fn fetch(c: &Connect, files: &[String], start: u64, dir: &std::path::Path) -> Result<()> {
    let tool = super::connect::client_tool(&["mariadb-binlog", "mysqlbinlog"])?;
    let cnf = c.defaults_file()?;
    let out = std::process::Command::new(tool)
        .arg(format!("--defaults-extra-file={}", cnf.path().display()))
        .args(["--read-from-remote-server", "--raw"])
        .arg(format!("--start-position={start}"))
        .arg(format!("--result-file={}/", dir.display()))
        .args(files)
        .env_remove("MYSQL_PWD")
        .stdin(std::process::Stdio::null())
        .output()
        .ctx(|| format!("cannot run {tool}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Other(format!(
            "{tool} could not copy binlogs from {}: {}",
            c.target(),
            err.lines().last().unwrap_or("no message").trim()
        )));
    }
    Ok(())
}
