//! What the server holds: databases, tables with their engine and size, columns
//! (generated ones are left out of INSERTs), and integer primary keys for chunking.

use super::connect::Connect;
use super::sql::ident;
use crate::error::Result;
use mysql::prelude::Queryable;
use mysql::Conn;

#[derive(Debug, Clone, PartialEq)]
pub enum TableType {
    Base,
    View,
    Sequence,
    /// MariaDB system-versioned: only current rows are dumped.
    Versioned,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub kind: TableType,
    pub engine: String,
    pub rows: u64,
}

impl Table {
    /// Engines whose rows live in other tables or servers (MERGE, FEDERATED, CONNECT,
    /// SPIDER): dumping them would restore the rows twice, or fail.
    pub fn rows_elsewhere(&self) -> bool {
        matches!(
            self.engine.to_ascii_lowercase().as_str(),
            "mrg_myisam" | "mrg_aria" | "merge" | "federated" | "connect" | "spider"
        )
    }

    /// Engines whose data a consistent-snapshot transaction does not cover.
    pub fn transactional(&self) -> bool {
        matches!(
            self.engine.to_ascii_lowercase().as_str(),
            "innodb" | "xtradb" | "rocksdb" | "tokudb" | ""
        ) || self.kind == TableType::Sequence
    }
}

pub fn databases(conn: &mut Conn, c: &Connect) -> Result<Vec<String>> {
    let mut dbs: Vec<String> = conn.query("SHOW DATABASES").map_err(|e| c.err(&e))?;
    dbs.sort();
    Ok(dbs)
}

pub fn tables(conn: &mut Conn, c: &Connect, db: &str) -> Result<Vec<Table>> {
    let rows: Vec<(String, String, Option<String>, Option<u64>)> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            (db,),
        )
        .map_err(|e| c.err(&e))?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, t, engine, rows)| {
            let kind = match t.as_str() {
                "BASE TABLE" => TableType::Base,
                "VIEW" => TableType::View,
                "SEQUENCE" => TableType::Sequence,
                "SYSTEM VERSIONED" => TableType::Versioned,
                _ => return None,
            };
            Some(Table {
                name,
                kind,
                engine: engine.unwrap_or_default(),
                rows: rows.unwrap_or(0),
            })
        })
        .collect())
}

fn stored(extra: &str) -> bool {
    !extra.to_ascii_uppercase().contains("GENERATED")
}

/// Columns to dump, in order: every stored column, generated ones left out.
pub fn data_columns(conn: &mut Conn, c: &Connect, db: &str, table: &str) -> Result<Vec<String>> {
    let rows: Vec<(String, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .map_err(|e| c.err(&e))?;
    Ok(rows
        .into_iter()
        .filter(|(_, extra)| stored(extra))
        .map(|(n, _)| n)
        .collect())
}

/// [`data_columns`] of every table of `db`, in one query (the schema is read while the
/// global read lock is held: one round trip per database, not per table).
pub fn data_columns_of(
    conn: &mut Conn,
    c: &Connect,
    db: &str,
) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, EXTRA FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (db,),
        )
        .map_err(|e| c.err(&e))?;
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (t, col, extra) in rows {
        let cols = out.entry(t).or_default();
        if stored(&extra) {
            cols.push(col);
        }
    }
    Ok(out)
}

/// The primary key's columns, in key order.
pub fn primary_key(
    conn: &mut Conn,
    c: &Connect,
    db: &str,
    table: &str,
) -> Result<Vec<(String, String)>> {
    conn.exec(
        "SELECT k.COLUMN_NAME, col.DATA_TYPE FROM information_schema.KEY_COLUMN_USAGE k
         JOIN information_schema.COLUMNS col ON col.TABLE_SCHEMA = k.TABLE_SCHEMA
              AND col.TABLE_NAME = k.TABLE_NAME AND col.COLUMN_NAME = k.COLUMN_NAME
         WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.CONSTRAINT_NAME = 'PRIMARY'
         ORDER BY k.ORDINAL_POSITION",
        (db, table),
    )
    .map_err(|e| c.err(&e))
}

/// `SHOW CREATE TABLE` (or SEQUENCE) text.
pub fn create_table(conn: &mut Conn, c: &Connect, db: &str, t: &Table) -> Result<String> {
    let what = if t.kind == TableType::Sequence {
        "SEQUENCE"
    } else {
        "TABLE"
    };
    let row: Option<(String, String)> = conn
        .query_first(format!(
            "SHOW CREATE {what} {}.{}",
            ident(db),
            ident(&t.name)
        ))
        .map_err(|e| c.err(&e))?;
    Ok(row.map(|r| r.1).unwrap_or_default())
}

pub fn create_database(conn: &mut Conn, c: &Connect, db: &str) -> Result<String> {
    let row: Option<(String, String)> = conn
        .query_first(format!("SHOW CREATE DATABASE {}", ident(db)))
        .map_err(|e| c.err(&e))?;
    Ok(row.map(|r| r.1).unwrap_or_default())
}
