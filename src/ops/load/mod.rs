//! `strata load`: databases of an event into a running server. Each database's
//! `CREATE DATABASE` first, then its tables over `threads` connections, a big table's
//! rows by all of them at once ([`tables`]; statements streamed from the member, with
//! `foreign_key_checks`, `unique_checks` and, where allowed, `sql_log_bin` off for these
//! connections only), then its objects
//! through the `mariadb` client (they use `DELIMITER`), then with `--until` the binlogs
//! captured after the event, replayed up to that moment ([`replay`]).
//!
//! Safe by default: an existing table is refused before anything is written, unless
//! `drop_existing`; a failure names the table and the statement.

pub mod apply;
pub mod binlog_filter;
pub mod replay;
pub mod tables;

use crate::error::{Error, Result};
use crate::format::names;
use crate::format::sqlscript::{rename_qualifier, Statements};
use crate::model::{Event, Member, MemberKind};
use crate::source::mysql::connect::Connect;
use crate::source::mysql::sql::ident;
use crate::store::Store;
use mysql::prelude::Queryable;

pub struct Options {
    pub target: Connect,
    /// `DB` or `DB.TABLE` (real names); empty: every database of the event.
    pub selection: Vec<String>,
    /// `(old, new)` database names.
    pub renames: Vec<(String, String)>,
    pub threads: usize,
    pub drop_existing: bool,
    pub dry_run: bool,
    /// Local time `YYYY-MM-DD HH:MM:SS`, as `strata list` prints it.
    pub until: Option<replay::Until>,
}

/// One database to load.
pub struct Db {
    pub source: String,
    pub name: String,
    pub target: String,
    pub database: Member,
    pub tables: Vec<(String, Member)>,
    pub objects: Option<Member>,
}

/// The databases (and tables) of the event that `opts.selection` names.
pub fn plan(members: &[Member], opts: &Options) -> Result<Vec<Db>> {
    let mut dbs: Vec<Db> = Vec::new();
    for m in members.iter().filter(|m| m.kind == MemberKind::Database) {
        let mut parts = m.path.splitn(3, '/');
        let (Some(source), Some(enc)) = (parts.next(), parts.next()) else {
            continue;
        };
        let name = names::decode(enc).unwrap_or_else(|| enc.to_string());
        let wanted = |table: Option<&str>| {
            opts.selection.is_empty()
                || opts
                    .selection
                    .iter()
                    .any(|s| s == &name || table.is_some_and(|t| s == &format!("{name}.{t}")))
        };
        let prefix = format!("{source}/{enc}/");
        let tables: Vec<(String, Member)> = members
            .iter()
            .filter(|t| t.kind == MemberKind::Table && t.path.starts_with(&prefix))
            .filter_map(|t| {
                let file = t.path[prefix.len()..].strip_suffix(".sql")?;
                let table = names::decode(file).unwrap_or_else(|| file.to_string());
                wanted(Some(&table)).then(|| (table, t.clone()))
            })
            .collect();
        if !wanted(None) && tables.is_empty() {
            continue;
        }
        let whole = wanted(None);
        let target = opts
            .renames
            .iter()
            .find(|(old, _)| *old == name)
            .map_or_else(|| name.clone(), |(_, new)| new.clone());
        dbs.push(Db {
            source: source.to_string(),
            target,
            database: m.clone(),
            objects: whole
                .then(|| {
                    members
                        .iter()
                        .find(|o| o.kind == MemberKind::Objects && o.path.starts_with(&prefix))
                        .cloned()
                })
                .flatten(),
            tables,
            name,
        });
    }
    if dbs.is_empty() {
        return Err(Error::NotFound(format!(
            "the event has no database {}",
            if opts.selection.is_empty() {
                "at all".to_string()
            } else {
                opts.selection.join(", ")
            }
        )));
    }
    Ok(dbs)
}

/// What `--dry-run` prints: one line per step.
pub fn describe(dbs: &[Db], opts: &Options) -> Vec<String> {
    let mut out = Vec::new();
    for d in dbs {
        out.push(format!(
            "database {} -> {} on {}",
            d.name,
            d.target,
            opts.target.target()
        ));
        for (t, m) in &d.tables {
            out.push(format!("  table {t} ({} bytes of SQL)", m.size));
        }
        if d.objects.is_some() {
            out.push("  views, routines, events (triggers come with their tables)".into());
        }
    }
    if let Some(u) = &opts.until {
        out.push(format!(
            "then the binlogs captured after the event, replayed up to {u}"
        ));
    }
    out
}

/// What a load did.
#[derive(Debug, Default)]
pub struct Summary {
    pub databases: usize,
    pub tables: usize,
    pub bytes: u64,
    pub rows: u64,
    /// Per target database that already held other tables: its name and theirs (they
    /// were left as they were, and the load went in beside them).
    pub beside: Vec<(String, Vec<String>)>,
}

/// Loads `dbs` of event `ev` (archive read through `store`) into `opts.target`.
pub fn run(
    cat: &crate::catalog::Catalog,
    store: &dyn Store,
    ev: &Event,
    dbs: &[Db],
    opts: &Options,
    progress: &tables::Progress,
) -> Result<Summary> {
    let c = &opts.target;
    let chain = match &opts.until {
        Some(until) => Some(replay::plan(cat, ev, dbs, until)?),
        None => None,
    };
    let mut c0 = c.connect()?;
    refuse_existing(&mut c0, c, dbs, opts.drop_existing)?;
    let prepared = match &chain {
        Some(chain) => Some(replay::prepare(cat, store, chain, dbs, c, &mut c0)?),
        None => None,
    };
    let mut summary = Summary {
        beside: others_present(&mut c0, c, dbs)?,
        ..Summary::default()
    };
    for d in dbs {
        let text = String::from_utf8_lossy(&member_bytes(store, ev, &d.database)?)
            .replace(&ident(&d.name), &ident(&d.target));
        let mut stmts = Statements::new(text.as_bytes());
        while let Some(stmt) = stmts
            .next_statement()
            .map_err(|e| Error::io(".database.sql", e))?
        {
            let stmt = String::from_utf8_lossy(&stmt.text);
            c0.query_drop(&*stmt)
                .map_err(|e| fail(&d.target, ".database.sql", &stmt, &c.err(&e)))?;
        }
        summary.databases += 1;
    }
    tables::load(store, ev, dbs, c, opts.threads, progress)?;
    summary.tables = dbs.iter().map(|d| d.tables.len()).sum();
    summary.bytes = progress.bytes.load(std::sync::atomic::Ordering::Relaxed);
    summary.rows = progress.rows.load(std::sync::atomic::Ordering::Relaxed);
    for d in dbs {
        if let Some(o) = &d.objects {
            // Definitions qualify names with the database: follow a rename.
            let text = rename_qualifier(&member_bytes(store, ev, o)?, &d.name, &d.target);
            replay::client(c, &d.target, &format!("the objects of {}", d.target), &text)?;
        }
    }
    if let Some(prepared) = &prepared {
        replay::until(prepared, dbs, c)?;
    }
    Ok(summary)
}

/// Refuses before writing anything when a table to load exists on the target.
fn refuse_existing(c0: &mut mysql::Conn, c: &Connect, dbs: &[Db], drop: bool) -> Result<()> {
    if drop {
        return Ok(());
    }
    for d in dbs {
        for (t, _) in &d.tables {
            let n: Option<u64> = c0
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (&d.target, t),
                )
                .map_err(|e| c.err(&e))?;
            if n.unwrap_or(0) > 0 {
                return Err(Error::Other(format!(
                    "table {}.{} exists on {}; nothing was loaded (--drop-existing replaces it)",
                    ident(&d.target),
                    ident(t),
                    c.target()
                )));
            }
        }
    }
    Ok(())
}

/// The tables each target database already holds that the load does not bring.
fn others_present(
    c0: &mut mysql::Conn,
    c: &Connect,
    dbs: &[Db],
) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for d in dbs {
        let present: Vec<String> = c0
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME",
                (&d.target,),
            )
            .map_err(|e| c.err(&e))?;
        let others: Vec<String> = present
            .into_iter()
            .filter(|t| !d.tables.iter().any(|(n, _)| n == t))
            .collect();
        if !others.is_empty() {
            out.push((d.target.clone(), others));
        }
    }
    Ok(out)
}

/// A connection with the load's session settings (its own only).
pub(super) fn session(c: &Connect) -> Result<mysql::Conn> {
    let mut conn = c.connect()?;
    conn.query_drop("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        .map_err(|e| c.err(&e))?;
    // Needs SUPER or BINLOG ADMIN; without it the load is still right, only logged.
    let _ = conn.query_drop("SET SESSION sql_log_bin = 0");
    Ok(conn)
}

pub(super) fn fail(what: &str, file: &str, stmt: &str, e: &Error) -> Error {
    let head: String = stmt.trim().chars().take(120).collect();
    Error::Other(format!("loading {what}{file}: {e}; statement: {head}"))
}

fn member_bytes(store: &dyn Store, ev: &Event, m: &Member) -> Result<Vec<u8>> {
    let mut r = crate::ops::read::member(store, &ev.file, m)?;
    let mut s = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut s)
        .map_err(|e| crate::archive::reader::into_error(e, &m.path))?;
    Ok(s)
}
