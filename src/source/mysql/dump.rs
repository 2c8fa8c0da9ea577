//! One dump job: a table, or one primary-key range of a big table, streamed row by row
//! from the server (binary protocol, so FLOAT and DOUBLE are exact) into SQL text, cut
//! into frames and compressed on the worker's own thread into a spool file. The first
//! range carries the header and `CREATE TABLE`, the last one the footer, so that the
//! ranges joined in order are one file that restores alone: `mysql db < table.sql`.

use super::connect::Connect;
use super::ordered::OrderedHash;
use super::schema::{Table, TableType};
use super::sql::{ident, quote_str, write_row, ColumnFormat};
use crate::error::{Error, IoContext, Result};
use crate::format::frame::{FrameHasher, Framed, FramedWriter};
use crate::model::{Spool, SpooledPart};
use mysql::prelude::Queryable;
use mysql::Conn;
use std::io::{BufWriter, Write};

pub const HEADER: &str = "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
SET NAMES utf8mb4;
SET @OLD_TIME_ZONE=@@TIME_ZONE, TIME_ZONE='+00:00';
SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0;
SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0;
SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO';
SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0;
";

pub const FOOTER: &str = "SET SQL_MODE=@OLD_SQL_MODE;
SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS;
SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS;
SET TIME_ZONE=@OLD_TIME_ZONE;
SET SQL_NOTES=@OLD_SQL_NOTES;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
";

/// A half-open range of an integer primary key; `None` ends are open.
#[derive(Debug, Clone)]
pub struct Range {
    pub column: String,
    pub lo: Option<i128>,
    pub hi: Option<i128>,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub seq: usize,
    pub db: String,
    pub table: Table,
    /// Structure only (an `ephemeral` table).
    pub no_data: bool,
    pub range: Option<Range>,
    /// `SHOW CREATE TABLE`, read under the global read lock with the rest of the
    /// schema; set on the first range only, which carries the header and the CREATE.
    pub create: Option<String>,
    /// The stored columns to dump, in order, read under the lock with the CREATE (so
    /// that an ALTER after the lock cannot make the INSERTs disagree with it).
    pub columns: std::sync::Arc<Vec<String>>,
    pub last: bool,
    /// The table's triggers (`objects::Objects::triggers`), after its rows; on the last
    /// range only.
    pub triggers: Option<std::sync::Arc<Vec<u8>>>,
    pub insert_bytes: usize,
    /// For a table cut in several ranges: the table's hashes and this range's index.
    pub hash: Option<(std::sync::Arc<OrderedHash>, usize)>,
}

impl Job {
    pub fn label(&self) -> String {
        format!("{}.{}", self.db, self.table.name)
    }
}

/// Runs a job on `conn` (already inside the snapshot); returns its spool file. A range
/// of a table cut in several hashes its bytes into the table's [`OrderedHash`].
pub fn run(conn: &mut Conn, c: &Connect, job: &Job, spool: &Spool) -> Result<SpooledPart> {
    std::fs::create_dir_all(&spool.dir).ctx(|| format!("cannot create {}", spool.dir.display()))?;
    let path = spool.dir.join(format!("{:06}.part", job.seq));
    let file = std::fs::File::create(&path).ctx(|| format!("cannot create {}", path.display()))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let zstd = |e: std::io::Error| Error::Other(format!("zstd: {e}"));
    let framed = match &job.hash {
        Some((shared, i)) => {
            let w = FramedWriter::with_hasher(out, spool.level, spool.frame_size, shared.part(*i));
            write_job(conn, c, job, w.map_err(zstd)?, &path)?
        }
        None => {
            let w = FramedWriter::new(out, spool.level, spool.frame_size);
            write_job(conn, c, job, w.map_err(zstd)?, &path)?
        }
    };
    Ok(SpooledPart { path, framed })
}

fn write_job<H: FrameHasher>(
    conn: &mut Conn,
    c: &Connect,
    job: &Job,
    mut w: FramedWriter<BufWriter<std::fs::File>, H>,
    path: &std::path::Path,
) -> Result<Framed> {
    let io = |e: std::io::Error| Error::io(format!("cannot write spool {}", path.display()), e);
    let t = ident(&job.table.name);
    if let Some(create) = &job.create {
        w.write_all(HEADER.as_bytes()).map_err(io)?;
        let drop = if job.table.kind == TableType::Sequence {
            "SEQUENCE"
        } else {
            "TABLE"
        };
        write!(w, "DROP {drop} IF EXISTS {t};\n{create};\n").map_err(io)?;
    }
    if !job.no_data {
        if job.table.kind == TableType::Sequence {
            let next: Option<i128> = conn
                .query_first(format!(
                    "SELECT next_not_cached_value FROM {}.{t}",
                    ident(&job.db)
                ))
                .map_err(|e| c.err(&e))?;
            if let Some(n) = next {
                writeln!(w, "DO SETVAL({t}, {n}, 0);").map_err(io)?;
            }
        } else {
            rows(conn, c, job, &mut w).map_err(|e| match e {
                Error::Io { source, .. } => io(source),
                e => e,
            })?;
        }
    }
    if let Some(t) = job.triggers.as_deref().filter(|t| !t.is_empty()) {
        w.write_all(b"\n-- triggers, after the rows so that loading them fires none\n")
            .map_err(io)?;
        w.write_all(t).map_err(io)?;
    }
    if job.last {
        w.write_all(FOOTER.as_bytes()).map_err(io)?;
    }
    // Not synced: a spool is read back at once, and thrown away after a crash.
    let (out, framed) = w.finish().map_err(io)?;
    out.into_inner().map_err(|e| io(e.into_error()))?;
    Ok(framed)
}

/// Streams the job's rows as INSERT statements, formatted straight into the pending
/// frame of `w`.
fn rows<H: FrameHasher>(
    conn: &mut Conn,
    c: &Connect,
    job: &Job,
    w: &mut FramedWriter<BufWriter<std::fs::File>, H>,
) -> Result<()> {
    let cols = &job.columns;
    if cols.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = cols.iter().map(|n| ident(n)).collect();
    let list = list.join(",");
    let mut sql = format!(
        "SELECT {list} FROM {}.{}",
        ident(&job.db),
        ident(&job.table.name)
    );
    if let Some(r) = &job.range {
        let k = ident(&r.column);
        match (r.lo, r.hi) {
            (Some(lo), Some(hi)) => sql += &format!(" WHERE {k} >= {lo} AND {k} < {hi}"),
            (Some(lo), None) => sql += &format!(" WHERE {k} >= {lo}"),
            (None, Some(hi)) => sql += &format!(" WHERE {k} < {hi}"),
            (None, None) => {}
        }
    }
    let insert = format!("INSERT INTO {} ({list}) VALUES\n", ident(&job.table.name));
    let mut result = conn.exec_iter(sql, ()).map_err(|e| c.err(&e))?;
    let formats = ColumnFormat::all(result.columns().as_ref());
    let mut in_stmt = 0usize;
    let wr = |e: std::io::Error| Error::io("spool", e);
    while let Some(set) = result.iter() {
        for row in set {
            let row = row.map_err(|e| c.err(&e))?;
            let out = w.pending();
            let start = out.len();
            out.extend_from_slice(if in_stmt == 0 {
                insert.as_bytes()
            } else {
                b",\n"
            });
            write_row(out, &formats, &row);
            in_stmt += out.len() - start;
            if in_stmt >= job.insert_bytes {
                out.extend_from_slice(b";\n");
                in_stmt = 0;
            }
            w.cut().map_err(wr)?;
        }
    }
    if in_stmt > 0 {
        w.pending().extend_from_slice(b";\n");
    }
    Ok(())
}

/// The `CREATE DATABASE` member: restores the database and selects it, its character
/// set stated first (a client whose default is latin1 would mangle a name like `fidé`).
pub fn database_sql(create: &str, db: &str) -> Vec<u8> {
    let create = create.replacen("CREATE DATABASE ", "CREATE DATABASE IF NOT EXISTS ", 1);
    let create = create.replace("IF NOT EXISTS IF NOT EXISTS", "IF NOT EXISTS");
    format!("SET NAMES utf8mb4;\n{create};\nUSE {};\n", ident(db)).into_bytes()
}

/// Wraps an objects member in the session settings it needs.
pub fn objects_sql(body: &[u8]) -> Vec<u8> {
    [HEADER.as_bytes(), body, FOOTER.as_bytes()].concat()
}

/// Splits `[min, max]` of an integer key into about `n` half-open ranges with open ends.
pub fn ranges(column: &str, min: i128, max: i128, n: usize) -> Vec<Range> {
    let n = n.max(1) as i128;
    let step = ((max - min) / n).max(1);
    let mut out = Vec::new();
    let mut lo: Option<i128> = None;
    let mut at = min + step;
    while at <= max && (out.len() as i128) < n - 1 {
        out.push(Range {
            column: column.to_string(),
            lo,
            hi: Some(at),
        });
        lo = Some(at);
        at += step;
    }
    out.push(Range {
        column: column.to_string(),
        lo,
        hi: None,
    });
    out
}

/// Quotes a string for SQL (re-exported for the schema directory writer).
pub fn q(s: &str) -> String {
    quote_str(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_with_open_ends() {
        let r = ranges("id", 1, 100, 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].lo, None);
        assert_eq!(r[3].hi, None);
        for w in r.windows(2) {
            assert_eq!(w[0].hi, w[1].lo);
        }
        assert_eq!(ranges("id", 5, 5, 8).len(), 1);
    }
}
