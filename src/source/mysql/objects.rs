//! The objects that come after tables: views (created first as placeholders, so that
//! views on views load in any order), triggers, stored routines and events, each with
//! its own sql_mode, character set and definer. An unreadable routine body is an error.

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

/// Wraps a statement in its recorded sql_mode and character set, with `;;` delimiters.
fn wrapped(out: &mut String, sql_mode: &str, charset: &str, collation: &str, body: &str) {
    let _ = writeln!(
        out,
        "SET @saved_sql_mode = @@sql_mode, sql_mode = {};",
        quote_str(sql_mode)
    );
    let _ = writeln!(
        out,
        "SET @saved_cs_client = @@character_set_client, character_set_client = {charset};"
    );
    let _ = writeln!(
        out,
        "SET @saved_col_connection = @@collation_connection, collation_connection = {collation};"
    );
    let _ = writeln!(out, "DELIMITER ;;\n{body} ;;\nDELIMITER ;");
    let _ = writeln!(
        out,
        "SET sql_mode = @saved_sql_mode, character_set_client = @saved_cs_client, collation_connection = @saved_col_connection;\n"
    );
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
        for v in &views {
            let rows = q(
                conn,
                format!("SHOW CREATE VIEW {}.{}", ident(db), ident(&v.name)),
            )?;
            let row = rows
                .first()
                .ok_or_else(|| Error::Other(format!("view {db}.{}: no definition", v.name)))?;
            let body = get(row, "Create View").unwrap_or_default();
            let cs = get(row, "character_set_client").unwrap_or_else(|| "utf8mb4".into());
            let col =
                get(row, "collation_connection").unwrap_or_else(|| "utf8mb4_general_ci".into());
            let body = body.replacen("CREATE ", "CREATE OR REPLACE ", 1);
            wrapped(&mut out, "", &cs, &col, &body);
        }
    }
    for t in q(conn, format!("SHOW TRIGGERS FROM {}", ident(db)))? {
        let name = get(&t, "Trigger").unwrap_or_default();
        let rows = q(
            conn,
            format!("SHOW CREATE TRIGGER {}.{}", ident(db), ident(&name)),
        )?;
        let row = rows
            .first()
            .ok_or_else(|| Error::Other(format!("trigger {db}.{name}: no definition")))?;
        let body = get(row, "SQL Original Statement").ok_or_else(|| {
            Error::Other(format!(
                "trigger {db}.{name}: its definition is not readable (privileges?)"
            ))
        })?;
        let _ = writeln!(out, "DROP TRIGGER IF EXISTS {};", ident(&name));
        wrapped(
            &mut out,
            &get(row, "sql_mode").unwrap_or_default(),
            &get(row, "character_set_client").unwrap_or_else(|| "utf8mb4".into()),
            &get(row, "collation_connection").unwrap_or_else(|| "utf8mb4_general_ci".into()),
            &body,
        );
    }
    for kind in ["PROCEDURE", "FUNCTION"] {
        let list: Vec<Row> = conn
            .exec(format!("SHOW {kind} STATUS WHERE Db = ?"), (db,))
            .map_err(|e| c.err(&e))?;
        for r in list {
            let name = get(&r, "Name").unwrap_or_default();
            let rows = q(
                conn,
                format!("SHOW CREATE {kind} {}.{}", ident(db), ident(&name)),
            )?;
            let col = if kind == "PROCEDURE" {
                "Create Procedure"
            } else {
                "Create Function"
            };
            let body = rows.first().and_then(|row| get(row, col)).ok_or_else(|| {
                Error::Other(format!(
                    "{} {db}.{name}: the body is not readable; grant SELECT on mysql.proc (or SHOW_ROUTINE) to the backup user",
                    kind.to_lowercase()
                ))
            })?;
            let row = &rows[0];
            let _ = writeln!(out, "DROP {kind} IF EXISTS {};", ident(&name));
            wrapped(
                &mut out,
                &get(row, "sql_mode").unwrap_or_default(),
                &get(row, "character_set_client").unwrap_or_else(|| "utf8mb4".into()),
                &get(row, "collation_connection").unwrap_or_else(|| "utf8mb4_general_ci".into()),
                &body,
            );
        }
    }
    for e in q(conn, format!("SHOW EVENTS FROM {}", ident(db)))? {
        let name = get(&e, "Name").unwrap_or_default();
        let rows = q(
            conn,
            format!("SHOW CREATE EVENT {}.{}", ident(db), ident(&name)),
        )?;
        let body = rows
            .first()
            .and_then(|row| get(row, "Create Event"))
            .ok_or_else(|| {
                Error::Other(format!(
                    "event {db}.{name}: its definition is not readable (privileges?)"
                ))
            })?;
        let row = &rows[0];
        let _ = writeln!(out, "DROP EVENT IF EXISTS {};", ident(&name));
        wrapped(
            &mut out,
            &get(row, "sql_mode").unwrap_or_default(),
            &get(row, "character_set_client").unwrap_or_else(|| "utf8mb4".into()),
            &get(row, "collation_connection").unwrap_or_else(|| "utf8mb4_general_ci".into()),
            &body,
        );
    }
    Ok(out)
}
