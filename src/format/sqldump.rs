//! Reading back a table member of the MySQL source (FORMAT.md, "Table members") line by
//! line, without a SQL parser: the writer puts `PRIMARY KEY (...)` on a line of its
//! own in the `CREATE TABLE`, each `INSERT INTO ... (columns) VALUES` on a line, and
//! one row per line after it, `(v1,v2,...)` followed by `,` or `;`. Strings escape
//! newlines, so a row never spans lines. `diff --rows` keys rows with this.

/// What one line of a table member is.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// A row, without its trailing `,` or `;`.
    Row(&'a [u8]),
    /// `INSERT INTO `t` (`a`,`b`) VALUES`: the columns of the rows that follow.
    Insert(Vec<String>),
    /// `PRIMARY KEY (`a`,`b`)` inside the `CREATE TABLE`.
    PrimaryKey(Vec<String>),
    Other,
}

/// Classifies one line (without its newline).
pub fn classify(line: &[u8]) -> Line<'_> {
    if line.first() == Some(&b'(') {
        let row = match line.last() {
            Some(b',' | b';') => &line[..line.len() - 1],
            _ => line,
        };
        return Line::Row(row);
    }
    let text = String::from_utf8_lossy(line);
    let t = text.trim_start();
    if let Some(rest) = t.strip_prefix("INSERT INTO ") {
        // The first identifier is the table's name.
        return Line::Insert(idents(rest).into_iter().skip(1).collect());
    }
    if let Some(rest) = t.strip_prefix("PRIMARY KEY ") {
        return Line::PrimaryKey(idents(rest));
    }
    Line::Other
}

/// The backquoted identifiers of `s`, in order (a doubled backquote is one).
pub fn idents(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '`' {
            continue;
        }
        let mut name = String::new();
        while let Some(c) = chars.next() {
            if c == '`' {
                if chars.peek() == Some(&'`') {
                    chars.next();
                    name.push('`');
                    continue;
                }
                break;
            }
            name.push(c);
        }
        out.push(name);
    }
    out
}

/// The value literals of a row `(v1,v2,...)`, as written: strings keep their quotes
/// and escapes. `None` when the row is not well formed.
pub fn fields(row: &[u8]) -> Option<Vec<&[u8]>> {
    let inner = row.strip_prefix(b"(")?.strip_suffix(b")")?;
    let mut out = Vec::new();
    let (mut start, mut i, mut quoted) = (0, 0, false);
    while i < inner.len() {
        match inner[i] {
            b'\\' if quoted => i += 1,
            b'\'' => quoted = !quoted,
            b',' if !quoted => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return None;
    }
    out.push(&inner[start..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_a_dump_are_told_apart() {
        assert_eq!(
            classify(b"INSERT INTO `t``x` (`a`,`b c`) VALUES"),
            Line::Insert(vec!["a".into(), "b c".into()])
        );
        assert_eq!(
            classify(b"  PRIMARY KEY (`k1`,`k2`),"),
            Line::PrimaryKey(vec!["k1".into(), "k2".into()])
        );
        assert_eq!(classify(b"(1,'a'),"), Line::Row(b"(1,'a')"));
        assert_eq!(classify(b"(1,'a');"), Line::Row(b"(1,'a')"));
        assert_eq!(classify(b"SET NAMES utf8mb4;"), Line::Other);
    }

    #[test]
    fn fields_keep_quoted_commas_quotes_and_escapes() {
        let f = fields(br"(1,'a,b','it\'s \\',NULL,0xFF,'')").unwrap();
        let want: Vec<&[u8]> = vec![b"1", b"'a,b'", br"'it\'s \\'", b"NULL", b"0xFF", b"''"];
        assert_eq!(f, want);
        assert!(fields(b"(1,'open)").is_none());
        assert!(fields(b"1,2").is_none());
    }
}
