//! The schema directory: after each backup, the structure of every table and the rows
//! of `global` tables as plain, deterministic SQL (no timestamps, no AUTO_INCREMENT
//! counters, rows in key order), one file per table, so that the directory can live
//! in git and `git diff` shows schema changes. User (`local`) data never goes there.

use super::connect::Connect;
use super::schema::{self, Table};
use super::sql::{ident, write_row, ColumnFormat};
use crate::error::{Error, IoContext, Result};
use mysql::prelude::Queryable;
use mysql::Conn;
use std::collections::BTreeSet;
use std::path::Path;

/// One table to describe: with its data when `with_data` (a `global` table).
pub struct Entry<'a> {
    pub db: &'a str,
    pub table: &'a Table,
    pub with_data: bool,
}

fn strip_counters(create: &str) -> String {
    let re = regex::Regex::new(r" AUTO_INCREMENT=\d+").expect("valid regex");
    re.replace_all(create, "").into_owned()
}

fn table_sql(conn: &mut Conn, c: &Connect, e: &Entry) -> Result<String> {
    // Its character set first, as in every SQL file strata writes.
    let mut out = format!(
        "SET NAMES utf8mb4;\n{};\n",
        strip_counters(&schema::create_table(conn, c, e.db, e.table)?)
    );
    if !e.with_data || e.table.rows_elsewhere() {
        return Ok(out);
    }
    let cols = schema::data_columns(conn, c, e.db, &e.table.name)?;
    if cols.is_empty() {
        return Ok(out);
    }
    let pk: Vec<String> = schema::primary_key(conn, c, e.db, &e.table.name)?
        .into_iter()
        .map(|(n, _)| ident(&n))
        .collect();
    let list: Vec<String> = cols.iter().map(|n| ident(n)).collect();
    let order = if pk.is_empty() {
        list.join(",")
    } else {
        pk.join(",")
    };
    let sql = format!(
        "SELECT {} FROM {}.{} ORDER BY {order}",
        list.join(","),
        ident(e.db),
        ident(&e.table.name)
    );
    let mut result = conn.exec_iter(sql, ()).map_err(|err| c.err(&err))?;
    let formats = ColumnFormat::all(result.columns().as_ref());
    let mut body = Vec::new();
    let mut n = 0;
    while let Some(set) = result.iter() {
        for row in set {
            let row = row.map_err(|err| c.err(&err))?;
            if n > 0 {
                body.extend_from_slice(b",\n");
            }
            write_row(&mut body, &formats, &row);
            n += 1;
        }
    }
    if n > 0 {
        out.push_str(&format!(
            "INSERT INTO {} ({}) VALUES\n",
            ident(&e.table.name),
            list.join(",")
        ));
        out.push_str(&String::from_utf8_lossy(&body));
        out.push_str(";\n");
    }
    Ok(out)
}

/// Writes `<dir>/<host>/<db>/<table>.sql` for every entry; files whose content did not
/// change are left alone; files of tables that no longer exist are removed.
pub fn write(
    conn: &mut Conn,
    c: &Connect,
    dir: &Path,
    host: &str,
    entries: &[Entry],
) -> Result<()> {
    let base = dir.join(host);
    let mut written: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    for e in entries {
        let d = base.join(crate::format::names::database(e.db));
        std::fs::create_dir_all(&d).ctx(|| format!("cannot create {}", d.display()))?;
        let path = d.join(format!(
            "{}.sql",
            crate::format::names::table(&e.table.name)
        ));
        let text = table_sql(conn, c, e)?;
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            let tmp = path.with_extension("sql.tmp");
            std::fs::write(&tmp, &text).ctx(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &path).ctx(|| format!("cannot write {}", path.display()))?;
        }
        written.insert(path);
    }
    let dbs: BTreeSet<&str> = entries.iter().map(|e| e.db).collect();
    for db in dbs {
        for f in std::fs::read_dir(base.join(crate::format::names::database(db)))
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = f.path();
            if p.extension().is_some_and(|x| x == "sql") && !written.contains(&p) {
                std::fs::remove_file(&p).map_err(|err| {
                    Error::io(format!("cannot remove stale {}", p.display()), err)
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn auto_increment_counters_are_stripped() {
        let s = "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT\n) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4";
        let out = super::strip_counters(s);
        assert!(out.contains("NOT NULL AUTO_INCREMENT\n"));
        assert!(!out.contains("AUTO_INCREMENT=42"));
    }
}
