//! The `mysql` source: native, parallel, consistent dumps of MySQL/MariaDB.
//!
//! A brief global read lock (after checking for long-running queries) lets every
//! worker connection start a consistent-snapshot transaction at the same point and
//! lets the binlog position and GTID be recorded; non-transactional tables are dumped
//! while the lock is still held, then it is released. Tables (and primary-key ranges
//! of big tables) are dumped in parallel, each worker compressing its own output into
//! a spool file; members are handed to the archive in a fixed order: per database,
//! `.database.sql`, every `<table>.sql`, then `.objects.sql`.

pub mod binlog;
pub mod connect;
pub mod dump;
pub mod follow;
pub mod objects;
pub mod ordered;
pub mod schema;
pub mod schema_dir;
pub mod select;
pub mod sql;
pub mod users;

use super::Source;
use crate::error::{Error, Result};
use crate::format::names;
use crate::model::{FileMeta, Member, MemberKind, MemberSink, SinkError, SpooledPart};
use connect::Connect;
use dump::Job;
use mysql::prelude::Queryable;
use mysql::Conn;
use schema::{Table, TableType};
use select::Names;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How a table is treated (schema_backup's categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Not dumped at all.
    Ignore,
    /// Structure only, never data (caches, sessions, queues).
    Ephemeral,
    /// Reference data: also written, with its rows, to the schema directory.
    Global,
    /// User data: dumped, never written to the schema directory.
    Local,
}

#[derive(Clone)]
pub struct MysqlSource {
    pub name: String,
    pub connect: Connect,
    /// Databases to dump (empty: all but the system ones); [`select`] says how.
    pub databases: Names,
    pub exclude_databases: Names,
    /// Over `db.table`.
    pub ignore: Names,
    pub ephemeral: Names,
    pub global: Names,
    pub schema_dir: Option<PathBuf>,
    /// Directory name under `schema_dir` (the config's host name).
    pub host: String,
    pub threads: usize,
    /// Tables with more rows (estimated) are dumped in primary-key ranges of this size.
    pub chunk_rows: u64,
    /// Upper bound of one INSERT statement in bytes.
    pub insert_bytes: usize,
    /// Seconds to wait for the global read lock.
    pub lock_wait_timeout: u64,
    /// Queries running longer than this many seconds make the backup wait (then fail)
    /// rather than queue everything behind the global read lock.
    pub long_query_guard: u64,
    /// Capture the binary logs written since the previous backup (`binlog` module).
    pub binlogs: bool,
    /// Back up users, roles and grants ([`users`]) as `<source>/.users.sql`.
    pub users: bool,
    /// `strata binlog --follow` closes an event this often, or after this many bytes
    /// of binary log, whichever comes first.
    pub binlog_interval: Duration,
    pub binlog_max_size: u64,
}

enum Plan {
    Inline(Member, Vec<u8>),
    /// A table's member, its jobs, and the hashes they share when there are several.
    Jobs(
        Member,
        Vec<usize>,
        Option<std::sync::Arc<ordered::OrderedHash>>,
    ),
}

/// What is read of a table under the global read lock, with the rest of the schema.
struct TableSchema {
    create: String,
    columns: std::sync::Arc<Vec<String>>,
    triggers: Option<std::sync::Arc<Vec<u8>>>,
}

struct Db {
    name: String,
    tables: Vec<(Table, Category)>,
}

/// Metadata of a member made by this source: the dumping user's, mode 0640, now.
pub(super) fn meta() -> FileMeta {
    // SAFETY: getuid(2) and getgid(2) read the process's ids; they cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    FileMeta {
        mode: 0o640,
        mtime: chrono::Utc::now().timestamp(),
        uid,
        gid,
    }
}

impl MysqlSource {
    fn category(&self, db: &str, table: &str) -> Category {
        let key = format!("{db}.{table}");
        if self.ignore.is_match(&key) {
            Category::Ignore
        } else if self.ephemeral.is_match(&key) {
            Category::Ephemeral
        } else if self.global.is_match(&key) {
            Category::Global
        } else {
            Category::Local
        }
    }

    fn wanted(&self, db: &str) -> bool {
        let included = if select::SYSTEM_DATABASES.contains(&db) {
            self.databases.names(db)
        } else {
            self.databases.is_empty() || self.databases.is_match(db)
        };
        included && !self.exclude_databases.is_match(db)
    }

    /// The databases to dump of those on the server: an exact name that is not there, or
    /// a selection of nothing, is an error; a glob that matches nothing, a warning.
    fn selected(&self, all: &[String], warn: &mut dyn FnMut(String)) -> Result<Vec<String>> {
        let missing: Vec<&str> = self
            .databases
            .exact_names()
            .filter(|n| !all.iter().any(|d| d == n))
            .collect();
        if !missing.is_empty() {
            return Err(Error::NotFound(format!(
                "databases {} named in the config do not exist on {}; fix `databases` (an entry with * or ? is a glob)",
                missing.join(", "),
                self.connect.target()
            )));
        }
        let out: Vec<String> = all.iter().filter(|d| self.wanted(d)).cloned().collect();
        for p in self.databases.unmatched(&out) {
            warn(format!(
                "source '{}': the pattern {p:?} in `databases` matches no database",
                self.name
            ));
        }
        if out.is_empty() {
            return Err(Error::NotFound(format!(
                "no database on {} is selected by `databases`/`exclude_databases`; nothing to back up",
                self.connect.target()
            )));
        }
        Ok(out)
    }

    /// A member `<source>/<db>/<file>`, the database name encoded (FORMAT.md, "Names
    /// of database members"); `file` is already a safe component.
    fn member(&self, db: &str, file: &str, kind: MemberKind) -> Member {
        Member::new(
            &self.name,
            format!("{}/{}/{file}", self.name, names::database(db)),
            kind,
            meta(),
        )
    }

    /// Waits (up to `long_query_guard` seconds more) while queries older than the guard
    /// run, since FLUSH TABLES WITH READ LOCK would wait for them and block everyone.
    fn wait_for_long_queries(&self, c0: &mut Conn) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.long_query_guard);
        loop {
            let n: Option<u64> = c0
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST
                     WHERE COMMAND = 'Query' AND TIME > ? AND ID <> CONNECTION_ID()",
                    (self.long_query_guard,),
                )
                .map_err(|e| self.connect.err(&e))?;
            if n.unwrap_or(0) == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "source '{}': queries running longer than {} s on {} would block the global read lock; not dumping (raise long_query_guard or end them)",
                    self.name,
                    self.long_query_guard,
                    self.connect.target()
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn plan(
        &self,
        c0: &mut Conn,
        sink: &mut dyn MemberSink,
    ) -> Result<(Vec<Db>, Vec<Plan>, Vec<Job>)> {
        let c = &self.connect;
        let mut dbs = Vec::new();
        let mut plans = Vec::new();
        let mut jobs: Vec<Job> = Vec::new();
        let mut listed = Vec::new();
        let all: Vec<String> = schema::databases(c0, c)?;
        for db in self.selected(&all, &mut |w| sink.warn(w))? {
            let tables: Vec<(Table, Category)> = schema::tables(c0, c, &db)?
                .into_iter()
                .map(|t| {
                    let cat = self.category(&db, &t.name);
                    (t, cat)
                })
                .collect();
            listed.push((db, tables));
        }
        // Ranges cost queries and memory for the bytes hashed in order (`ordered`):
        // cut only tables big enough to hold up the other workers (more than their
        // share of all rows).
        let total_rows: u64 = listed
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .filter(|(t, cat)| {
                matches!(cat, Category::Local | Category::Global) && t.kind != TableType::View
            })
            .map(|(t, _)| t.rows)
            .sum();
        let share = total_rows / self.threads.max(1) as u64;
        for (db, mut tables) in listed {
            let create = schema::create_database(c0, c, &db)?;
            let mut columns = schema::data_columns_of(c0, c, &db)?;
            plans.push(Plan::Inline(
                self.member(&db, ".database.sql", MemberKind::Database),
                dump::database_sql(&create, &db),
            ));
            // Sequences first: a table's default may draw from one (NEXTVAL).
            tables.sort_by_key(|(t, _)| t.kind != TableType::Sequence);
            let mut warn = |w: String| sink.warn(format!("source '{}': {w}", self.name));
            let mut objects = objects::dump(
                c0,
                c,
                &mut objects::Context {
                    db: &db,
                    tables: &tables,
                    databases: &all,
                    warn: &mut warn,
                },
            )?;
            for (t, cat) in &tables {
                if *cat == Category::Ignore || t.kind == TableType::View {
                    continue;
                }
                if t.kind == TableType::Versioned {
                    sink.warn(format!(
                        "source '{}': {db}.{} is system-versioned; only its current rows are dumped",
                        self.name, t.name
                    ));
                }
                // Rows that live elsewhere (MERGE, FEDERATED, ...) are not this table's:
                // its definition only, as mysqldump does.
                let no_data = *cat == Category::Ephemeral || t.rows_elsewhere();
                let columns = if no_data || t.kind == TableType::Sequence {
                    Vec::new()
                } else {
                    columns.remove(&t.name).unwrap_or_default()
                };
                let table = TableSchema {
                    create: schema::create_table(c0, c, &db, t)?,
                    columns: std::sync::Arc::new(columns),
                    triggers: objects.triggers.remove(&t.name).map(std::sync::Arc::new),
                };
                let ranges = if no_data || t.kind == TableType::Sequence || t.rows <= share {
                    vec![None]
                } else {
                    self.ranges(c0, &db, t)?
                };
                plans.push(self.table_jobs(&db, t, no_data, table, ranges, &mut jobs));
            }
            plans.push(Plan::Inline(
                self.member(&db, ".objects.sql", MemberKind::Objects),
                dump::objects_sql(&objects.body),
            ));
            dbs.push(Db { name: db, tables });
        }
        if self.users {
            let mut warn = |w: String| sink.warn(format!("source '{}': {w}", self.name));
            let sql = users::dump(c0, c, &mut warn)?;
            plans.push(Plan::Inline(
                Member::new(
                    &self.name,
                    format!("{}/.users.sql", self.name),
                    MemberKind::Users,
                    meta(),
                ),
                sql,
            ));
        }
        Ok((dbs, plans, jobs))
    }

    /// Primary-key ranges of a big table with a single integer key (`[None]`: whole).
    fn ranges(&self, c0: &mut Conn, db: &str, t: &Table) -> Result<Vec<Option<dump::Range>>> {
        let c = &self.connect;
        if t.rows <= self.chunk_rows {
            return Ok(vec![None]);
        }
        let pk = schema::primary_key(c0, c, db, &t.name)?;
        let int = ["tinyint", "smallint", "mediumint", "int", "bigint"];
        let [(col, ty)] = pk.as_slice() else {
            return Ok(vec![None]);
        };
        if !int.contains(&ty.to_ascii_lowercase().as_str()) {
            return Ok(vec![None]);
        }
        let mm: Option<(Option<i128>, Option<i128>)> = c0
            .query_first(format!(
                "SELECT MIN({0}), MAX({0}) FROM {1}.{2}",
                sql::ident(col),
                sql::ident(db),
                sql::ident(&t.name)
            ))
            .map_err(|e| c.err(&e))?;
        Ok(match mm {
            Some((Some(lo), Some(hi))) => {
                let n = t.rows.div_ceil(self.chunk_rows) as usize;
                dump::ranges(col, lo, hi, n).into_iter().map(Some).collect()
            }
            _ => vec![None],
        })
    }

    /// The jobs of one table (one per range) appended to `jobs`, and its member's plan.
    fn table_jobs(
        &self,
        db: &str,
        t: &Table,
        no_data: bool,
        schema: TableSchema,
        ranges: Vec<Option<dump::Range>>,
        jobs: &mut Vec<Job>,
    ) -> Plan {
        let count = ranges.len();
        let hash = (count > 1).then(|| ordered::OrderedHash::new(count));
        let mut seqs = Vec::new();
        for (i, r) in ranges.into_iter().enumerate() {
            seqs.push(jobs.len());
            jobs.push(Job {
                seq: jobs.len(),
                db: db.to_string(),
                table: t.clone(),
                no_data,
                range: r,
                create: (i == 0).then(|| schema.create.clone()),
                columns: schema.columns.clone(),
                last: i + 1 == count,
                triggers: (i + 1 == count).then(|| schema.triggers.clone()).flatten(),
                insert_bytes: self.insert_bytes,
                hash: hash.clone().map(|h| (h, i)),
            });
        }
        let file = format!("{}.sql", names::table(&t.name));
        Plan::Jobs(self.member(db, &file, MemberKind::Table), seqs, hash)
    }

    /// Takes the global read lock, starts a snapshot on every worker connection and
    /// records where the binlog stands.
    fn snapshot(
        &self,
        c0: &mut Conn,
        conns: &mut [Conn],
        sink: &mut dyn MemberSink,
    ) -> Result<Option<binlog::Position>> {
        let c = &self.connect;
        c0.query_drop(format!(
            "SET SESSION lock_wait_timeout = {}",
            self.lock_wait_timeout
        ))
        .map_err(|e| c.err(&e))?;
        c0.query_drop("FLUSH TABLES WITH READ LOCK").map_err(|e| {
            Error::Other(format!(
                "source '{}': cannot take the global read lock on {} within {} s: {}",
                self.name,
                c.target(),
                self.lock_wait_timeout,
                connect::one_line(&e)
            ))
        })?;
        for conn in conns.iter_mut() {
            conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .and_then(|_| conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT"))
                .map_err(|e| c.err(&e))?;
        }
        self.binlog_status(c0, sink)
    }

    /// Notes where the binlog stands (file, position, GTID) and returns the position;
    /// `None`, with a warning, when the server does not say.
    pub(super) fn binlog_status(
        &self,
        c0: &mut Conn,
        sink: &mut dyn MemberSink,
    ) -> Result<Option<binlog::Position>> {
        let at = match binlog::master_status(c0) {
            Ok(at) => at,
            Err(e) => {
                sink.warn(format!(
                    "source '{}': the binlog position is not recorded: {} (grant BINLOG MONITOR or REPLICATION CLIENT)",
                    self.name,
                    connect::one_line(&e)
                ));
                None
            }
        };
        if let Some(p) = &at {
            sink.note(format!("{}.binlog_file", self.name), p.file.clone());
            sink.note(format!("{}.binlog_position", self.name), p.pos.to_string());
        }
        let gtid: Option<String> = c0
            .query_first("SELECT @@global.gtid_binlog_pos")
            .or_else(|_| c0.query_first("SELECT @@global.gtid_executed"))
            .unwrap_or(None);
        if let Some(g) = gtid.filter(|g| !g.is_empty()) {
            sink.note(format!("{}.gtid", self.name), g);
        }
        Ok(at)
    }

    /// Captures the binlogs since the previous backup's position up to `now`.
    pub(super) fn capture_binlogs(
        &self,
        c0: &mut Conn,
        now: Option<binlog::Position>,
        sink: &mut dyn MemberSink,
    ) -> Result<()> {
        let now = now.ok_or_else(|| {
            Error::Other(format!(
                "source '{}': binlogs = true, but the binlog position could not be read (grant BINLOG MONITOR or REPLICATION CLIENT, and REPLICATION SLAVE to copy binlogs)",
                self.name
            ))
        })?;
        let key = |k: &str| sink.previous(&format!("{}.{k}", self.name));
        let since = match (key("binlog_file"), key("binlog_position")) {
            (Some(file), Some(p)) => p.parse().ok().map(|pos| binlog::Position { file, pos }),
            _ => None,
        };
        binlog::capture(c0, &self.connect, &self.name, since, &now, sink)
    }
}

impl Source for MysqlSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn follower(&self) -> Option<Box<dyn crate::source::Follower>> {
        self.binlogs
            .then(|| Box::new(follow::BinlogOnly(self.clone())) as Box<dyn crate::source::Follower>)
    }

    fn dry_run(&self) -> Result<Vec<String>> {
        let c = &self.connect;
        let mut conn = c.connect()?;
        let mut out = vec![format!("server {}", c.target())];
        if self.binlogs {
            binlog::check_enabled(&mut conn, c, &self.name)?;
            out.push(format!(
                "{}/binlog/: binary logs since the previous backup",
                self.name
            ));
        }
        if self.users {
            out.push(format!(
                "{}/.users.sql: users, roles and grants (applied only on purpose)",
                self.name
            ));
        }
        let all = schema::databases(&mut conn, c)?;
        let mut warnings = Vec::new();
        let selected = self.selected(&all, &mut |w| warnings.push(format!("warning: {w}")))?;
        out.extend(warnings);
        for db in selected {
            let rows: Vec<(String, String, Option<u64>, Option<u64>)> = conn
                .exec(
                    "SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES
                     WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
                    (&db,),
                )
                .map_err(|e| c.err(&e))?;
            let remote: Vec<String> = schema::tables(&mut conn, c, &db)?
                .into_iter()
                .filter(Table::rows_elsewhere)
                .map(|t| t.name)
                .collect();
            for (table, kind, n, bytes) in rows {
                let what = match (kind.as_str(), self.category(&db, &table)) {
                    ("VIEW", _) => "view (in .objects)".to_string(),
                    (_, Category::Ignore) => "ignored".to_string(),
                    (_, Category::Ephemeral) => "structure only (ephemeral)".to_string(),
                    _ if remote.contains(&table) => {
                        "definition only (its rows live in other tables or servers)".to_string()
                    }
                    (_, cat) => format!(
                        "~{} rows, ~{} bytes{}",
                        n.unwrap_or(0),
                        bytes.unwrap_or(0),
                        if cat == Category::Global {
                            ", also to schema_dir (global)"
                        } else {
                            ""
                        }
                    ),
                };
                out.push(format!(
                    "{}/{}/{}.sql: {what}",
                    self.name,
                    names::database(&db),
                    names::table(&table)
                ));
            }
        }
        Ok(out)
    }

    fn run(&self, sink: &mut dyn MemberSink) -> Result<()> {
        let c = &self.connect;
        let fail = |e: Error| Error::Other(format!("source '{}': {e}", self.name));
        let mut c0 = c.connect().map_err(fail)?;
        let version: Option<String> = c0.query_first("SELECT @@version").map_err(|e| c.err(&e))?;
        sink.note(
            format!("{}.server_version", self.name),
            version.unwrap_or_default(),
        );
        if self.binlogs {
            binlog::check_enabled(&mut c0, c, &self.name)?;
        }
        self.wait_for_long_queries(&mut c0)?;
        let mut conns = (0..self.threads.max(1))
            .map(|_| c.connect())
            .collect::<Result<Vec<_>>>()
            .map_err(fail)?;
        let position = self.snapshot(&mut c0, &mut conns, sink).map_err(fail)?;
        // The schema (tables, CREATE statements, objects, range bounds) is read under
        // the global read lock, so no DDL can come between it and the snapshot.
        let (dbs, plans, jobs) = self.plan(&mut c0, sink).map_err(fail)?;
        conns.truncate(jobs.len().max(1));

        // Non-transactional tables first: they are read under the lock.
        let mut order: Vec<&Job> = jobs.iter().collect();
        order.sort_by_key(|j| (j.table.transactional(), j.seq));
        let mut locked_left = jobs.iter().filter(|j| !j.table.transactional()).count();
        let mut locked = true;
        if locked_left == 0 {
            c0.query_drop("UNLOCK TABLES").map_err(|e| c.err(&e))?;
            locked = false;
        }
        let spool = sink.spool();
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<&Job>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, Result<SpooledPart>)>();
        for j in &order {
            job_tx.send(j).expect("open channel");
        }
        drop(job_tx);
        let emitted = std::thread::scope(|scope| -> Result<()> {
            for mut conn in conns.drain(..) {
                let rx = job_rx.clone();
                let tx = done_tx.clone();
                let spool = spool.clone();
                scope.spawn(move || {
                    for job in rx {
                        let r = dump::run(&mut conn, c, job, &spool)
                            .map_err(|e| Error::Other(format!("{}: {e}", job.label())));
                        let failed = r.is_err();
                        if tx.send((job.seq, r)).is_err() || failed {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);
            let mut done: HashMap<usize, SpooledPart> = HashMap::new();
            let stop = |rx: &crossbeam_channel::Receiver<&Job>| while rx.try_recv().is_ok() {};
            for plan in plans {
                match plan {
                    Plan::Inline(m, text) => match sink.stream(m, &mut text.as_slice()) {
                        Ok(_) => {}
                        Err(SinkError::Read(e)) => return Err(Error::io("in-memory member", e)),
                        Err(SinkError::Closed(e)) => {
                            stop(&job_rx);
                            return Err(e);
                        }
                    },
                    Plan::Jobs(m, seqs, hash) => {
                        while !seqs.iter().all(|s| done.contains_key(s)) {
                            let Ok((seq, r)) = done_rx.recv() else {
                                return Err(Error::Other("the dump workers stopped".into()));
                            };
                            match r {
                                Ok(part) => {
                                    done.insert(seq, part);
                                }
                                Err(e) => {
                                    stop(&job_rx);
                                    return Err(e);
                                }
                            }
                            if !jobs[seq].table.transactional() {
                                locked_left -= 1;
                                if locked_left == 0 && locked {
                                    c0.query_drop("UNLOCK TABLES").map_err(|e| c.err(&e))?;
                                    locked = false;
                                }
                            }
                        }
                        let parts: Vec<SpooledPart> =
                            seqs.iter().map(|s| done.remove(s).expect("done")).collect();
                        let hashes = match &hash {
                            Some(h) => h
                                .result()
                                .map_err(|e| Error::io(format!("hashing {}", m.path), e))?,
                            None => (
                                parts[0].framed.sha256.clone(),
                                parts[0].framed.blake3.clone(),
                            ),
                        };
                        if let Err(e) = sink.spooled(m, parts, hashes) {
                            stop(&job_rx);
                            return Err(e);
                        }
                    }
                }
            }
            Ok(())
        });
        if locked {
            let _ = c0.query_drop("UNLOCK TABLES");
        }
        emitted.map_err(fail)?;
        if self.binlogs {
            self.capture_binlogs(&mut c0, position, sink)?;
        }

        if let Some(dir) = &self.schema_dir {
            let entries: Vec<schema_dir::Entry> = dbs
                .iter()
                .flat_map(|d| {
                    d.tables
                        .iter()
                        .filter(|(t, cat)| *cat != Category::Ignore && t.kind != TableType::View)
                        .map(|(t, cat)| schema_dir::Entry {
                            db: &d.name,
                            table: t,
                            with_data: *cat == Category::Global,
                        })
                })
                .collect();
            schema_dir::write(&mut c0, c, dir, &self.host, &entries).map_err(fail)?;
        }
        Ok(())
    }
}
