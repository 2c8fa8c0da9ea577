//! The steps of `strata load` that go through the server's own client tools: SQL that
//! uses `DELIMITER` (objects), and the replay of captured binlogs up to a stop point
//! (`mariadb-binlog [--stop-datetime]` decodes, [`super::binlog_filter`] keeps what
//! belongs to the database, [`super::apply`] sends it; a position or a GTID is cut by
//! strata itself in the copies it hands over). Credentials reach the tools in a
//! temporary option file, never argv or their environment.

use super::Db;
use crate::catalog::Catalog;
use crate::error::{Error, IoContext, Result};
use crate::format::binlog::{self, Gtid, Position, Range};
use crate::model::{Event, MemberKind};
use crate::ops::pitr;
use crate::source::mysql::connect::{client_tool, Connect};
use crate::store::Store;
use mysql::prelude::Queryable;
use std::io::Write;
use std::process::{Command, Stdio};

/// The `mariadb` client connected to `c`, database `db`, reading SQL from stdin.
fn client_command(db: &str, cnf: &tempfile::NamedTempFile) -> Result<Command> {
    let mut cmd = Command::new(client_tool(&["mariadb", "mysql"])?);
    cmd.arg(format!("--defaults-extra-file={}", cnf.path().display()))
        .arg("--binary-mode")
        // Fail at once rather than reconnect and go on after a lost statement; the
        // server's own max_allowed_packet is checked before a replay.
        .arg("--skip-reconnect")
        .arg("--max-allowed-packet=1073741824")
        .arg(format!("--database={db}"))
        .env_remove("MYSQL_PWD")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Ok(cmd)
}

/// Runs `sql` through the `mariadb` client in database `db`; `what` names it in an
/// error (`the objects of shop`).
pub fn client(c: &Connect, db: &str, what: &str, sql: &[u8]) -> Result<()> {
    let cnf = c.defaults_file()?;
    let mut child = client_command(db, &cnf)?
        .spawn()
        .ctx(|| "cannot run the mariadb client".into())?;
    let fed = child.stdin.take().expect("piped").write_all(sql);
    let out = child.wait_with_output().ctx(|| "mariadb client".into())?;
    if !out.status.success() || fed.is_err() {
        // The client echoes the failing statement around its ERROR line: keep the line.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .rfind(|l| l.starts_with("ERROR"))
            .unwrap_or(stderr.trim());
        return Err(Error::Other(format!(
            "loading {what} on {}: {why}",
            c.target()
        )));
    }
    Ok(())
}

/// Unix seconds of a local time `YYYY-MM-DD HH:MM:SS`.
fn local_seconds(t: &str) -> Result<i64> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").map_err(|_| {
        Error::Other(format!(
            "--until {t:?}: write a local time as 'YYYY-MM-DD HH:MM:SS'"
        ))
    })?;
    chrono::Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|d| d.timestamp())
        .ok_or_else(|| Error::Other(format!("--until {t:?} does not exist in this time zone")))
}

/// Where a replay stops.
#[derive(Debug, Clone)]
pub enum Until {
    /// A local time `YYYY-MM-DD HH:MM:SS`: every event before it (`--stop-datetime`).
    Time(String),
    /// A server position `FILE:POS`: every event that ends at or before it.
    Position(Position),
    /// A MariaDB GTID: its transaction and everything before it.
    Gtid(Gtid),
}

impl std::fmt::Display for Until {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Until::Time(t) => write!(f, "{t}"),
            Until::Position(p) => write!(f, "position {p}"),
            Until::Gtid(g) => write!(f, "GTID {g}"),
        }
    }
}

/// `(sequence of the file, position)`: positions in log order.
fn order(p: &Position) -> (u64, u64) {
    (binlog::sequence(&p.file), p.pos)
}

impl Until {
    /// Whether the state recorded by event `e` (its binlog position and GTID) already
    /// includes the stop point; `None` when `e` did not record what it takes to know.
    fn reached_by(&self, e: &Event, source: &str) -> Option<bool> {
        let key = |k: &str| e.info.get(&format!("{source}.{k}"));
        match self {
            Until::Time(t) => Some(e.start_time >= local_seconds(t).ok()?),
            Until::Position(p) => {
                let at = Position {
                    file: key("binlog_file")?.clone(),
                    pos: key("binlog_position")?.parse().ok()?,
                };
                Some(order(&at) >= order(p))
            }
            Until::Gtid(g) => Some(binlog::gtid_seq(key("gtid")?, g.domain)? >= g.seq),
        }
    }
}

/// What `--until` replays: from `base`'s snapshot position, the events whose captured
/// binlogs join end to end up to the stop point.
pub struct Chain {
    until: Until,
    file: String,
    pos: String,
    events: Vec<Event>,
}

/// Checks, before anything is loaded, that the binlogs captured after `base` reach
/// `until` without a gap, and returns what to replay.
pub fn plan(cat: &Catalog, base: &Event, dbs: &[Db], until: &Until) -> Result<Chain> {
    if let Until::Time(t) = until {
        local_seconds(t)?;
    }
    if dbs.len() != 1 || dbs[0].objects.is_none() {
        return Err(Error::Other(
            "--until replays one whole database: name one database (not tables)".into(),
        ));
    }
    let source = &dbs[0].source;
    let key = |e: &Event, k: &str| e.info.get(&format!("{source}.{k}")).cloned();
    let (Some(file), Some(pos)) = (key(base, "binlog_file"), key(base, "binlog_position")) else {
        return Err(Error::Other(format!(
            "event {} recorded no binlog position: --until cannot start from it",
            base.id
        )));
    };
    match until.reached_by(base, source) {
        Some(false) => {}
        Some(true) => {
            return Err(Error::Other(format!(
                "--until {until} is not after event {}: load an older event",
                base.id
            )))
        }
        None => {
            return Err(Error::Other(format!(
                "event {} recorded no GTID for that domain: stop at a time or a position",
                base.id
            )))
        }
    }
    // The window of `strata list --pitr` that holds the event must reach the stop.
    let spans = pitr::spans(&cat.binlog_links(source)?, source);
    let window = spans
        .iter()
        .position(|s| s.kind == pitr::Kind::Window && s.holds(base.id))
        .ok_or_else(|| {
            Error::Other(format!(
                "event {} is not in a window of `strata list --pitr` for source '{source}'",
                base.id
            ))
        })?;
    let mut chain: Vec<Event> = Vec::new();
    for e in cat.binlog_events(source, base.id, spans[window].last_event)? {
        let reached = until.reached_by(&e, source) == Some(true);
        chain.push(e);
        if reached {
            return Ok(Chain {
                until: until.clone(),
                file,
                pos,
                events: chain,
            });
        }
    }
    // Past the window: later than anything captured, in the gap after it, or beyond.
    let captured_to = spans.iter().map(|s| s.to).max().unwrap_or(spans[window].to);
    let at = match until {
        Until::Time(t) => local_seconds(t).ok(),
        _ => None,
    };
    let next_window = spans[window + 1..]
        .iter()
        .find(|s| s.kind == pitr::Kind::Window);
    let later = match at {
        Some(u) => u > captured_to,
        None => next_window.is_none(),
    };
    let gap = spans.get(window + 1).filter(|_| !later);
    Err(Error::Other(match (gap, at) {
        (None, _) => format!(
            "--until {until} is later than the binlogs captured so far (up to {}); run `strata binlog` (or a backup) first",
            crate::format::meta::rfc3339(captured_to)
        ),
        (Some(gap), Some(u)) if u > gap.to && next_window.is_some_and(|w| u >= w.from) => format!(
            "--until {until} lies beyond a binlog gap after event {} ({}); load a backup made after the gap (`strata list --pitr` shows what can be restored)",
            base.id,
            gap.detail.as_deref().unwrap_or("not captured")
        ),
        (Some(gap), _) => format!(
            "--until {until} falls in a binlog gap ({}); `strata list --pitr` shows what can be restored",
            gap.detail.as_deref().unwrap_or("not captured")
        ),
    }))
}

/// The captured binlogs of a [`Chain`], cut to what is replayed, in a temporary
/// directory: made before anything is loaded, so that a stop point the logs do not hold
/// or a server that cannot take their events is refused first.
pub struct Prepared {
    _dir: tempfile::TempDir,
    paths: Vec<std::path::PathBuf>,
    time: Option<String>,
}

/// Cuts `chain` for the database of `dbs`: each event's captured range of each file is
/// written to a temporary directory (cut to the range the event recorded, so that no
/// event is replayed twice). Refuses a GTID the logs do not hold, and a target whose
/// `max_allowed_packet` is smaller than an event to replay.
pub fn prepare(
    cat: &Catalog,
    store: &dyn Store,
    chain: &Chain,
    dbs: &[Db],
    c: &Connect,
    c0: &mut mysql::Conn,
) -> Result<Prepared> {
    let Chain {
        until,
        file,
        pos,
        events: chain,
    } = chain;
    let source = &dbs[0].source;
    let dir = tempfile::Builder::new()
        .prefix("strata-replay")
        .tempdir()
        .ctx(|| "cannot create a temporary directory".into())?;
    let mut paths = Vec::new();
    let mut at = Position {
        file: file.clone(),
        pos: pos.parse().unwrap_or(binlog::FIRST),
    };
    let (mut found, mut largest) = (false, 0u64);
    'events: for e in chain {
        let note =
            |k: &str| -> Option<Position> { e.info.get(&format!("{source}.{k}"))?.parse().ok() };
        let (Some(from), Some(to)) = (note("binlog_from"), note("binlog_to")) else {
            return Err(Error::Other(format!(
                "event {} recorded no binlog range for source '{source}'",
                e.id
            )));
        };
        if from != at {
            return Err(Error::Other(format!(
                "the binlogs captured by event {} start at {from}, not at {at} where the events before it stopped",
                e.id
            )));
        }
        let mut members: Vec<crate::model::Member> = cat
            .members_with_frames(e.id)?
            .into_iter()
            .filter(|m| m.kind == MemberKind::Binlog && m.source == *source)
            .collect();
        members.sort_by_key(|m| binlog::sequence(&m.path));
        for m in members {
            let name = m.path.rsplit('/').next().unwrap_or_default().to_string();
            let start = if name == from.file {
                from.pos
            } else {
                binlog::FIRST
            };
            let mut range = Range::new(start, (name == to.file).then_some(to.pos));
            match until {
                Until::Position(p) if p.file == name => {
                    range.to = Some(range.to.map_or(p.pos, |t| t.min(p.pos)))
                }
                Until::Gtid(g) => range.through_gtid = Some(*g),
                _ => {}
            }
            let path = dir.path().join(format!("{:06}-{name}", paths.len()));
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(&path).ctx(|| format!("cannot create {}", path.display()))?,
            );
            let mut r = std::io::BufReader::new(crate::ops::read::member(store, &e.file, &m)?);
            let copied = binlog::copy_range(&mut r, &mut out, range)
                .and_then(|c| out.flush().map(|_| c))
                .map_err(|err| crate::archive::reader::into_error(err, &m.path))?;
            paths.push(path);
            found |= copied.found_gtid;
            largest = largest.max(copied.largest);
            if copied.stopped {
                break 'events;
            }
        }
        at = to;
    }
    if let Until::Gtid(g) = until {
        if !found {
            return Err(Error::Replay {
                target: c.target(),
                message: format!(
                    "GTID {g} is not in the binlogs captured after event {} (no transaction of server {} with that number in domain {}); nothing was loaded: `mariadb-binlog` on the captured files (`strata mount`, binlog/) lists the GTIDs",
                    chain.first().map_or(0, |e| e.id),
                    g.server,
                    g.domain
                ),
            });
        }
    }
    check_packet(c, c0, largest)?;
    Ok(Prepared {
        _dir: dir,
        paths,
        time: match until {
            Until::Time(t) => Some(t.clone()),
            _ => None,
        },
    })
}

/// Refuses, before anything is loaded, a target that would reject an event to replay:
/// a row event goes to the server as base64 (4/3 of its size) in one statement.
fn check_packet(c: &Connect, c0: &mut mysql::Conn, largest: u64) -> Result<()> {
    use mysql::prelude::Queryable;
    let limit: Option<u64> = c0
        .query_first("SELECT @@global.max_allowed_packet")
        .map_err(|e| c.err(&e))?;
    // base64 in lines of 76 characters, and the statement around it.
    let need = largest.div_ceil(3) * 4 * 77 / 76 + 4096;
    match limit {
        Some(limit) if limit < need => Err(Error::Replay {
            target: c.target(),
            message: format!(
                "a statement to replay is {largest} bytes of binlog, more than its max_allowed_packet ({limit}) takes; nothing was loaded: SET GLOBAL max_allowed_packet = {} on it first",
                need.next_power_of_two().min(1 << 30)
            ),
        }),
        _ => Ok(()),
    }
}

/// Replays what [`prepare`] cut into `c`, through `mariadb-binlog` into the client.
pub fn until(prepared: &Prepared, dbs: &[Db], c: &Connect) -> Result<()> {
    if prepared.paths.is_empty() {
        return Ok(());
    }
    replay(&prepared.paths, prepared.time.as_deref(), dbs, c)
}

/// `mariadb-binlog [--stop-datetime] FILES | filter | apply`: the filter
/// ([`super::binlog_filter`]) keeps every statement and row event of the database,
/// whatever the session's default database was; [`super::apply`] sends them to the
/// server many per packet, in one session.
fn replay(
    paths: &[std::path::PathBuf],
    until: Option<&str>,
    dbs: &[Db],
    c: &Connect,
) -> Result<()> {
    let tool = client_tool(&["mariadb-binlog", "mysqlbinlog"])?;
    let mut binlog = Command::new(tool);
    binlog.arg("--no-defaults");
    if tool == "mariadb-binlog" {
        // The pieces follow each other by position, which `plan` checked; a piece that
        // starts within a file has no GTID list for the strict check to compare.
        binlog.arg("--skip-gtid-strict-mode");
    }
    if let Some(t) = until {
        binlog.arg(format!("--stop-datetime={t}"));
    }
    let db = &dbs[0];
    if db.name != db.target {
        binlog.arg(format!("--rewrite-db={}->{}", db.name, db.target));
    }
    let mut conn = c.connect()?;
    let max_packet: Option<u64> = conn
        .query_first("SELECT @@max_allowed_packet")
        .map_err(|e| c.err(&e))?;
    // Batches well under the packet limit; a statement larger than that goes alone.
    let batch_bytes = (max_packet.unwrap_or(16 << 20) / 2).clamp(64 << 10, 8 << 20) as usize;
    conn.query_drop(format!(
        "USE {}",
        crate::source::mysql::sql::ident(&db.target)
    ))
    .map_err(|e| c.err(&e))?;
    // Like the rest of `load`, the replay is not written to the target's binary log
    // where the account may say so; then transactions of row events are joined.
    let join = if conn.query_drop("SET SESSION sql_log_bin = 0").is_ok() {
        super::apply::JOINED_TRANSACTIONS
    } else {
        1
    };
    let mut reader = binlog
        .args(paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ctx(|| "cannot run mariadb-binlog".into())?;
    let scratch = format!("strata_replay_{}", std::process::id());
    let files: Vec<String> = paths
        .iter()
        .map(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.split_once('-')
                .map_or(n.to_string(), |(_, f)| f.to_string())
        })
        .collect();
    let opened: Vec<Option<std::fs::File>> =
        paths.iter().map(|p| std::fs::File::open(p).ok()).collect();
    let lookup = |file: usize, at: u64| {
        let f = opened.get(file)?.as_ref()?;
        binlog::event_at(f, at).ok()
    };
    let scope = super::binlog_filter::Scope {
        old: &db.name,
        target: &db.target,
        scratch: &scratch,
        files: &files,
        lookup: Some(&lookup),
    };
    let text = std::io::BufReader::with_capacity(1 << 20, reader.stdout.take().expect("piped"));
    let (script, script_in) = std::io::pipe().ctx(|| "cannot make a pipe".into())?;
    let started = std::time::Instant::now();
    let (filtered, applied) = std::thread::scope(|s| {
        let filtering = s.spawn(move || {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, script_in);
            let r = super::binlog_filter::filter(text, &mut out, &scope);
            let flushed = out.flush();
            r.and_then(|()| flushed.map_err(super::binlog_filter::Stop::Io))
        });
        let applied = super::apply::apply(
            std::io::BufReader::with_capacity(1 << 20, script),
            &mut conn,
            batch_bytes,
            join,
        );
        // A failed statement stops the replay: the filter's writes fail once the
        // script is dropped, and the reader is stopped.
        if applied.is_err() {
            let _ = reader.kill();
        }
        (
            filtering.join().expect("the binlog filter panicked"),
            applied,
        )
    });
    let read = reader.wait_with_output().ctx(|| "mariadb-binlog".into())?;
    if filtered.is_err() || applied.is_err() {
        drop_scratch(c, &scratch);
    }
    if let Ok(n) = &applied {
        tracing::info!(
            "replayed {n} statements in {:.2} s ({})",
            started.elapsed().as_secs_f64(),
            if join > 1 {
                "transactions joined, not written to the binary log"
            } else {
                "each transaction on its own: the account may not turn sql_log_bin off"
            }
        );
    }
    if let Err(failed) = applied {
        let at = failed
            .at
            .map(|p| format!("stopped at {p} (everything before it was replayed): "))
            .unwrap_or_default();
        return Err(Error::Replay {
            target: c.target(),
            message: format!("{at}{}", failed.why),
        });
    }
    match filtered {
        Err(super::binlog_filter::Stop::Undecidable { at, what }) => {
            return Err(Error::Replay {
                target: c.target(),
                message: format!(
                    "stopped at {at}, before a change strata cannot replay alone: {what}; everything before it was replayed (replay the rest with mariadb-binlog --start-position)"
                ),
            })
        }
        Err(super::binlog_filter::Stop::Io(e)) => {
            return Err(Error::io("replaying the binlogs", e))
        }
        Ok(()) => {}
    }
    if !read.status.success() {
        return Err(Error::Other(format!(
            "mariadb-binlog could not read the captured binlogs: {}",
            String::from_utf8_lossy(&read.stderr).trim()
        )));
    }
    Ok(())
}

fn drop_scratch(c: &Connect, scratch: &str) {
    use mysql::prelude::Queryable;
    if let Ok(mut conn) = c.connect() {
        let _ = conn.query_drop(format!(
            "DROP DATABASE IF EXISTS {}",
            crate::source::mysql::sql::ident(scratch)
        ));
    }
}
