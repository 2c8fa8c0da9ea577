//! The `[[source]]` tables: the keys each kind takes, and their validation into
//! sources. Every error names the key and the line of its table.

use super::{Ctx, Size};
use crate::error::Result;
use crate::source::{command::CommandSource, files::FilesSource, Source};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) kind: String,
    pub(super) name: Option<String>,
    // files
    include: Option<Vec<String>>,
    exclude_regex: Option<Vec<String>>,
    read_all_fifos: Option<bool>,
    // command
    command: Option<Vec<String>>,
    shell: Option<String>,
    output: Option<String>,
    restore_command: Option<Vec<String>>,
    // mysql
    host: Option<String>,
    port: Option<u16>,
    socket: Option<PathBuf>,
    user: Option<String>,
    pub(super) password: Option<toml::Value>,
    password_file: Option<PathBuf>,
    tls: Option<bool>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_verify_identity: Option<bool>,
    databases: Option<Vec<String>>,
    exclude_databases: Option<Vec<String>>,
    ignore: Option<Vec<String>>,
    ephemeral: Option<Vec<String>>,
    global: Option<Vec<String>>,
    schema_dir: Option<PathBuf>,
    threads: Option<usize>,
    chunk_rows: Option<u64>,
    binlogs: Option<bool>,
    users: Option<bool>,
    binlog_interval: Option<toml::Value>,
    binlog_max_size: Option<Size>,
    insert_bytes: Option<Size>,
    lock_wait_timeout: Option<u64>,
    long_query_guard: Option<u64>,
}

impl RawSource {
    /// The keys that are set, for refusing those of another kind.
    pub(super) fn keys(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut add = |name: &'static str, set: bool| {
            if set {
                k.push(name)
            }
        };
        add("include", self.include.is_some());
        add("exclude_regex", self.exclude_regex.is_some());
        add("read_all_fifos", self.read_all_fifos.is_some());
        add("command", self.command.is_some());
        add("shell", self.shell.is_some());
        add("output", self.output.is_some());
        add("restore_command", self.restore_command.is_some());
        add("host", self.host.is_some());
        add("port", self.port.is_some());
        add("socket", self.socket.is_some());
        add("user", self.user.is_some());
        add("password_file", self.password_file.is_some());
        add("tls", self.tls.is_some());
        add("tls_ca", self.tls_ca.is_some());
        add("tls_cert", self.tls_cert.is_some());
        add("tls_key", self.tls_key.is_some());
        add("tls_verify_identity", self.tls_verify_identity.is_some());
        add("databases", self.databases.is_some());
        add("exclude_databases", self.exclude_databases.is_some());
        add("ignore", self.ignore.is_some());
        add("ephemeral", self.ephemeral.is_some());
        add("global", self.global.is_some());
        add("schema_dir", self.schema_dir.is_some());
        add("threads", self.threads.is_some());
        add("chunk_rows", self.chunk_rows.is_some());
        add("binlogs", self.binlogs.is_some());
        add("users", self.users.is_some());
        add("binlog_interval", self.binlog_interval.is_some());
        add("binlog_max_size", self.binlog_max_size.is_some());
        add("insert_bytes", self.insert_bytes.is_some());
        add("lock_wait_timeout", self.lock_wait_timeout.is_some());
        add("long_query_guard", self.long_query_guard.is_some());
        k
    }
}

pub(super) const FILES_KEYS: &[&str] = &["include", "exclude_regex", "read_all_fifos"];
pub(super) const COMMAND_KEYS: &[&str] = &["command", "shell", "output", "restore_command"];
pub(super) const MYSQL_KEYS: &[&str] = &[
    "host",
    "port",
    "socket",
    "user",
    "password_file",
    "tls",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "tls_verify_identity",
    "databases",
    "exclude_databases",
    "ignore",
    "ephemeral",
    "global",
    "schema_dir",
    "threads",
    "chunk_rows",
    "binlogs",
    "users",
    "binlog_interval",
    "binlog_max_size",
    "insert_bytes",
    "lock_wait_timeout",
    "long_query_guard",
];

pub(super) fn files(cx: &Ctx, at: usize, name: String, s: RawSource) -> Result<Box<dyn Source>> {
    let include = s.include.unwrap_or_default();
    if include.is_empty() {
        return Err(cx.err(
            at,
            "include",
            "a files source needs at least one include path",
        ));
    }
    let mut paths = Vec::new();
    for p in include {
        if !p.starts_with('/') {
            return Err(cx.err(at, "include", format!("{p:?} is not an absolute path")));
        }
        paths.push(PathBuf::from(p));
    }
    let exclude = regex::RegexSet::new(s.exclude_regex.unwrap_or_default())
        .map_err(|e| cx.err(at, "exclude_regex", e.to_string().replace('\n', " ")))?;
    Ok(Box::new(FilesSource {
        name,
        include: paths,
        exclude,
        read_all_fifos: s.read_all_fifos.unwrap_or(false),
    }))
}

pub(super) fn command(cx: &Ctx, at: usize, name: String, s: RawSource) -> Result<Box<dyn Source>> {
    let (argv, shell) =
        match (s.command, s.shell) {
            (Some(argv), None) if !argv.is_empty() && !argv[0].is_empty() => (argv, false),
            (None, Some(sh)) if !sh.trim().is_empty() => (vec![sh], true),
            (Some(_), Some(_)) => {
                return Err(cx.err(
                    at,
                    "shell",
                    "give either `command` (argv list) or `shell`, not both",
                ))
            }
            _ => return Err(cx.err(
                at,
                "command",
                "a command source needs `command = [\"prog\", \"arg\"...]` or `shell = \"...\"`",
            )),
        };
    let output = s.output.unwrap_or_else(|| format!("{name}.out"));
    let ok = !output.is_empty()
        && Path::new(&output)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !ok {
        return Err(cx.err(
            at,
            "output",
            format!("{output:?} must be a relative path without `..`"),
        ));
    }
    let restore_command = match s.restore_command {
        Some(argv) if argv.is_empty() || argv[0].is_empty() => {
            return Err(cx.err(
                at,
                "restore_command",
                "write the program and its arguments, e.g. [\"mongorestore\", \"--archive\", \"--drop\"]",
            ))
        }
        r => r,
    };
    Ok(Box::new(CommandSource {
        name,
        argv,
        shell,
        output,
        restore_command,
    }))
}

fn names(
    cx: &Ctx,
    at: usize,
    key: &str,
    list: Option<Vec<String>>,
) -> Result<crate::source::mysql::select::Names> {
    crate::source::mysql::select::Names::new(&list.unwrap_or_default())
        .map_err(|e| cx.err(at, key, e))
}

pub(super) fn mysql(
    cx: &Ctx,
    at: usize,
    name: String,
    s: RawSource,
    host: &str,
    base: &Path,
) -> Result<Box<dyn Source>> {
    use crate::source::mysql::{connect, MysqlSource};
    if s.socket.is_some() && (s.host.is_some() || s.port.is_some()) {
        return Err(cx.err(
            at,
            "socket",
            "give either `socket` or `host`/`port`, not both",
        ));
    }
    let tls = if s.tls.unwrap_or(false) || s.tls_ca.is_some() || s.tls_cert.is_some() {
        if s.tls_cert.is_some() != s.tls_key.is_some() {
            return Err(cx.err(at, "tls_key", "tls_cert and tls_key go together"));
        }
        Some(connect::Tls {
            ca: s.tls_ca,
            cert: s.tls_cert,
            key: s.tls_key,
            verify_identity: s.tls_verify_identity.unwrap_or(true),
        })
    } else {
        None
    };
    let databases = names(cx, at, "databases", s.databases)?;
    let threads = s.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    if threads == 0 {
        return Err(cx.err(at, "threads", "must be at least 1"));
    }
    let insert_bytes = s.insert_bytes.map(|x| x.0).unwrap_or(1 << 20);
    if !(1024..=(64 << 20)).contains(&insert_bytes) {
        return Err(cx.err(
            at,
            "insert_bytes",
            "must be within 1KiB..=64MiB (max_allowed_packet)",
        ));
    }
    let binlog_interval = match &s.binlog_interval {
        None => std::time::Duration::from_secs(300),
        Some(v) => super::parse_duration(v).ok_or_else(|| {
            cx.err(
                at,
                "binlog_interval",
                "write a duration such as 300, \"30s\", \"5m\" or \"1h\" (at least 1 s)",
            )
        })?,
    };
    let binlog_max_size = s.binlog_max_size.map(|x| x.0).unwrap_or(64 << 20);
    if binlog_max_size < 4096 {
        return Err(cx.err(at, "binlog_max_size", "must be at least 4KiB"));
    }
    Ok(Box::new(MysqlSource {
        connect: connect::Connect {
            host: s.host,
            port: s.port,
            socket: s.socket,
            user: s.user,
            password_file: s.password_file.map(|p| base.join(p)),
            tls,
        },
        databases,
        exclude_databases: names(cx, at, "exclude_databases", s.exclude_databases)?,
        ignore: names(cx, at, "ignore", s.ignore)?,
        ephemeral: names(cx, at, "ephemeral", s.ephemeral)?,
        global: names(cx, at, "global", s.global)?,
        schema_dir: s.schema_dir.map(|p| base.join(p)),
        host: host.to_string(),
        threads,
        chunk_rows: s.chunk_rows.unwrap_or(1_000_000).max(1),
        insert_bytes: insert_bytes as usize,
        lock_wait_timeout: s.lock_wait_timeout.unwrap_or(60),
        long_query_guard: s.long_query_guard.unwrap_or(300),
        binlogs: s.binlogs.unwrap_or(false),
        users: s.users.unwrap_or(false),
        binlog_interval,
        binlog_max_size,
        name,
    }))
}
