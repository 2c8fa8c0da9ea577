//! The objects that come after tables, in the one order that loads in a single pass
//! whatever depends on what: placeholder views (so that views on views and routines on
//! views resolve), then procedures and functions (routine bodies are not resolved when
//! created), then the real views (which may call functions), then triggers, then
//! events. Each is the server's own `SHOW CREATE` text (definer, SQL SECURITY,
//! schedule) restored under the session state it was created with: sql_mode,
//! character_set_client, collation_connection and, for events, time_zone (an event's
//! STARTS/ENDS/AT are read in it). An unreadable definition is an error.

use super::connect::Connect;
use super::schema::Table;
use super::sql::{ident, quote_str};
use crate::error::{Error, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, Row};
use std::fmt::Write as _;

fn get(row: &Row, name: &str) -> Option<String> {
    let idx = row
        .columns_ref()
        .iter()
        .position(|c| c.name_str() == name)?;
    match row.as_ref(idx)? {
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        mysql::Value::NULL => None,
        v => Some(v.as_sql(true)),
    }
}

/// Appends `DROP <what> IF EXISTS` and the definition of one trigger, routine or event
/// (`SHOW CREATE <what>`), wrapped in its own sql_mode and character set between `;;`
/// delimiters. A definition the user may not read is an error, never a silent gap.
fn object(
    conn: &mut Conn,
    c: &Connect,
    db: &str,
    what: &str,
    name: &str,
    column: &str,
    out: &mut String,
) -> Result<()> {
    let rows: Vec<Row> = conn
        .query(format!("SHOW CREATE {what} {}.{}", ident(db), ident(name)))
        .map_err(|e| c.err(&e))?;
    let row = rows.first();
    let body = row.and_then(|r| get(r, column)).ok_or_else(|| {
        Error::Other(format!(
            "{} {db}.{name}: the definition is not readable; grant the backup user SELECT on mysql.* (or SHOW_ROUTINE)",
            what.to_lowercase()
        ))
    })?;
    let row = row.expect("a body implies a row");
    let field = |k: &str, default: &str| get(row, k).unwrap_or_else(|| default.to_string());
    let time_zone = get(row, "time_zone");
    let _ = writeln!(out, "DROP {what} IF EXISTS {};", ident(name));
    if let Some(tz) = &time_zone {
        let _ = writeln!(
            out,
            "SET @saved_time_zone = @@time_zone, time_zone = {};",
            quote_str(tz)
        );
    }
    let _ = writeln!(
        out,
        "SET @saved_sql_mode = @@sql_mode, sql_mode = {};",
        quote_str(&field("sql_mode", ""))
    );
    let _ = writeln!(
        out,
        "SET @saved_cs_client = @@character_set_client, character_set_client = {};",
        field("character_set_client", "utf8mb4")
    );
    let _ = writeln!(
        out,
        "SET @saved_col_connection = @@collation_connection, collation_connection = {};",
        field("collation_connection", "utf8mb4_general_ci")
    );
    let _ = writeln!(out, "DELIMITER ;;\n{body} ;;\nDELIMITER ;");
    let _ = writeln!(
        out,
        "SET sql_mode = @saved_sql_mode, character_set_client = @saved_cs_client, collation_connection = @saved_col_connection;"
    );
    if time_zone.is_some() {
        out.push_str("SET time_zone = @saved_time_zone;\n");
    }
    out.push('\n');
    Ok(())
}

/// The objects member of `db`.
pub fn dump(conn: &mut Conn, c: &Connect, db: &str, tables: &[Table]) -> Result<String> {
    let q = |conn: &mut Conn, sql: String| -> Result<Vec<Row>> {
        conn.query(sql).map_err(|e| c.err(&e))
    };
    let mut out = String::new();
    let views: Vec<&Table> = tables
        .iter()
        .filter(|t| t.kind == super::schema::TableType::View)
        .collect();
    if !views.is_empty() {
        out.push_str("-- views: placeholders first, so that views on views load in any order\n");
        for v in &views {
            let cols: Vec<String> = conn
                .exec(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS
                     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                    (db, &v.name),
                )
                .map_err(|e| c.err(&e))?;
            let list: Vec<String> = cols.iter().map(|n| format!("1 AS {}", ident(n))).collect();
            let _ = writeln!(
                out,
                "DROP TABLE IF EXISTS {0};\nCREATE OR REPLACE VIEW {0} AS SELECT {1};",
                ident(&v.name),
                if list.is_empty() {
                    "1 AS `x`".to_string()
                } else {
                    list.join(", ")
                }
            );
        }
        out.push('\n');
    }
    for (what, column) in [
        ("PROCEDURE", "Create Procedure"),
        ("FUNCTION", "Create Function"),
    ] {
        let list: Vec<Row> = conn
            .exec(format!("SHOW {what} STATUS WHERE Db = ?"), (db,))
            .map_err(|e| c.err(&e))?;
        for name in list.iter().filter_map(|r| get(r, "Name")) {
            object(conn, c, db, what, &name, column, &mut out)?;
        }
    }
    for v in &views {
        object(conn, c, db, "VIEW", &v.name, "Create View", &mut out)?;
    }
    let names = |conn: &mut Conn, sql: String, col: &str| -> Result<Vec<String>> {
        Ok(q(conn, sql)?.iter().filter_map(|r| get(r, col)).collect())
    };
    for name in names(conn, format!("SHOW TRIGGERS FROM {}", ident(db)), "Trigger")? {
        object(
            conn,
            c,
            db,
            "TRIGGER",
            &name,
            "SQL Original Statement",
            &mut out,
        )?;
    }
    for name in names(conn, format!("SHOW EVENTS FROM {}", ident(db)), "Name")? {
        object(conn, c, db, "EVENT", &name, "Create Event", &mut out)?;
    }
    Ok(out)
}
