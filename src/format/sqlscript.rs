//! SQL scripts as the `mariadb` client reads them: statements end at the current
//! delimiter (`;` until a `DELIMITER` line changes it) only outside strings, quoted
//! names and comments. `strata load` splits members with this, so a table named
//! ``semi;`` or a trigger body with `;` inside never cuts a statement, and a rename
//! follows qualified names through the same tokens ([`rename_qualifier`]).
//!
//! It works on bytes: an object's body is carried in the character set it was created
//! in, which need not be UTF-8.

use std::io::BufRead;

/// Lexer state carried across the lines of one statement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Code,
    /// Inside a quoted string or name; the byte is its quote.
    Quoted(u8),
    /// After `--` or `#`, up to the end of the line.
    LineComment,
    /// Inside `/* ... */` (not `/*!`, whose content is code).
    BlockComment,
}

/// One statement of a script.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    /// The text, without its delimiter.
    pub text: Vec<u8>,
    /// The delimiter in force when it was read (`;` unless a `DELIMITER` line said).
    pub delimiter: Vec<u8>,
}

impl Statement {
    /// The statement as a client script: wrapped in `DELIMITER` lines when its
    /// delimiter is not `;`.
    pub fn script(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 32);
        if self.delimiter == b";" {
            out.extend_from_slice(&self.text);
            out.extend_from_slice(b";\n");
        } else {
            out.extend_from_slice(b"DELIMITER ");
            out.extend_from_slice(&self.delimiter);
            out.push(b'\n');
            out.extend_from_slice(&self.text);
            out.extend_from_slice(&self.delimiter);
            out.extend_from_slice(b"\nDELIMITER ;\n");
        }
        out
    }
}

/// Reads the statements of a script, one at a time, in bounded memory (one statement).
pub struct Statements<R> {
    input: R,
    delimiter: Vec<u8>,
    /// Bytes read but not yet part of a returned statement.
    carry: Vec<u8>,
}

impl<R: BufRead> Statements<R> {
    pub fn new(input: R) -> Self {
        Statements {
            input,
            delimiter: b";".to_vec(),
            carry: Vec::new(),
        }
    }

    /// The next statement, or `None` at the end. Statements of only comments and blanks
    /// are skipped; `DELIMITER` lines are consumed.
    pub fn next_statement(&mut self) -> std::io::Result<Option<Statement>> {
        let mut stmt = std::mem::take(&mut self.carry);
        let mut state = State::Code;
        let mut scanned = 0;
        loop {
            if let Some(end) = scan(&stmt, scanned, &mut state, &self.delimiter) {
                self.carry = stmt.split_off(end + self.delimiter.len());
                stmt.truncate(end);
                if is_blank(&stmt) {
                    stmt = std::mem::take(&mut self.carry);
                    state = State::Code;
                    scanned = 0;
                    continue;
                }
                return Ok(Some(Statement {
                    text: stmt,
                    delimiter: self.delimiter.clone(),
                }));
            }
            // Read straight into the statement: rows are most of a dump.
            scanned = stmt.len();
            if self.input.read_until(b'\n', &mut stmt)? == 0 {
                return Ok((!is_blank(&stmt)).then(|| Statement {
                    text: stmt,
                    delimiter: self.delimiter.clone(),
                }));
            }
            if state == State::Code && is_blank(&stmt[..scanned]) {
                if let Some(d) = delimiter_command(&stmt[scanned..]) {
                    self.delimiter = d;
                    stmt.clear();
                    scanned = 0;
                }
            }
        }
    }
}

/// `DELIMITER x` (any case) on a line of its own: the new delimiter.
fn delimiter_command(line: &[u8]) -> Option<Vec<u8>> {
    let t = line.trim_ascii();
    let head = t.get(..10)?;
    if !head.eq_ignore_ascii_case(b"delimiter ") {
        return None;
    }
    let d = t[10..].trim_ascii();
    (!d.is_empty()).then(|| d.to_vec())
}

/// Nothing but blanks and comments.
fn is_blank(s: &[u8]) -> bool {
    let mut state = State::Code;
    let mut i = 0;
    while i < s.len() {
        match state {
            State::Code => match s[i] {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'#' => state = State::LineComment,
                b'-' if s[i..].starts_with(b"-- ") || s[i..].starts_with(b"--\n") => {
                    state = State::LineComment
                }
                b'/' if s[i..].starts_with(b"/*") && !s[i..].starts_with(b"/*!") => {
                    state = State::BlockComment;
                    i += 1;
                }
                _ => return false,
            },
            State::LineComment => {
                if s[i] == b'\n' {
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if s[i..].starts_with(b"*/") {
                    state = State::Code;
                    i += 1;
                }
            }
            State::Quoted(_) => unreachable!("never entered"),
        }
        i += 1;
    }
    true
}

/// Bytes that may change the lexer's state in code (the delimiter's first byte aside).
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let bytes = b"'\"`#-/";
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// Scans `s` from `from` (in `state`) for `delimiter` outside quotes and comments;
/// the index where it starts. `state` is left as it is at the end of `s`. Runs of
/// plain bytes are skipped whole (rows are most of a dump: strings by memchr).
fn scan(s: &[u8], from: usize, state: &mut State, delimiter: &[u8]) -> Option<usize> {
    let d0 = delimiter[0];
    let mut i = from;
    while i < s.len() {
        match *state {
            State::Code => {
                while i < s.len() && !SPECIAL[s[i] as usize] && s[i] != d0 {
                    i += 1;
                }
                if i == s.len() {
                    return None;
                }
                if s[i..].starts_with(delimiter) {
                    return Some(i);
                }
                match opener(s, i) {
                    Some((next, len)) => {
                        *state = next;
                        i += len;
                    }
                    None => i += 1,
                }
            }
            State::Quoted(q) => {
                let next = if q == b'`' {
                    memchr::memchr(q, &s[i..])
                } else {
                    memchr::memchr2(q, b'\\', &s[i..])
                };
                i += next?;
                if s[i] == b'\\' {
                    i += 2;
                } else if s.get(i + 1) == Some(&q) {
                    // A doubled quote stays inside.
                    i += 2;
                } else {
                    *state = State::Code;
                    i += 1;
                }
            }
            State::LineComment => match memchr::memchr(b'\n', &s[i..]) {
                Some(k) => {
                    *state = State::Code;
                    i += k + 1;
                }
                None => return None,
            },
            State::BlockComment => match memchr::memmem::find(&s[i..], b"*/") {
                Some(k) => {
                    *state = State::Code;
                    i += k + 2;
                }
                None => return None,
            },
        }
    }
    None
}

/// In code at `i`: the quote or comment that starts there, and its opener's length.
/// `/*!` (an executable comment) is code.
fn opener(s: &[u8], i: usize) -> Option<(State, usize)> {
    match s[i] {
        b @ (b'\'' | b'"' | b'`') => Some((State::Quoted(b), 1)),
        b'#' => Some((State::LineComment, 1)),
        b'-' if s.get(i + 1) == Some(&b'-')
            && matches!(s.get(i + 2), Some(b' ' | b'\t' | b'\n' | b'\r')) =>
        {
            Some((State::LineComment, 1))
        }
        b'/' if s.get(i + 1) == Some(&b'*') && s.get(i + 2) != Some(&b'!') => {
            Some((State::BlockComment, 2))
        }
        _ => None,
    }
}

/// Advances the lexer over the byte (or escape, doubled quote, comment opener or
/// closer) at `i`; how many bytes it took.
fn step(s: &[u8], i: usize, state: &mut State) -> usize {
    let b = s[i];
    match *state {
        State::Code => match opener(s, i) {
            Some((next, len)) => {
                *state = next;
                len
            }
            None => 1,
        },
        State::Quoted(q) => {
            let escape = b == b'\\' && q != b'`';
            if escape || (b == q && s.get(i + 1) == Some(&q)) {
                2
            } else {
                if b == q {
                    *state = State::Code;
                }
                1
            }
        }
        State::LineComment => {
            if b == b'\n' {
                *state = State::Code;
            }
            1
        }
        State::BlockComment if b == b'*' && s.get(i + 1) == Some(&b'/') => {
            *state = State::Code;
            2
        }
        State::BlockComment => 1,
    }
}

/// A name token at `i` (bare or backquoted): its value and the index after it.
pub fn name_at(s: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    let bare = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
    if s.get(i) == Some(&b'`') {
        let mut v = Vec::new();
        let mut j = i + 1;
        while j < s.len() {
            if s[j] == b'`' {
                if s.get(j + 1) == Some(&b'`') {
                    v.push(b'`');
                    j += 2;
                    continue;
                }
                return Some((v, j + 1));
            }
            v.push(s[j]);
            j += 1;
        }
        return None;
    }
    let mut j = i;
    while j < s.len() && bare(s[j]) {
        j += 1;
    }
    (j > i && !s[i..j].iter().all(u8::is_ascii_digit)).then(|| (s[i..j].to_vec(), j))
}

/// A statement on a whole database (`CREATE [OR REPLACE] DATABASE|SCHEMA [IF NOT
/// EXISTS] name`, `DROP ... [IF EXISTS] name`, `ALTER ... name`): the name and where it
/// lies in `s`. `None` for other statements, and for `ALTER DATABASE` without a name.
pub fn database_statement(s: &[u8]) -> Option<(String, std::ops::Range<usize>)> {
    let mut i = 0;
    let word = |s: &[u8], i: &mut usize| -> Option<Vec<u8>> {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_alphabetic() {
            *i += 1;
        }
        (*i > start).then(|| s[start..*i].to_ascii_uppercase())
    };
    let verb = word(s, &mut i)?;
    if !matches!(verb.as_slice(), b"CREATE" | b"DROP" | b"ALTER") {
        return None;
    }
    let mut w = word(s, &mut i)?;
    if w == b"OR" {
        word(s, &mut i).filter(|r| r == b"REPLACE")?;
        w = word(s, &mut i)?;
    }
    if !matches!(w.as_slice(), b"DATABASE" | b"SCHEMA") {
        return None;
    }
    let mut at = i;
    let mut probe = i;
    if word(s, &mut probe).as_deref() == Some(b"IF") {
        let mut after = probe;
        match word(s, &mut after).as_deref() {
            Some(b"NOT") => {
                word(s, &mut after).filter(|e| e == b"EXISTS")?;
            }
            Some(b"EXISTS") => {}
            _ => return None,
        }
        at = after;
    }
    while at < s.len() && s[at].is_ascii_whitespace() {
        at += 1;
    }
    let (name, end) = name_at(s, at)?;
    let upper = name.to_ascii_uppercase();
    // `ALTER DATABASE CHARACTER SET ...`: the default database, not one named.
    if s[at] != b'`'
        && matches!(
            upper.as_slice(),
            b"CHARACTER" | b"DEFAULT" | b"COLLATE" | b"CHARSET" | b"COMMENT"
        )
    {
        return None;
    }
    Some((String::from_utf8_lossy(&name).into_owned(), at..end))
}

/// A `"name"` at `i` (no escapes, no doubled quotes) directly followed by `.`: the
/// index after its closing quote.
fn quoted_qualifier(s: &[u8], i: usize) -> Option<usize> {
    let close = i + 1 + memchr::memchr2(b'"', b'\\', &s[i + 1..])?;
    (s[close] == b'"' && s.get(close + 1) == Some(&b'.') && close > i + 1).then_some(close + 1)
}

/// `s` with every name qualified by database `old` (`old.x`, `` `old`.`x` ``) qualified
/// by `new` instead, outside strings and comments. A rename follows the qualified
/// names of table defaults, views, routines, triggers and events with this.
pub fn rename_qualifier(s: &[u8], old: &str, new: &str) -> Vec<u8> {
    let quoted_new = format!("`{}`", new.replace('`', "``"));
    let mut out = Vec::with_capacity(s.len() + 16);
    let mut state = State::Code;
    let mut i = 0;
    let mut prev: u8 = b' ';
    while i < s.len() {
        let b = s[i];
        // A double-quoted name followed by `.` is a qualifier (ANSI_QUOTES, as an
        // Oracle-mode package is shown): a string is never followed by a dot.
        if state == State::Code && b == b'"' && prev != b'.' {
            if let Some(end) = quoted_qualifier(s, i) {
                let name = s[i + 1..end - 1].to_vec();
                if name == old.as_bytes() {
                    out.extend_from_slice(format!("\"{}\"", new.replace('"', "\"\"")).as_bytes());
                } else {
                    out.extend_from_slice(&s[i..end]);
                }
                prev = b'"';
                i = end;
                continue;
            }
        }
        if state == State::Code
            && (b == b'`' || b.is_ascii_alphabetic() || b == b'_' || b >= 0x80)
            && !(prev.is_ascii_alphanumeric() || prev == b'_' || prev == b'$' || prev == b'.')
        {
            if let Some((name, end)) = name_at(s, i) {
                if name == old.as_bytes() && s.get(end) == Some(&b'.') {
                    out.extend_from_slice(quoted_new.as_bytes());
                } else {
                    out.extend_from_slice(&s[i..end]);
                }
                prev = s[end - 1];
                i = end;
                continue;
            }
        }
        // Advance the lexer by one byte (two for escapes and comment openers).
        let step = step(s, i, &mut state);
        let end = (i + step).min(s.len());
        out.extend_from_slice(&s[i..end]);
        prev = s[end - 1];
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8]) -> Vec<(String, String)> {
        let mut s = Statements::new(text);
        let mut out = Vec::new();
        while let Some(st) = s.next_statement().unwrap() {
            out.push((
                String::from_utf8(st.text).unwrap(),
                String::from_utf8(st.delimiter).unwrap(),
            ));
        }
        out
    }

    #[test]
    fn statements_end_at_the_delimiter_outside_quotes_and_comments() {
        let text = "SET NAMES utf8mb4;\n\nCREATE TABLE `semi;\ncolon` (\n  `a` int -- x;\n, `b` text /* ; */\n);\nINSERT INTO `t` VALUES\n(1,'x;\\';'),\n(2,\"y;\");\n";
        let got = all(text.as_bytes());
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "SET NAMES utf8mb4",
                "\n\nCREATE TABLE `semi;\ncolon` (\n  `a` int -- x;\n, `b` text /* ; */\n)",
                "\nINSERT INTO `t` VALUES\n(1,'x;\\';'),\n(2,\"y;\")",
            ]
        );
    }

    #[test]
    fn delimiter_lines_change_the_delimiter_and_are_consumed() {
        let text = "DROP TRIGGER IF EXISTS `t1`;\nDELIMITER ;;\nCREATE TRIGGER t1 BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; SET NEW.b = ';'; END ;;\nDELIMITER ;\nSET sql_mode = @m;\n-- only a comment\n";
        let got = all(text.as_bytes());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "DROP TRIGGER IF EXISTS `t1`");
        assert_eq!(
            got[1],
            (
                "CREATE TRIGGER t1 BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; SET NEW.b = ';'; END ".into(),
                ";;".into()
            )
        );
        assert_eq!(got[2].0.trim(), "SET sql_mode = @m");
        assert_eq!(got[2].1, ";");
    }

    #[test]
    fn two_statements_on_one_line_are_two() {
        let got = all(b"SET a=1; SET b=2;\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0.trim(), "SET b=2");
    }

    #[test]
    fn a_statement_script_round_trips() {
        let text = "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\n";
        let st = Statements::new(text.as_bytes())
            .next_statement()
            .unwrap()
            .unwrap();
        let again = Statements::new(&st.script()[..])
            .next_statement()
            .unwrap()
            .unwrap();
        assert_eq!(again, st);
    }

    #[test]
    fn renames_follow_qualified_names_only() {
        let s = b"CREATE TRIGGER db.t_ai AFTER INSERT ON `db`.t FOR EACH ROW INSERT INTO db.log VALUES (nextval(`db`.`seq`), 'db.x', db) -- db.y\n; SELECT xdb.a, dbx.b, t.db.c";
        let out = String::from_utf8(rename_qualifier(s, "db", "c`p")).unwrap();
        assert_eq!(
            out,
            "CREATE TRIGGER `c``p`.t_ai AFTER INSERT ON `c``p`.t FOR EACH ROW INSERT INTO `c``p`.log VALUES (nextval(`c``p`.`seq`), 'db.x', db) -- db.y\n; SELECT xdb.a, dbx.b, t.db.c"
        );
    }

    #[test]
    fn ansi_quoted_qualifiers_are_renamed_and_strings_are_not() {
        let s = br#"SELECT "db"."t".a, "db", 'db'."x" FROM "db".t"#;
        assert_eq!(
            String::from_utf8(rename_qualifier(s, "db", "n")).unwrap(),
            r#"SELECT "n"."t".a, "db", 'db'."x" FROM "n".t"#
        );
    }

    #[test]
    fn statements_on_a_whole_database_name_it() {
        let name = |s: &str| database_statement(s.as_bytes()).map(|(n, r)| (n, r.start));
        assert_eq!(name("DROP DATABASE app1"), Some(("app1".into(), 14)));
        assert_eq!(
            name("drop schema if exists `a``b`"),
            Some(("a`b".into(), 22))
        );
        assert_eq!(
            name("CREATE DATABASE IF NOT EXISTS x CHARACTER SET utf8mb4"),
            Some(("x".into(), 30))
        );
        assert_eq!(name("ALTER DATABASE CHARACTER SET latin1"), None);
        assert_eq!(name("ALTER DATABASE d COMMENT 'x'"), Some(("d".into(), 15)));
        assert_eq!(name("DROP TABLE d.t"), None);
    }

    #[test]
    fn non_utf8_bodies_pass_through() {
        let s = b"CREATE PROCEDURE p() SELECT '\xe9\x80' FROM `db`.t;\n";
        let got = Statements::new(&s[..]).next_statement().unwrap().unwrap();
        assert_eq!(got.text, s[..s.len() - 2].to_vec());
        assert_eq!(
            rename_qualifier(&got.text, "db", "n"),
            b"CREATE PROCEDURE p() SELECT '\xe9\x80' FROM `n`.t".to_vec()
        );
    }
}
