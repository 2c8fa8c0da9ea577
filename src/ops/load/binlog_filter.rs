//! Which of the statements `mariadb-binlog` prints belong to the database being
//! restored. `mariadb-binlog --database` keeps a statement only when the session's
//! default database is the one named, so `DROP TABLE app1.items` sent without one, or
//! `DELETE FROM app2.accounts` sent from `app1`, were dropped from a replay without a
//! word. This filter reads the tool's whole output instead and keeps:
//! - a row event (`BINLOG '...'`) when the tables it maps are the database's; one that
//!   maps the database's tables and others' stops the replay, named;
//! - a statement run in the database (as the tool printed its `use`), as before;
//! - a statement from elsewhere that names the database (`app1.t`): it is run in an
//!   empty scratch database, so that a name it leaves unqualified fails loudly rather
//!   than resolve to the wrong table, with the rename applied to its names;
//! - transaction bounds and session settings, always.
//!
//! Nothing is dropped that names the database; what cannot be split stops the replay
//! with the position and the statement.

use crate::format::sqlscript::{database_statement, rename_qualifier};
use crate::source::mysql::sql::ident;
use std::collections::HashMap;
use std::io::{BufRead, Write};

/// The database a replay restores.
pub struct Scope<'a> {
    /// Its name in the captured binlogs.
    pub old: &'a str,
    /// Its name on the target (`--rename`; `mariadb-binlog --rewrite-db` already
    /// renamed `use` and row events to it).
    pub target: &'a str,
    /// An empty database for statements from elsewhere.
    pub scratch: &'a str,
    /// The names of the files fed to the tool, in order (for positions in messages).
    pub files: &'a [String],
    /// The event at a `# at` offset of the Nth file (from 0), read from the file itself:
    /// the tool prints `use` only when a database is set, so a statement sent with none
    /// would look like one run in the last database printed. `None` for text without
    /// its files (tests): the printed `use` is followed then.
    pub lookup: Option<&'a (dyn Fn(usize, u64) -> Option<crate::format::binlog::EventAt> + Sync)>,
}

/// Why the filter stopped.
#[derive(Debug)]
pub enum Stop {
    Io(std::io::Error),
    /// A statement that cannot be split: where, and its first words.
    Undecidable {
        at: String,
        what: String,
    },
}

const DELIMITER: &[u8] = b"/*!*/;";

/// One statement of the tool's output: its comment lines and its text.
#[derive(Default)]
struct Unit {
    lines: Vec<Vec<u8>>,
}

impl Unit {
    fn comments(&self) -> impl Iterator<Item = &[u8]> {
        self.lines
            .iter()
            .map(Vec::as_slice)
            .filter(|l| l.starts_with(b"#"))
    }

    /// The statement, without comment lines and the trailing delimiter.
    fn text(&self) -> Vec<u8> {
        let mut t: Vec<u8> = self
            .lines
            .iter()
            .filter(|l| !l.starts_with(b"#"))
            .flat_map(|l| l.iter().copied())
            .collect();
        while t.last().is_some_and(|b| b.is_ascii_whitespace()) {
            t.pop();
        }
        if t.ends_with(DELIMITER) {
            t.truncate(t.len() - DELIMITER.len());
        }
        while t.last().is_some_and(|b| b.is_ascii_whitespace()) {
            t.pop();
        }
        t
    }

    /// Databases of the tables its row events touch: those a `Table_map` in it names
    /// (recorded in `tables` by their table id) and those a rows event refers to by id
    /// (`table id N`), mapped by an earlier statement.
    fn touched(&self, tables: &mut HashMap<u64, String>) -> Vec<String> {
        let mut dbs = Vec::new();
        for l in self.comments() {
            let text = String::from_utf8_lossy(l);
            if let Some(i) = text.find("Table_map: ") {
                let rest = &text[i + 11..];
                let db = crate::format::sqldump::idents(rest).into_iter().next();
                let id = rest
                    .split("mapped to number ")
                    .nth(1)
                    .and_then(|n| n.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok());
                if let (Some(db), Some(id)) = (&db, id) {
                    tables.insert(id, db.clone());
                }
                dbs.extend(db);
            } else if let Some(i) = text.find("table id ") {
                let id = text[i + 9..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse::<u64>().ok());
                dbs.extend(id.and_then(|id| tables.get(&id).cloned()));
            }
        }
        dbs.sort();
        dbs.dedup();
        dbs
    }
}

/// Copies the statements of `input` (the output of `mariadb-binlog`) that belong to the
/// database of `scope` into `out`. Before the statements of each event it writes a
/// [`super::apply::MARK`] comment naming the event's binlog position, so that a failing
/// statement is named by where it came from.
pub fn filter<R: BufRead, W: Write>(input: R, out: &mut W, scope: &Scope<'_>) -> Result<(), Stop> {
    let mut f = Filter {
        scope,
        out,
        marked: String::new(),
        tables: HashMap::new(),
        in_body: false,
        printed_db: None,
        emitted_db: scope.target.to_string(),
        at: String::new(),
        file: 0,
    };
    f.run(input)
}

struct Filter<'a, 's, W> {
    scope: &'a Scope<'s>,
    out: &'a mut W,
    /// The position the last mark named.
    marked: String,
    /// Table ids of the row events so far, and their databases.
    tables: HashMap<u64, String>,
    /// Between `DELIMITER /*!*/;` and `DELIMITER ;`.
    in_body: bool,
    /// The default database the tool last printed (`use`).
    printed_db: Option<String>,
    /// The default database of the client, as this filter last set it.
    emitted_db: String,
    /// The last `# at` position.
    at: String,
    /// How many files have started (their format description event).
    file: usize,
}

impl<W: Write> Filter<'_, '_, W> {
    fn run<R: BufRead>(&mut self, mut input: R) -> Result<(), Stop> {
        let mut unit = Unit::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).map_err(Stop::Io)? == 0 {
                break;
            }
            let t = line.trim_ascii();
            if !self.in_body {
                if t == b"DELIMITER /*!*/;" {
                    self.in_body = true;
                    let scratch = ident(self.scope.scratch);
                    writeln!(self.out, "CREATE DATABASE IF NOT EXISTS {scratch};")
                        .map_err(Stop::Io)?;
                }
                self.out.write_all(&line).map_err(Stop::Io)?;
                continue;
            }
            if t == b"DELIMITER ;" {
                self.flush_unit(&mut unit)?;
                self.in_body = false;
                self.out.write_all(&line).map_err(Stop::Io)?;
                continue;
            }
            if let Some(p) = t.strip_prefix(b"# at ") {
                self.at = String::from_utf8_lossy(p).into_owned();
            }
            unit.lines.push(line.clone());
            if t.ends_with(DELIMITER) {
                self.flush_unit(&mut unit)?;
            }
        }
        self.flush_unit(&mut unit)?;
        writeln!(
            self.out,
            "DROP DATABASE IF EXISTS {};",
            ident(self.scope.scratch)
        )
        .map_err(Stop::Io)
    }

    fn ours(&self, db: &str) -> bool {
        db == self.scope.old || db == self.scope.target
    }

    /// The current event in the server's own file: `binlog.000012:4567`.
    fn position(&self) -> String {
        let file = self
            .scope
            .files
            .get(self.file.saturating_sub(1))
            .map_or("?", String::as_str);
        match self.event() {
            Some(e) => format!("{file}:{}", e.start),
            None => format!("{file}:{}", self.at),
        }
    }

    fn event(&self) -> Option<crate::format::binlog::EventAt> {
        let lookup = self.scope.lookup?;
        lookup(self.file.checked_sub(1)?, self.at.trim().parse().ok()?)
    }

    /// Notes, in the script, that what is written next belongs to the current event.
    fn mark(&mut self) -> Result<(), Stop> {
        let pos = self.position();
        if self.marked != pos {
            writeln!(self.out, "{}{pos}", super::apply::MARK).map_err(Stop::Io)?;
            self.marked = pos;
        }
        Ok(())
    }

    fn emit_use(&mut self, db: &str) -> Result<(), Stop> {
        self.mark()?;
        if self.emitted_db != db {
            writeln!(self.out, "use {}/*!*/;", ident(db)).map_err(Stop::Io)?;
            self.emitted_db = db.to_string();
        }
        Ok(())
    }

    fn emit(&mut self, unit: &Unit) -> Result<(), Stop> {
        self.mark()?;
        for l in &unit.lines {
            self.out.write_all(l).map_err(Stop::Io)?;
        }
        Ok(())
    }

    fn flush_unit(&mut self, unit: &mut Unit) -> Result<(), Stop> {
        let u = std::mem::take(unit);
        if u.lines.is_empty() {
            return Ok(());
        }
        let text = u.text();
        let head = text.trim_ascii_start();
        if u.comments().any(|c| c.windows(7).any(|w| w == b"Start: ")) {
            self.file += 1;
        }
        if let Some(rest) = strip_word(head, b"use") {
            let db = crate::format::sqldump::idents(&String::from_utf8_lossy(rest));
            self.printed_db = db.into_iter().next();
            return Ok(());
        }
        let mapped = u.touched(&mut self.tables);
        let rows = u
            .comments()
            .any(|c| c.windows(9).any(|w| w == b"table id "));
        if head.starts_with(b"BINLOG") && rows && mapped.is_empty() {
            return Err(Stop::Undecidable {
                at: self.position(),
                what: "a row event whose table map is not in the captured binlogs".into(),
            });
        }
        if head.starts_with(b"BINLOG") && !mapped.is_empty() {
            let mine = mapped.iter().filter(|d| self.ours(d)).count();
            if mine == 0 {
                return Ok(());
            }
            if mine < mapped.len() {
                return Err(Stop::Undecidable {
                    at: self.position(),
                    what: format!(
                        "one row event changes tables of {} and of {}",
                        self.scope.old,
                        mapped
                            .iter()
                            .filter(|d| !self.ours(d))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            return self.emit(&u);
        }
        if is_control(head) || head.is_empty() {
            return self.emit(&u);
        }
        // On a whole database: ours (renamed), or another's (not ours to replay).
        if let Some((name, at)) = database_statement(&text) {
            if !self.ours(&name) {
                return Ok(());
            }
            let mut renamed = text[..at.start].to_vec();
            renamed.extend_from_slice(ident(self.scope.target).as_bytes());
            renamed.extend_from_slice(&text[at.end..]);
            let target = self.scope.target.to_string();
            return self.emit_statement(&u, &target, &renamed);
        }
        // A statement in the database (its qualified names renamed too: `--rewrite-db`
        // renames only the `use`), or one from elsewhere that names it.
        // The statement's own default database, read from its event where possible.
        let own_db = match self.event().and_then(|e| e.query_db) {
            Some(db) => db,
            None => self.printed_db.clone(),
        };
        let default = if own_db.as_deref().is_some_and(|d| self.ours(d)) {
            self.scope.target
        } else if names_database(&text, self.scope.old) {
            self.scope.scratch
        } else {
            return Ok(());
        };
        if self.scope.old == self.scope.target || !names_database(&text, self.scope.old) {
            self.emit_use(default)?;
            return self.emit(&u);
        }
        let renamed = rename_qualifier(&text, self.scope.old, self.scope.target);
        self.emit_statement(&u, default, &renamed)
    }

    /// Writes `text` in place of `u`'s statement (its comments kept), in database `db`.
    fn emit_statement(&mut self, u: &Unit, db: &str, text: &[u8]) -> Result<(), Stop> {
        self.emit_use(db)?;
        self.mark()?;
        for l in u.lines.iter().filter(|l| l.starts_with(b"#")) {
            self.out.write_all(l).map_err(Stop::Io)?;
        }
        self.out.write_all(text).map_err(Stop::Io)?;
        self.out.write_all(b"\n/*!*/;\n").map_err(Stop::Io)
    }
}

/// `word` (any case) at the start of `s`, followed by a blank: the rest.
fn strip_word<'a>(s: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..word.len())?;
    let next = s.get(word.len())?;
    (head.eq_ignore_ascii_case(word) && next.is_ascii_whitespace()).then(|| &s[word.len()..])
}

/// Session settings, transaction bounds and the tool's own comments-as-code: kept.
fn is_control(s: &[u8]) -> bool {
    let upper: Vec<u8> = s.iter().take(24).map(u8::to_ascii_uppercase).collect();
    [
        &b"SET "[..],
        b"SET\n",
        b"/*!",
        b"/*M!",
        b"START TRANSACTION",
        b"BEGIN",
        b"COMMIT",
        b"ROLLBACK",
        b"XA ",
        b"BINLOG",
    ]
    .iter()
    .any(|p| upper.starts_with(p))
}

/// Whether `s` names database `db` as a qualifier (`db.t`, `` `db`.`t` ``), outside
/// strings and comments.
fn names_database(s: &[u8], db: &str) -> bool {
    const MARK: &str = "strata\u{1}renamed";
    let renamed = rename_qualifier(s, db, MARK);
    renamed != s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, old: &str, target: &str) -> Result<String, Stop> {
        let mut out = Vec::new();
        let files = vec!["binlog.000001".to_string()];
        filter(
            input.as_bytes(),
            &mut out,
            &Scope {
                old,
                target,
                scratch: "scratch",
                files: &files,
                lookup: None,
            },
        )?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn each_event_of_the_script_is_named_by_its_binlog_position() {
        let out = run(LOG, "app2", "app2").unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("DROP TABLE app2.gone"))
            .unwrap();
        let mark = lines[..at]
            .iter()
            .rev()
            .find(|l| l.starts_with(super::super::apply::MARK))
            .unwrap();
        assert_eq!(*mark, "# strata-at binlog.000001:1500");
    }

    const LOG: &str = "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;
DELIMITER /*!*/;
# at 4
#261128 server id 1 Start: binlog v 4
BINLOG '
AAAA
'/*!*/;
# at 379
#261128 GTID 0-1-166 trans
/*M!100001 SET @@session.gtid_seq_no=166*//*!*/;
START TRANSACTION
/*!*/;
# at 1339
#261128 Query thread_id=82
use `app1`/*!*/;
SET TIMESTAMP=1795895166/*!*/;
delete from app2.accounts where a=1
/*!*/;
# at 1400
#261128 Query thread_id=82
DROP TABLE `items` /* generated by server */
/*!*/;
# at 1500
#261128 Query thread_id=83
DROP TABLE app2.gone
/*!*/;
# at 1600
#261128 Table_map: `app2`.`accounts` mapped to number 164
# at 1650
#261128 Write_rows: table id 164 flags: STMT_END_F

BINLOG '
BBBB
'/*!*/;
# at 1700
#261128 Table_map: `app1`.`items` mapped to number 167
#261128 Write_rows: table id 167 flags: STMT_END_F

BINLOG '
CCCC
'/*!*/;
COMMIT/*!*/;
DELIMITER ;
ROLLBACK /* added by mysqlbinlog */;
";

    #[test]
    fn statements_naming_the_database_from_elsewhere_are_kept_in_a_scratch_database() {
        let out = run(LOG, "app2", "app2").unwrap();
        assert!(
            out.contains("use `scratch`/*!*/;\ndelete from app2.accounts where a=1\n/*!*/;"),
            "{out}"
        );
        assert!(out.contains("DROP TABLE app2.gone"), "{out}");
        assert!(out.contains("BBBB") && !out.contains("CCCC"), "{out}");
        assert!(!out.contains("DROP TABLE `items`"), "{out}");
        assert!(
            out.contains("AAAA") && out.contains("START TRANSACTION") && out.contains("COMMIT")
        );
        assert!(out.contains("CREATE DATABASE IF NOT EXISTS `scratch`;"));
        assert!(out
            .trim_end()
            .ends_with("DROP DATABASE IF EXISTS `scratch`;"));
    }

    #[test]
    fn statements_in_the_database_stay_there_and_renames_follow_names() {
        let out = run(LOG, "app1", "copy").unwrap();
        assert!(out.contains("DROP TABLE `items`"), "{out}");
        assert!(!out.contains("use `scratch`"), "{out}");
        assert!(out.contains("CCCC") && !out.contains("BBBB"), "{out}");
        let out = run(LOG, "app2", "copy2").unwrap();
        assert!(out.contains("delete from `copy2`.accounts"), "{out}");
        // Under its own `use`, a qualified name is renamed too.
        let own = LOG.replace("DROP TABLE `items`", "INSERT INTO app1.items VALUES (7)");
        let out = run(&own, "app1", "copy").unwrap();
        assert!(out.contains("INSERT INTO `copy`.items VALUES (7)"), "{out}");
    }

    #[test]
    fn statements_on_whole_databases_follow_the_rename_and_skip_others() {
        let log = LOG.replace(
            "DROP TABLE app2.gone",
            "DROP DATABASE IF EXISTS app1\n/*!*/;\nCREATE DATABASE app2",
        );
        let out = run(&log, "app1", "copy").unwrap();
        assert!(out.contains("DROP DATABASE IF EXISTS `copy`"), "{out}");
        assert!(
            !out.contains("app1\n") && !out.contains("CREATE DATABASE app2"),
            "{out}"
        );
    }

    #[test]
    fn a_rows_event_printed_apart_from_its_table_map_follows_the_map() {
        let log = LOG.replace(
            "COMMIT/*!*/;",
            "# at 1800\n#261128 Write_rows: table id 164 flags: STMT_END_F\n\nBINLOG '\nDDDD\n'/*!*/;\nCOMMIT/*!*/;",
        );
        let out = run(&log, "app1", "app1").unwrap();
        assert!(!out.contains("DDDD") && out.contains("CCCC"), "{out}");
        let out = run(&log, "app2", "app2").unwrap();
        assert!(out.contains("DDDD") && out.contains("BBBB"), "{out}");
    }

    #[test]
    fn a_row_event_across_databases_stops_the_replay_with_its_position() {
        let mixed = LOG.replace(
            "#261128 Write_rows: table id 167",
            "#261128 Table_map: `app2`.`x` mapped to number 9\n#261128 Write_rows: table id 167",
        );
        match run(&mixed, "app1", "app1") {
            Err(Stop::Undecidable { at, what }) => {
                assert_eq!(at, "binlog.000001:1700");
                assert!(what.contains("app2"), "{what}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
