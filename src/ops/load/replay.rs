//! The steps of `strata load` that go through the server's own client tools: SQL that
//! uses `DELIMITER` (objects), and the replay of captured binlogs up to a moment
//! (`mariadb-binlog --start-position --stop-datetime | mariadb`). Credentials reach
//! the tools in a temporary option file, never argv or their environment.

use super::Db;
use crate::catalog::Catalog;
use crate::error::{Error, IoContext, Result};
use crate::model::{Event, MemberKind};
use crate::ops::pitr;
use crate::source::mysql::binlog;
use crate::source::mysql::connect::{client_tool, Connect};
use crate::store::Store;
use std::io::Write;
use std::process::{Command, Stdio};

/// The `mariadb` client connected to `c`, database `db`, reading SQL from stdin.
fn client_command(db: &str, cnf: &tempfile::NamedTempFile) -> Result<Command> {
    let mut cmd = Command::new(client_tool(&["mariadb", "mysql"])?);
    cmd.arg(format!("--defaults-extra-file={}", cnf.path().display()))
        .arg("--binary-mode")
        .arg(format!("--database={db}"))
        .env_remove("MYSQL_PWD")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Ok(cmd)
}

/// Runs `sql` through the `mariadb` client in database `db`.
pub fn client(c: &Connect, db: &str, sql: &[u8]) -> Result<()> {
    let cnf = c.defaults_file()?;
    let mut child = client_command(db, &cnf)?
        .spawn()
        .ctx(|| "cannot run the mariadb client".into())?;
    let fed = child.stdin.take().expect("piped").write_all(sql);
    let out = child.wait_with_output().ctx(|| "mariadb client".into())?;
    if !out.status.success() || fed.is_err() {
        return Err(Error::Other(format!(
            "loading the objects of {db} on {}: {}",
            c.target(),
            String::from_utf8_lossy(&out.stderr).trim()
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

/// What `--until` replays: from `base`'s snapshot position, the events whose captured
/// binlogs join end to end up to the moment.
pub struct Chain {
    until: String,
    file: String,
    pos: String,
    events: Vec<Event>,
}

/// Checks, before anything is loaded, that the binlogs captured after `base` reach
/// `until` without a gap, and returns what to replay.
pub fn plan(cat: &Catalog, base: &Event, dbs: &[Db], until: &str) -> Result<Chain> {
    let at = local_seconds(until)?;
    let events = cat.events()?;
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
    if at < base.start_time {
        return Err(Error::Other(format!(
            "--until {until} is before event {} was taken: load an older event",
            base.id
        )));
    }
    // The window of `strata list --pitr` that holds the event must reach the moment.
    let spans = pitr::spans(&events, source);
    let window = spans
        .iter()
        .position(|s| s.kind == pitr::Kind::Window && s.events.contains(&base.id))
        .expect("an event with a binlog position is in a window");
    if spans[window].to < at {
        return Err(Error::Other(match spans.get(window + 1) {
            Some(gap) => format!(
                "--until {until} falls in a binlog gap ({}); `strata list --pitr` shows what can be restored",
                gap.detail.as_deref().unwrap_or("not captured")
            ),
            None => format!(
                "--until {until} is later than the binlogs captured so far (up to {}); run a backup first",
                crate::format::meta::rfc3339(spans[window].to)
            ),
        }));
    }
    let mut chain: Vec<Event> = Vec::new();
    for id in spans[window].events.iter().filter(|&&id| id > base.id) {
        let e = events.iter().find(|e| e.id == *id).expect("listed event");
        chain.push(e.clone());
        if e.start_time >= at {
            break;
        }
    }
    Ok(Chain {
        until: until.to_string(),
        file,
        pos,
        events: chain,
    })
}

/// Replays `chain` into `c` for the database of `dbs`: the captured files are written
/// to a temporary directory and piped through `mariadb-binlog` into the client.
pub fn until(
    cat: &Catalog,
    store: &dyn Store,
    chain: &Chain,
    dbs: &[Db],
    c: &Connect,
) -> Result<()> {
    let Chain {
        until,
        file,
        pos,
        events: chain,
    } = chain;
    let dir = tempfile::Builder::new()
        .prefix("strata-replay")
        .tempdir()
        .ctx(|| "cannot create a temporary directory".into())?;
    // The newest copy of each file (a file still being written is copied again later).
    let mut files: std::collections::BTreeMap<(u64, String), (&Event, crate::model::Member)> =
        Default::default();
    for e in chain {
        for m in cat.members_with_frames(e.id)? {
            if m.kind == MemberKind::Binlog {
                let name = m.path.rsplit('/').next().unwrap_or_default().to_string();
                files.insert((binlog::sequence(&name), name), (e, m));
            }
        }
    }
    let mut paths = Vec::new();
    for ((_, name), (e, m)) in &files {
        let path = dir.path().join(name);
        let mut out =
            std::fs::File::create(&path).ctx(|| format!("cannot create {}", path.display()))?;
        let mut r = crate::ops::read::member(store, &e.file, m)?;
        std::io::copy(&mut r, &mut out)
            .map_err(|e| crate::archive::reader::into_error(e, &m.path))?;
        paths.push(path);
    }
    if paths
        .first()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        != Some(file.as_str())
    {
        return Err(Error::Other(format!(
            "the captured binlogs do not start with {file}, where the loaded event stopped"
        )));
    }
    replay(&paths, pos, until, dbs, c)
}

/// `mariadb-binlog --start-position --stop-datetime FILES | mariadb`.
fn replay(
    paths: &[std::path::PathBuf],
    pos: &str,
    until: &str,
    dbs: &[Db],
    c: &Connect,
) -> Result<()> {
    let mut binlog = Command::new(client_tool(&["mariadb-binlog", "mysqlbinlog"])?);
    binlog
        .arg("--no-defaults")
        .arg(format!("--start-position={pos}"))
        .arg(format!("--stop-datetime={until}"));
    if let [one] = dbs {
        binlog.arg(format!("--database={}", one.name));
        if one.name != one.target {
            binlog.arg(format!("--rewrite-db={}->{}", one.name, one.target));
        }
    }
    let mut reader = binlog
        .args(paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ctx(|| "cannot run mariadb-binlog".into())?;
    let cnf = c.defaults_file()?;
    let mut load = client_command(&dbs[0].target, &cnf)?;
    load.stdin(reader.stdout.take().expect("piped"));
    let out = load
        .output()
        .ctx(|| "cannot run the mariadb client".into())?;
    let read = reader.wait_with_output().ctx(|| "mariadb-binlog".into())?;
    if !read.status.success() {
        return Err(Error::Other(format!(
            "mariadb-binlog could not read the captured binlogs: {}",
            String::from_utf8_lossy(&read.stderr).trim()
        )));
    }
    if !out.status.success() {
        return Err(Error::Other(format!(
            "replaying the binlogs into {}: {}",
            c.target(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
