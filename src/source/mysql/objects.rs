//! The objects of a database other than its tables' rows, in the one order that loads
//! in a single pass whatever depends on what: placeholder views (so that views on views
//! and routines on views resolve), then procedures, functions, packages and package
//! bodies (routine bodies are not resolved when created), then the real views (which
//! may call functions), then events. Triggers go with their table's member, after its
//! rows, so that a table restored alone comes back with them ([`Objects::triggers`]).
//!
//! Each definition is the server's own `SHOW CREATE` text read as the bytes the server
//! holds (`character_set_results = binary`, as mysqldump does) and restored under the
//! session state it was created with: sql_mode, character_set_client,
//! collation_connection and, for events, time_zone. So a body written by a latin1
//! client comes back byte for byte, not double-encoded.
//!
//! A view that may not be creatable where it is restored (it reads another database, a
//! table left out of the backup, or is already invalid on the server) is named in a
//! warning at backup time and created last, guarded: if it fails, everything else is
//! in place, its placeholder is dropped, and the script ends with an error naming it.
//! An unreadable definition is an error; a kind of routine strata does not know is a
//! warning naming it.

use super::connect::Connect;
use super::schema::{Table, TableType};
use super::sql::{ident, quote_str};
use super::Category;
use crate::error::{Error, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, Row};
use std::collections::HashMap;
use std::io::Write as _;

/// What [`dump`] found in one database.
#[derive(Default)]
pub struct Objects {
    /// The objects member's body (without header and footer).
    pub body: Vec<u8>,
    /// Per table: its triggers, in firing order, to follow the table's rows.
    pub triggers: HashMap<String, Vec<u8>>,
}

/// What the caller is told and what it must say.
pub struct Context<'a> {
    pub db: &'a str,
    pub tables: &'a [(Table, Category)],
    /// Every database on the server (to tell a cross-database reference).
    pub databases: &'a [String],
    pub warn: &'a mut dyn FnMut(String),
}

fn bytes(row: &Row, name: &str) -> Option<Vec<u8>> {
    let idx = row
        .columns_ref()
        .iter()
        .position(|c| c.name_str().eq_ignore_ascii_case(name))?;
    match row.as_ref(idx)? {
        mysql::Value::Bytes(b) => Some(b.clone()),
        mysql::Value::NULL => None,
        v => Some(v.as_sql(true).into_bytes()),
    }
}

fn get(row: &Row, name: &str) -> Option<String> {
    bytes(row, name).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// One definition read with `SHOW CREATE <what>`: its body bytes and session.
struct Definition {
    what: &'static str,
    name: String,
    body: Vec<u8>,
    sql_mode: String,
    client: String,
    collation: String,
    time_zone: Option<String>,
}

fn read(
    conn: &mut Conn,
    c: &Connect,
    db: &str,
    what: &'static str,
    name: &str,
    column: &str,
) -> Result<Definition> {
    let rows: Vec<Row> = conn
        .query(format!("SHOW CREATE {what} {}.{}", ident(db), ident(name)))
        .map_err(|e| c.err(&e))?;
    let row = rows.first();
    let body = row.and_then(|r| bytes(r, column)).ok_or_else(|| {
        Error::Other(format!(
            "{} {db}.{name}: the definition is not readable; grant the backup user SELECT on mysql.* (or SHOW_ROUTINE)",
            what.to_lowercase()
        ))
    })?;
    let row = row.expect("a body implies a row");
    let field = |k: &str, default: &str| get(row, k).unwrap_or_else(|| default.to_string());
    Ok(Definition {
        what,
        name: name.to_string(),
        body,
        sql_mode: field("sql_mode", ""),
        client: field("character_set_client", "utf8mb4"),
        collation: field("collation_connection", "utf8mb4_general_ci"),
        time_zone: get(row, "time_zone"),
    })
}

impl Definition {
    /// The session it was created in, set (and saved) around `inner`.
    fn wrapped(&self, out: &mut Vec<u8>, inner: impl FnOnce(&mut Vec<u8>)) {
        if let Some(tz) = &self.time_zone {
            let _ = writeln!(
                out,
                "SET @saved_time_zone = @@time_zone, time_zone = {};",
                quote_str(tz)
            );
        }
        let _ = writeln!(
            out,
            "SET @saved_sql_mode = @@sql_mode, sql_mode = {};",
            quote_str(&self.sql_mode)
        );
        let _ = writeln!(
            out,
            "SET @saved_cs_client = @@character_set_client, character_set_client = {};",
            self.client
        );
        let _ = writeln!(
            out,
            "SET @saved_col_connection = @@collation_connection, collation_connection = {};",
            self.collation
        );
        // After sql_mode: a package is dropped in the mode it was created in.
        let _ = writeln!(out, "DROP {} IF EXISTS {};", self.what, ident(&self.name));
        inner(out);
        let _ = writeln!(
            out,
            "SET sql_mode = @saved_sql_mode, character_set_client = @saved_cs_client, collation_connection = @saved_col_connection;"
        );
        if self.time_zone.is_some() {
            out.extend_from_slice(b"SET time_zone = @saved_time_zone;\n");
        }
        out.push(b'\n');
    }

    /// Appends the definition, created plainly.
    fn write(&self, out: &mut Vec<u8>) {
        self.wrapped(out, |out| {
            out.extend_from_slice(b"DELIMITER ;;\n");
            out.extend_from_slice(&self.body);
            out.extend_from_slice(b" ;;\nDELIMITER ;\n");
        });
    }

    /// Appends the definition, created so that its failure is recorded in
    /// `@strata_failed` (with `why` and `advice`) instead of stopping the script, its
    /// placeholder dropped.
    fn write_guarded(&self, advice: &str, out: &mut Vec<u8>) {
        let hex: String = self.body.iter().map(|b| format!("{b:02X}")).collect();
        self.wrapped(out, |out| {
            let _ = write!(
                out,
                "DELIMITER ;;\nBEGIN NOT ATOMIC\n  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION\n  BEGIN\n    GET DIAGNOSTICS CONDITION 1 @strata_msg = MESSAGE_TEXT;\n    SET @strata_failed = CONCAT_WS('; ', @strata_failed, CONCAT({}, DATABASE(), {}, @strata_msg, {}));\n    DROP {} IF EXISTS {};\n  END;\n  EXECUTE IMMEDIATE CONVERT(0x{hex} USING {});\nEND ;;\nDELIMITER ;\n",
                quote_str(&format!("{} ", self.what.to_lowercase())),
                quote_str(&format!(".{} was not created: ", ident(&self.name))),
                quote_str(&format!(" ({advice})")),
                self.what,
                ident(&self.name),
                self.client,
            );
        });
    }
}

/// Why a view may fail where it is restored, if it may.
fn view_risk(
    conn: &mut Conn,
    cx: &Context<'_>,
    name: &str,
    body: &[u8],
) -> Option<(String, String)> {
    // CHECK TABLE opens the view without running it (cheap under the read lock).
    let check = format!("CHECK TABLE {}.{}", ident(cx.db), ident(name));
    let problem = match conn.query::<Row, _>(check) {
        Err(e) => Some(super::connect::one_line(&e)),
        Ok(rows) => rows
            .iter()
            .find(|r| get(r, "Msg_type").is_some_and(|t| t.eq_ignore_ascii_case("error")))
            .and_then(|r| get(r, "Msg_text")),
    };
    if let Some(why) = problem {
        return Some((
            format!("is invalid on the server: {why}"),
            "fix or drop it on the source".into(),
        ));
    }
    let text = String::from_utf8_lossy(body);
    let others: Vec<&String> = cx
        .databases
        .iter()
        .filter(|d| d.as_str() != cx.db && text.contains(&format!("{}.", ident(d))))
        .collect();
    if !others.is_empty() {
        let list: Vec<&str> = others.iter().map(|d| d.as_str()).collect();
        return Some((
            format!("reads database {}", list.join(", ")),
            format!("restore {} first", list.join(", ")),
        ));
    }
    let ignored: Vec<&str> = cx
        .tables
        .iter()
        .filter(|(t, cat)| *cat == Category::Ignore && t.kind != TableType::View)
        // Read in the database, its own tables are unqualified: `t`.`column`.
        .filter(|(t, _)| text.contains(&format!("{}.", ident(&t.name))))
        .map(|(t, _)| t.name.as_str())
        .collect();
    (!ignored.is_empty()).then(|| {
        (
            format!("reads table(s) left out by ignore: {}", ignored.join(", ")),
            format!("create {} first", ignored.join(", ")),
        )
    })
}

/// The objects of `cx.db`, read with `character_set_results = binary` (restored after).
pub fn dump(conn: &mut Conn, c: &Connect, cx: &mut Context<'_>) -> Result<Objects> {
    let saved: Option<String> = conn
        .query_first("SELECT @@character_set_results")
        .map_err(|e| c.err(&e))?;
    // In the database, the server leaves its own qualifier out of view definitions, so
    // they restore under any name (as mysqldump's do); other databases stay named.
    conn.query_drop(format!("USE {}", ident(cx.db)))
        .and_then(|_| conn.query_drop("SET character_set_results = binary"))
        .map_err(|e| c.err(&e))?;
    let out = dump_binary(conn, c, cx);
    let restore = format!(
        "SET character_set_results = {}",
        saved.as_deref().unwrap_or("utf8mb4")
    );
    conn.query_drop(restore).map_err(|e| c.err(&e))?;
    out
}

fn dump_binary(conn: &mut Conn, c: &Connect, cx: &mut Context<'_>) -> Result<Objects> {
    let db = cx.db;
    let mut o = Objects::default();
    let views: Vec<&Table> = cx
        .tables
        .iter()
        .map(|(t, _)| t)
        .filter(|t| t.kind == TableType::View)
        .collect();
    if !views.is_empty() {
        o.body.extend_from_slice(
            b"-- views: placeholders first, so that views on views load in any order\n",
        );
        for v in &views {
            let cols: Vec<Vec<u8>> = conn
                .exec(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS
                     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                    (db, &v.name),
                )
                .map_err(|e| c.err(&e))?;
            let list: Vec<String> = cols
                .iter()
                .map(|n| format!("1 AS {}", ident(&String::from_utf8_lossy(n))))
                .collect();
            let _ = writeln!(
                o.body,
                "DROP TABLE IF EXISTS {0};\nCREATE OR REPLACE VIEW {0} AS SELECT {1};",
                ident(&v.name),
                if list.is_empty() {
                    "1 AS `x`".to_string()
                } else {
                    list.join(", ")
                }
            );
        }
        o.body.push(b'\n');
    }
    routines(conn, c, cx, &mut o.body)?;
    let mut risky = Vec::new();
    for v in &views {
        let def = read(conn, c, db, "VIEW", &v.name, "Create View")?;
        match view_risk(conn, cx, &v.name, &def.body) {
            None => def.write(&mut o.body),
            Some((why, advice)) => {
                (cx.warn)(format!(
                    "view {db}.{} {why}; it is restored last and its failure named ({advice})",
                    v.name
                ));
                risky.push((def, advice));
            }
        }
    }
    o.triggers = triggers(conn, c, cx)?;
    let events: Vec<Row> = conn
        .query(format!("SHOW EVENTS FROM {}", ident(db)))
        .map_err(|e| c.err(&e))?;
    for name in events.iter().filter_map(|r| get(r, "Name")) {
        read(conn, c, db, "EVENT", &name, "Create Event")?.write(&mut o.body);
    }
    if !risky.is_empty() {
        o.body.extend_from_slice(
            b"-- objects that may not be creatable here: each tried, the failures named at the end\nSET @strata_failed = NULL;\n",
        );
        for (def, advice) in &risky {
            def.write_guarded(advice, &mut o.body);
        }
        o.body.extend_from_slice(
            b"DELIMITER ;;\nBEGIN NOT ATOMIC IF @strata_failed IS NOT NULL THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = @strata_failed; END IF; END ;;\nDELIMITER ;\n",
        );
    }
    Ok(o)
}

/// Procedures, functions, packages and package bodies, in that order.
fn routines(conn: &mut Conn, c: &Connect, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Result<()> {
    let list: Vec<(Vec<u8>, Vec<u8>)> = conn
        .exec(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES
             WHERE ROUTINE_SCHEMA = ?
             ORDER BY FIELD(ROUTINE_TYPE, 'PROCEDURE', 'FUNCTION', 'PACKAGE', 'PACKAGE BODY'), ROUTINE_NAME",
            (cx.db,),
        )
        .map_err(|e| c.err(&e))?;
    for (kind, name) in list {
        let name = String::from_utf8_lossy(&name).into_owned();
        let (what, column) = match kind.as_slice() {
            b"PROCEDURE" => ("PROCEDURE", "Create Procedure"),
            b"FUNCTION" => ("FUNCTION", "Create Function"),
            b"PACKAGE" => ("PACKAGE", "Create Package"),
            b"PACKAGE BODY" => ("PACKAGE BODY", "Create Package Body"),
            other => {
                (cx.warn)(format!(
                    "{} {}.{name}: strata does not know this kind of routine; it is not backed up",
                    String::from_utf8_lossy(other).to_lowercase(),
                    cx.db
                ));
                continue;
            }
        };
        read(conn, c, cx.db, what, &name, column)?.write(out);
    }
    Ok(())
}

/// Each table's triggers, in firing order; those of tables not in the backup are named
/// in a warning.
fn triggers(
    conn: &mut Conn,
    c: &Connect,
    cx: &mut Context<'_>,
) -> Result<HashMap<String, Vec<u8>>> {
    let list: Vec<Row> = conn
        .query(format!("SHOW TRIGGERS FROM {}", ident(cx.db)))
        .map_err(|e| c.err(&e))?;
    let mut out: HashMap<String, Vec<u8>> = HashMap::new();
    for row in &list {
        let (Some(name), Some(table)) = (get(row, "Trigger"), get(row, "Table")) else {
            continue;
        };
        let kept = cx
            .tables
            .iter()
            .any(|(t, cat)| t.name == table && *cat != Category::Ignore);
        if !kept {
            (cx.warn)(format!(
                "trigger {}.{name} is on table {table}, which is ignored; it is not backed up",
                cx.db
            ));
            continue;
        }
        let def = read(conn, c, cx.db, "TRIGGER", &name, "SQL Original Statement")?;
        def.write(out.entry(table).or_default());
    }
    Ok(out)
}
