//! The tables of a load, over `threads` connections at once, statement by statement:
//! one reader walks the table members in order, runs each table's `CREATE TABLE` itself,
//! and deals its `INSERT` statements to whichever connection is free. So a big table is
//! loaded by every connection in parallel (its rows arrive in ranges of one statement
//! each), not by one while the others idle, and memory stays at a few statements per
//! connection. A connection sets a table's session statements (`SET NAMES`,
//! `TIME_ZONE`, `SQL_MODE`, ...) before its first row of that table.

use super::{fail, session, Db};
use crate::error::{Error, Result};
use crate::format::sqlscript::{rename_qualifier, Statement, Statements};
use crate::model::{Event, Member};
use crate::source::mysql::connect::Connect;
use crate::source::mysql::sql::ident;
use crate::store::Store;
use mysql::prelude::Queryable;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// What a load has done so far, for the progress bar and the summary.
#[derive(Default)]
pub struct Progress {
    pub bytes: AtomicU64,
    pub rows: AtomicU64,
    pub tables: AtomicU64,
}

/// A table being loaded: where, with which session, and how many of its statements
/// are still in flight (so that a statement after its rows waits for them).
struct Table {
    /// Unique within the load: which table a connection last set its session for.
    id: usize,
    db: String,
    label: String,
    session: Vec<String>,
    in_flight: Mutex<usize>,
    idle: Condvar,
}

impl Table {
    fn done_one(&self) {
        let mut n = crate::sync::lock(&self.in_flight);
        *n -= 1;
        if *n == 0 {
            self.idle.notify_all();
        }
    }

    fn wait_idle(&self) {
        let mut n = crate::sync::lock(&self.in_flight);
        while *n > 0 {
            n = self.idle.wait(n).expect("in flight");
        }
    }
}

static NEXT_TABLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Work {
    table: Arc<Table>,
    stmt: String,
}

/// A connection that loads rows of any table: it follows the table's database and
/// session statements.
struct Loader {
    conn: mysql::Conn,
    at: Option<usize>,
}

impl Loader {
    fn run(&mut self, c: &Connect, w: &Work) -> Result<()> {
        let t = &*w.table;
        if self.at != Some(t.id) {
            self.conn
                .query_drop(format!("USE {}", ident(&t.db)))
                .map_err(|e| c.err(&e))?;
            for s in &t.session {
                self.conn
                    .query_drop(s)
                    .map_err(|e| fail(&t.label, "", s, &c.err(&e)))?;
            }
            self.at = Some(t.id);
        }
        // Connections inserting into one table at once may deadlock (InnoDB picks a
        // victim) or time out on a lock: the statement was rolled back whole (each
        // runs alone, autocommit), so it is run again, as the server advises.
        let mut tries = 0;
        loop {
            match self.conn.query_drop(&w.stmt) {
                Err(mysql::Error::MySqlError(e)) if retryable(e.code) && tries < RETRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 << tries));
                }
                r => return r.map_err(|e| fail(&t.label, "", &w.stmt, &c.err(&e))),
            }
        }
    }
}

/// How often a deadlocked or lock-timed-out statement is run again.
const RETRIES: u32 = 5;

/// ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT: the statement was rolled back.
fn retryable(code: u16) -> bool {
    matches!(code, 1213 | 1205)
}

/// Statements that only set session state.
fn is_session(stmt: &str) -> bool {
    let s = stmt.trim_start();
    s.starts_with("SET ") || s.starts_with("/*!40101 SET ")
}

/// Loads every table of `dbs` from `ev` over `threads` connections.
pub fn load(
    store: &dyn Store,
    ev: &Event,
    dbs: &[Db],
    c: &Connect,
    threads: usize,
    progress: &Progress,
) -> Result<()> {
    let (tx, rx) = crossbeam_channel::bounded::<Work>(threads * 2);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let record = |e: Error| {
        failed.store(true, Ordering::SeqCst);
        crate::sync::lock(&first_error).get_or_insert(e);
    };
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            let rx = rx.clone();
            let (failed, record) = (&failed, &record);
            s.spawn(move || {
                let mut loader = match session(c) {
                    Ok(conn) => Loader { conn, at: None },
                    Err(e) => return record(e),
                };
                for w in rx {
                    if !failed.load(Ordering::SeqCst) {
                        match loader.run(c, &w) {
                            Ok(()) => {
                                progress
                                    .bytes
                                    .fetch_add(w.stmt.len() as u64, Ordering::Relaxed);
                                let rows = memchr_count(w.stmt.as_bytes());
                                progress.rows.fetch_add(rows, Ordering::Relaxed);
                            }
                            Err(e) => record(e),
                        }
                    }
                    w.table.done_one();
                }
            });
        }
        drop(rx);
        if let Err(e) = deal(store, ev, dbs, c, &tx, &failed, progress) {
            record(e);
        }
        drop(tx);
    });
    match first_error.into_inner().expect("error") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Rows in an INSERT statement: one per line that opens a row.
fn memchr_count(stmt: &[u8]) -> u64 {
    stmt.windows(2).filter(|w| w == b"\n(").count() as u64
}

/// Reads the members in order: runs each table's DDL, deals its rows.
fn deal(
    store: &dyn Store,
    ev: &Event,
    dbs: &[Db],
    c: &Connect,
    tx: &crossbeam_channel::Sender<Work>,
    failed: &AtomicBool,
    progress: &Progress,
) -> Result<()> {
    let mut c0 = session(c)?;
    for d in dbs {
        for (t, m) in &d.tables {
            if failed.load(Ordering::SeqCst) {
                return Ok(());
            }
            deal_table(store, ev, (d, t, m), c, &mut c0, tx, failed)?;
            progress.tables.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Runs `st` (not UTF-8: an object body in its own character set) through the
/// `mariadb` client, which carries bytes, after the member's session statements.
fn through_client(
    c: &Connect,
    db: &str,
    label: &str,
    session: &[u8],
    st: &Statement,
) -> Result<()> {
    let mut script = session.to_vec();
    script.extend_from_slice(&st.script());
    super::replay::client(c, db, label, &script)
}

/// One table: its DDL on `c0`, its rows dealt to the loaders (until one fails).
fn deal_table(
    store: &dyn Store,
    ev: &Event,
    (d, table, m): (&Db, &str, &Member),
    c: &Connect,
    c0: &mut mysql::Conn,
    tx: &crossbeam_channel::Sender<Work>,
    failed: &AtomicBool,
) -> Result<()> {
    let label = format!("{}.{}", ident(&d.target), ident(table));
    c0.query_drop(format!("USE {}", ident(&d.target)))
        .map_err(|e| c.err(&e))?;
    let reader = crate::ops::read::member(store, &ev.file, m)?;
    let mut stmts = Statements::new(std::io::BufReader::with_capacity(1 << 20, reader));
    let mut table: Option<Arc<Table>> = None;
    let mut session: Vec<String> = Vec::new();
    // Every session statement of the member so far, for a statement run by the client.
    let mut script_session: Vec<u8> = Vec::new();
    while let Some(st) = stmts
        .next_statement()
        .map_err(|e| crate::archive::reader::into_error(e, &m.path))?
    {
        let insert = st.text.trim_ascii_start().starts_with(b"INSERT ");
        let text = if insert || d.name == d.target {
            st.text
        } else {
            rename_qualifier(&st.text, &d.name, &d.target)
        };
        // Rows are utf8mb4 text with binary values in hex; an object's body is in the
        // character set it was created in, which the client tool carries as bytes.
        let stmt = match String::from_utf8(text) {
            Ok(s) => s,
            Err(e) if !insert => {
                if let Some(t) = &table {
                    t.wait_idle();
                }
                let st = Statement {
                    text: e.into_bytes(),
                    delimiter: st.delimiter,
                };
                through_client(c, &d.target, &label, &script_session, &st)?;
                continue;
            }
            Err(e) => {
                return Err(Error::Other(format!(
                    "{}: a statement is not UTF-8 at byte {}",
                    m.path,
                    e.utf8_error().valid_up_to()
                )))
            }
        };
        if !insert && is_session(&stmt) {
            script_session.extend_from_slice(stmt.as_bytes());
            script_session.extend_from_slice(b";\n");
        }
        match (&table, insert) {
            (None, false) => {
                c0.query_drop(&stmt)
                    .map_err(|e| fail(&label, "", &stmt, &c.err(&e)))?;
                if is_session(&stmt) {
                    session.push(stmt);
                }
            }
            // After the rows (its triggers, the session restored): once they are in.
            (Some(t), false) => {
                t.wait_idle();
                c0.query_drop(&stmt)
                    .map_err(|e| fail(&label, "", &stmt, &c.err(&e)))?;
            }
            (_, true) => {
                let t = table.get_or_insert_with(|| {
                    Arc::new(Table {
                        id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
                        db: d.target.clone(),
                        label: label.clone(),
                        session: session.clone(),
                        in_flight: Mutex::new(0),
                        idle: Condvar::new(),
                    })
                });
                *crate::sync::lock(&t.in_flight) += 1;
                let w = Work {
                    table: t.clone(),
                    stmt,
                };
                if failed.load(Ordering::SeqCst) || tx.send(w).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
