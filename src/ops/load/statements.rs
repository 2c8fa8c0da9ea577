//! Statements of a table member, one at a time, for executing over a connection. The
//! writer ends every statement at the end of a line with `;` and never lets a line of a
//! statement end with `;` before its last (rows end with `,`; strings escape newlines),
//! so a statement is the lines up to the next one that ends with `;`.

use std::io::BufRead;

/// Reads statements from a table member.
pub struct Statements<R> {
    input: R,
    line: Vec<u8>,
}

impl<R: BufRead> Statements<R> {
    pub fn new(input: R) -> Self {
        Statements {
            input,
            line: Vec::new(),
        }
    }

    /// The next statement (without its `;`), or `None` at the end.
    pub fn next_statement(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut stmt = Vec::new();
        loop {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                let rest = String::from_utf8_lossy(&stmt);
                return Ok((!rest.trim().is_empty()).then_some(stmt));
            }
            let trimmed = self.line.trim_ascii_end();
            if stmt.is_empty() && trimmed.is_empty() {
                continue;
            }
            if let Some(body) = trimmed.strip_suffix(b";") {
                stmt.extend_from_slice(body);
                return Ok(Some(stmt));
            }
            stmt.extend_from_slice(&self.line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_line_ending_with_a_semicolon() {
        let text = "SET NAMES utf8mb4;\n\nCREATE TABLE `t` (\n  `a` int,\n  `b` text\n);\nINSERT INTO `t` (`a`,`b`) VALUES\n(1,'x;'),\n(2,'y');\n";
        let mut s = Statements::new(text.as_bytes());
        let mut all = Vec::new();
        while let Some(st) = s.next_statement().unwrap() {
            all.push(String::from_utf8(st).unwrap());
        }
        assert_eq!(
            all,
            vec![
                "SET NAMES utf8mb4",
                "CREATE TABLE `t` (\n  `a` int,\n  `b` text\n)",
                "INSERT INTO `t` (`a`,`b`) VALUES\n(1,'x;'),\n(2,'y')",
            ]
        );
    }
}
