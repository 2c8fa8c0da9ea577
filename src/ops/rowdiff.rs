//! `strata diff A B <table member> --rows`: the rows added, removed and changed between
//! two dumps of a table, keyed by its primary key (by the whole row when it has none).
//!
//! Both dumps are read once, as streams. Rows are spread over partitions by a hash of
//! their key; when the dumps are big the partitions are spilled to temporary files
//! (owner-only), and each partition is joined in memory, so memory is bounded by one
//! partition whatever the size of the table and whatever order the rows come in.

use crate::error::{Error, IoContext, Result};
use crate::format::sqldump::{self, Line};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};

/// Uncompressed bytes of both dumps per partition.
const PARTITION_BYTES: u64 = 64 << 20;
/// Temporary files stay few: beyond 256 x 64 MiB, partitions grow instead.
const MAX_PARTITIONS: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowChange {
    Added,
    Removed,
    Changed,
}

/// One row's change. Rows are their SQL text as dumped, `(v1,v2,...)`.
#[derive(Debug, Serialize)]
pub struct Change {
    pub change: RowChange,
    /// The primary key's values as dumped, joined by `,` (`None`: the table has no key).
    pub key: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Stat {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub old_rows: u64,
    pub new_rows: u64,
}

/// `(key, row)`; the key is the primary key's literals joined by NUL (which a dumped
/// literal never holds), or the row itself.
type Keyed = (Vec<u8>, Vec<u8>);

/// The rows of one dump, keyed.
struct Rows<R> {
    input: R,
    columns: Vec<String>,
    primary_key: Vec<String>,
    key_at: Vec<usize>,
    /// Inside an `INSERT`'s rows: a line that opens with `(` elsewhere (a partition
    /// list of the `CREATE TABLE`, a trigger's body) is not a row.
    in_insert: bool,
    line: Vec<u8>,
    what: &'static str,
}

impl<R: BufRead> Rows<R> {
    fn new(input: R, what: &'static str) -> Self {
        Rows {
            input,
            columns: Vec::new(),
            primary_key: Vec::new(),
            key_at: Vec::new(),
            in_insert: false,
            line: Vec::new(),
            what,
        }
    }

    fn next_row(&mut self) -> Result<Option<Keyed>> {
        loop {
            self.line.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.line)
                .ctx(|| format!("cannot read the {} dump", self.what))?;
            if n == 0 {
                return Ok(None);
            }
            if self.line.last() == Some(&b'\n') {
                self.line.pop();
            }
            match sqldump::classify(&self.line) {
                Line::PrimaryKey(k) => self.primary_key = k,
                Line::Insert(cols) => {
                    self.key_at = self
                        .primary_key
                        .iter()
                        .map(|k| cols.iter().position(|c| c == k))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            Error::Other(format!(
                                "the {} dump's rows lack a primary key column ({})",
                                self.what,
                                self.primary_key.join(", ")
                            ))
                        })?;
                    self.columns = cols;
                    self.in_insert = true;
                }
                Line::Row(row) if self.in_insert => {
                    self.in_insert = self.line.last() != Some(&b';');
                    return self.keyed(row).map(Some);
                }
                Line::Row(_) | Line::Other => {}
            }
        }
    }

    fn keyed(&self, row: &[u8]) -> Result<Keyed> {
        if self.key_at.is_empty() {
            return Ok((row.to_vec(), row.to_vec()));
        }
        let fields = sqldump::fields(row).ok_or_else(|| {
            Error::Other(format!(
                "the {} dump has a row that is not well formed: {}",
                self.what,
                String::from_utf8_lossy(&row[..row.len().min(200)])
            ))
        })?;
        let mut key = Vec::new();
        for (i, &at) in self.key_at.iter().enumerate() {
            let f = fields.get(at).ok_or_else(|| {
                Error::Other(format!(
                    "the {} dump has a row with too few values",
                    self.what
                ))
            })?;
            if i > 0 {
                key.push(0);
            }
            key.extend_from_slice(f);
        }
        Ok((key, row.to_vec()))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Compares dump `old` with dump `new` (`size`: their uncompressed bytes together),
/// handing each change to `emit`.
pub fn rows(
    old: impl Read,
    new: impl Read,
    size: u64,
    emit: &mut dyn FnMut(Change) -> Result<()>,
) -> Result<Stat> {
    let mut a = Rows::new(BufReader::with_capacity(1 << 20, old), "older");
    let mut b = Rows::new(BufReader::with_capacity(1 << 20, new), "newer");
    let parts = size.div_ceil(PARTITION_BYTES).clamp(1, MAX_PARTITIONS) as usize;
    let mut stat = Stat::default();
    if parts == 1 {
        let left = std::iter::from_fn(|| a.next_row().transpose());
        let mut left_rows = Vec::new();
        for r in left {
            left_rows.push(r?);
        }
        let first = b.next_row()?;
        check_keys(&a, &b, first.is_some())?;
        let right = first
            .map(Ok)
            .into_iter()
            .chain(std::iter::from_fn(|| b.next_row().transpose()));
        let keyed = a.key_at.is_empty();
        join(left_rows.into_iter().map(Ok), right, keyed, &mut stat, emit)?;
        return Ok(stat);
    }
    let dir = tempfile::Builder::new()
        .prefix("strata-rowdiff")
        .tempdir()
        .ctx(|| "cannot create a temporary directory".into())?;
    let state = std::collections::hash_map::RandomState::new();
    let spill = |rows: &mut dyn FnMut() -> Result<Option<Keyed>>, side: &str| -> Result<()> {
        let mut files = (0..parts)
            .map(|p| {
                let path = dir.path().join(format!("{side}{p}"));
                std::fs::File::create(&path)
                    .map(|f| BufWriter::with_capacity(256 << 10, f))
                    .ctx(|| format!("cannot create {}", path.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        while let Some((key, row)) = rows()? {
            let mut h = state.build_hasher();
            h.write(&key);
            let f = &mut files[(h.finish() % parts as u64) as usize];
            record(f, &key, &row).ctx(|| "cannot write a temporary file".into())?;
        }
        for mut f in files {
            f.flush().ctx(|| "cannot write a temporary file".into())?;
        }
        Ok(())
    };
    spill(&mut || a.next_row(), "a")?;
    spill(&mut || b.next_row(), "b")?;
    check_keys(&a, &b, true)?;
    let keyed = a.key_at.is_empty();
    for p in 0..parts {
        let open = |side: &str| -> Result<BufReader<std::fs::File>> {
            let path = dir.path().join(format!("{side}{p}"));
            std::fs::File::open(&path)
                .map(|f| BufReader::with_capacity(256 << 10, f))
                .ctx(|| format!("cannot read {}", path.display()))
        };
        let (mut ra, mut rb) = (open("a")?, open("b")?);
        let left = std::iter::from_fn(move || read_record(&mut ra).transpose());
        let right = std::iter::from_fn(move || read_record(&mut rb).transpose());
        join(left, right, keyed, &mut stat, emit)?;
    }
    Ok(stat)
}

/// Both dumps must key rows alike.
fn check_keys<R, S>(a: &Rows<R>, b: &Rows<S>, any_new_row: bool) -> Result<()> {
    if any_new_row && !a.columns.is_empty() && a.primary_key != b.primary_key {
        return Err(Error::Other(format!(
            "the primary key changed between the events ({} -> {}): rows cannot be matched",
            a.primary_key.join(", "),
            b.primary_key.join(", ")
        )));
    }
    Ok(())
}

fn record(f: &mut impl Write, key: &[u8], row: &[u8]) -> std::io::Result<()> {
    f.write_all(&(key.len() as u32).to_le_bytes())?;
    f.write_all(key)?;
    f.write_all(&(row.len() as u32).to_le_bytes())?;
    f.write_all(row)
}

fn read_record(f: &mut impl Read) -> Result<Option<Keyed>> {
    let io = |e: std::io::Error| Error::io("cannot read a temporary file", e);
    let mut field = |first: bool| -> Result<Option<Vec<u8>>> {
        let mut len = [0u8; 4];
        match f.read_exact(&mut len) {
            Err(e) if first && e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            r => r.map_err(io)?,
        }
        let mut v = vec![0u8; u32::from_le_bytes(len) as usize];
        f.read_exact(&mut v).map_err(io)?;
        Ok(Some(v))
    };
    let Some(key) = field(true)? else {
        return Ok(None);
    };
    let row = field(false)?.unwrap_or_default();
    Ok(Some((key, row)))
}

/// Joins the rows of one partition: `old` is held in memory, `new` streams past it.
/// Changes come in the order of `new`, then the removed rows in the order of `old`.
fn join(
    old: impl Iterator<Item = Result<Keyed>>,
    new: impl Iterator<Item = Result<Keyed>>,
    whole_row_keys: bool,
    stat: &mut Stat,
    emit: &mut dyn FnMut(Change) -> Result<()>,
) -> Result<()> {
    let mut held: HashMap<Vec<u8>, VecDeque<(u64, Vec<u8>)>> = HashMap::new();
    for (seq, r) in old.enumerate() {
        let (key, row) = r?;
        stat.old_rows += 1;
        held.entry(key).or_default().push_back((seq as u64, row));
    }
    let key_text = |k: &[u8]| (!whole_row_keys).then(|| text(k).replace('\0', ","));
    for r in new {
        let (key, row) = r?;
        stat.new_rows += 1;
        let before = held.get_mut(&key).and_then(|q| q.pop_front());
        match before {
            Some((_, old_row)) if old_row == row => {}
            Some((_, old_row)) => {
                stat.changed += 1;
                emit(Change {
                    change: RowChange::Changed,
                    key: key_text(&key),
                    old: Some(text(&old_row)),
                    new: Some(text(&row)),
                })?;
            }
            None => {
                stat.added += 1;
                emit(Change {
                    change: RowChange::Added,
                    key: key_text(&key),
                    old: None,
                    new: Some(text(&row)),
                })?;
            }
        }
    }
    let mut gone: Vec<(u64, Vec<u8>, Vec<u8>)> = held
        .into_iter()
        .flat_map(|(k, q)| q.into_iter().map(move |(s, r)| (s, k.clone(), r)))
        .collect();
    gone.sort_unstable_by_key(|g| g.0);
    for (_, key, row) in gone {
        stat.removed += 1;
        emit(Change {
            change: RowChange::Removed,
            key: key_text(&key),
            old: Some(text(&row)),
            new: None,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "CREATE TABLE `t` (\n  `a` int,\n  `b` int,\n  `v` text,\n  PRIMARY KEY (`a`,`b`)\n);\nINSERT INTO `t` (`a`,`b`,`v`) VALUES\n";

    fn diff(old: &str, new: &str, size: u64) -> (Vec<(RowChange, Option<String>)>, Stat) {
        let mut seen = Vec::new();
        let stat = rows(old.as_bytes(), new.as_bytes(), size, &mut |c| {
            seen.push((c.change, c.key));
            Ok(())
        })
        .unwrap();
        seen.sort_by_key(|(c, k)| (format!("{c:?}"), k.clone()));
        (seen, stat)
    }

    #[test]
    fn rows_are_matched_by_composite_key_in_memory_and_spilled() {
        let old = format!("{HEAD}(1,1,'x'),\n(1,2,'y,\\'z'),\n(2,1,'gone');\n");
        let new = format!("{HEAD}(1,2,'y,\\'Z'),\n(1,1,'x'),\n(3,3,'new');\n");
        for size in [10, 3 * PARTITION_BYTES] {
            let (seen, stat) = diff(&old, &new, size);
            assert_eq!(
                seen,
                vec![
                    (RowChange::Added, Some("3,3".into())),
                    (RowChange::Changed, Some("1,2".into())),
                    (RowChange::Removed, Some("2,1".into())),
                ],
                "size {size}"
            );
            assert_eq!((stat.old_rows, stat.new_rows), (3, 3));
        }
    }

    #[test]
    fn lines_opening_with_a_parenthesis_outside_inserts_are_not_rows() {
        let head = "CREATE TABLE `t` (\n  `a` int,\n  `b` int,\n  `v` text,\n  PRIMARY KEY (`a`,`b`)\n) PARTITION BY RANGE (`a`)\n(PARTITION `p0` VALUES LESS THAN (10) ENGINE = InnoDB,\n PARTITION `p1` VALUES LESS THAN MAXVALUE ENGINE = InnoDB);\nINSERT INTO `t` (`a`,`b`,`v`) VALUES\n";
        let trigger = "DELIMITER ;;\nCREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES\n(NEW.a, 9, 'trigger') ;;\nDELIMITER ;\n";
        let old = format!("{head}(1,1,'x');\n{trigger}");
        let new = format!("{head}(1,1,'x'),\n(2,2,'y');\n{trigger}");
        let (seen, stat) = diff(&old, &new, 10);
        assert_eq!(seen, vec![(RowChange::Added, Some("2,2".into()))]);
        assert_eq!((stat.old_rows, stat.new_rows), (1, 2));
    }

    #[test]
    fn without_a_key_rows_are_a_multiset() {
        let head = "CREATE TABLE `n` (\n  `v` int\n);\nINSERT INTO `n` (`v`) VALUES\n";
        let old = format!("{head}(1),\n(1),\n(2);\n");
        let new = format!("{head}(1),\n(2),\n(2);\n");
        let (seen, stat) = diff(&old, &new, 10);
        assert_eq!(
            seen,
            vec![(RowChange::Added, None), (RowChange::Removed, None)]
        );
        assert_eq!((stat.added, stat.removed, stat.changed), (1, 1, 0));
    }
}
