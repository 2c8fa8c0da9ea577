//! A unified diff (`diff -u`) of two streams of lines in bounded memory, for
//! `strata diff A B PATH` on members of any size: equal lines are streamed past, and at
//! a difference both sides are read ahead by at most [`WINDOW`] lines to find the
//! nearest line they share again. Within that window the result is the shortest edit
//! found by that rule (exact for the edits dumps and config files see: rows and lines
//! inserted, removed or changed); past it the region is reported as removed and added
//! whole. The output is always a correct diff: applying it to the old member gives the
//! new one. Hunks longer than [`MAX_HUNK`] lines are cut, so memory stays bounded too.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, Write};

/// Lines of each side read ahead to resynchronise after a difference.
pub const WINDOW: usize = 4096;
/// Lines of context around each change, as `diff -u`.
const CONTEXT: usize = 3;
/// A hunk is printed once it holds this many lines, whatever follows.
const MAX_HUNK: usize = 65_536;

/// One side: lines read ahead, and the number of the first of them.
struct Side<R> {
    r: R,
    ahead: VecDeque<Vec<u8>>,
    line: usize,
    done: bool,
}

impl<R: BufRead> Side<R> {
    fn new(r: R) -> Self {
        Side {
            r,
            ahead: VecDeque::new(),
            line: 1,
            done: false,
        }
    }

    /// Reads until `n` lines are ahead or the input ends.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        while self.ahead.len() < n && !self.done {
            let mut l = Vec::new();
            if self.r.read_until(b'\n', &mut l)? == 0 {
                self.done = true;
            } else {
                self.ahead.push_back(l);
            }
        }
        Ok(())
    }

    fn pop(&mut self) -> Vec<u8> {
        self.line += 1;
        self.ahead.pop_front().expect("a line ahead")
    }
}

/// The hunk being built, and the common lines before it.
struct Hunks<'a, W: Write> {
    out: &'a mut W,
    header: Option<(String, String)>,
    /// The last common lines, kept as leading context.
    before: VecDeque<Vec<u8>>,
    /// The open hunk: its start lines, its lines (` `, `-`, `+`), and the common lines
    /// at its end.
    start: (usize, usize),
    lines: Vec<(u8, Vec<u8>)>,
    trailing: usize,
    changed: bool,
}

impl<W: Write> Hunks<'_, W> {
    fn open(&self) -> bool {
        !self.lines.is_empty()
    }

    fn common(&mut self, line: Vec<u8>) -> io::Result<()> {
        if self.open() {
            self.lines.push((b' ', line));
            self.trailing += 1;
            if self.trailing > 2 * CONTEXT {
                // The hunk ends CONTEXT lines after its last change.
                let keep: Vec<Vec<u8>> = self
                    .lines
                    .drain(self.lines.len() - (self.trailing - CONTEXT)..)
                    .map(|(_, l)| l)
                    .collect();
                self.trailing = CONTEXT;
                self.flush()?;
                self.before.extend(keep);
            }
        } else {
            self.before.push_back(line);
        }
        while self.before.len() > CONTEXT {
            self.before.pop_front();
        }
        Ok(())
    }

    /// A change at old line `a` / new line `b` (the next line of each side).
    fn change(&mut self, mark: u8, line: Vec<u8>, (a, b): (usize, usize)) -> io::Result<()> {
        if !self.open() {
            let n = self.before.len();
            self.start = (a - n, b - n);
            self.lines = self.before.drain(..).map(|l| (b' ', l)).collect();
        }
        self.lines.push((mark, line));
        self.trailing = 0;
        self.changed = true;
        if self.lines.len() >= MAX_HUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Prints the open hunk.
    fn flush(&mut self) -> io::Result<()> {
        if !self.open() {
            return Ok(());
        }
        if let Some((a, b)) = self.header.take() {
            writeln!(self.out, "--- {a}")?;
            writeln!(self.out, "+++ {b}")?;
        }
        let old = self.lines.iter().filter(|(m, _)| *m != b'+').count();
        let new = self.lines.iter().filter(|(m, _)| *m != b'-').count();
        let range = |start: usize, n: usize| match n {
            0 => format!("{},0", start - 1),
            1 => start.to_string(),
            n => format!("{start},{n}"),
        };
        writeln!(
            self.out,
            "@@ -{} +{} @@",
            range(self.start.0, old),
            range(self.start.1, new)
        )?;
        for (m, l) in self.lines.drain(..) {
            self.out.write_all(&[m])?;
            self.out.write_all(&l)?;
            if l.last() != Some(&b'\n') {
                self.out.write_all(b"\n\\ No newline at end of file\n")?;
            }
        }
        // The next hunk starts after what was printed.
        let (a, b) = self.start;
        self.start = (a + old, b + new);
        self.trailing = 0;
        Ok(())
    }
}

/// The nearest pair of equal lines in the two windows: `(i, j)` with `i + j` least.
fn resync(a: &VecDeque<Vec<u8>>, b: &VecDeque<Vec<u8>>) -> Option<(usize, usize)> {
    let mut first_in_b: HashMap<&[u8], usize> = HashMap::new();
    for (j, l) in b.iter().enumerate() {
        first_in_b.entry(l.as_slice()).or_insert(j);
    }
    let mut best: Option<(usize, usize)> = None;
    for (i, l) in a.iter().enumerate() {
        if best.is_some_and(|(bi, bj)| i >= bi + bj) {
            break;
        }
        if let Some(&j) = first_in_b.get(l.as_slice()) {
            if best.is_none_or(|(bi, bj)| i + j < bi + bj) {
                best = Some((i, j));
            }
        }
    }
    best
}

/// Writes the unified diff of `a` and `b` to `out` under the names `names` (the `---`
/// and `+++` lines); nothing when they are equal. Returns whether they differ.
pub fn unified<A: BufRead, B: BufRead, W: Write>(
    a: A,
    b: B,
    names: (&str, &str),
    out: &mut W,
) -> io::Result<bool> {
    let (mut a, mut b) = (Side::new(a), Side::new(b));
    let mut h = Hunks {
        out,
        header: Some((names.0.to_string(), names.1.to_string())),
        before: VecDeque::new(),
        start: (1, 1),
        lines: Vec::new(),
        trailing: 0,
        changed: false,
    };
    loop {
        a.fill(1)?;
        b.fill(1)?;
        match (a.ahead.front(), b.ahead.front()) {
            (None, None) => break,
            (Some(x), Some(y)) if x == y => {
                b.pop();
                h.common(a.pop())?;
                continue;
            }
            _ => {}
        }
        a.fill(WINDOW)?;
        b.fill(WINDOW)?;
        let (i, j) = resync(&a.ahead, &b.ahead).unwrap_or((a.ahead.len(), b.ahead.len()));
        for _ in 0..i {
            let at = (a.line, b.line);
            h.change(b'-', a.pop(), at)?;
        }
        for _ in 0..j {
            let at = (a.line, b.line);
            h.change(b'+', b.pop(), at)?;
        }
    }
    // The last hunk keeps CONTEXT common lines after its last change, as diff -u.
    let extra = h.trailing.saturating_sub(CONTEXT);
    let keep = h.lines.len() - extra;
    h.lines.truncate(keep);
    h.flush()?;
    Ok(h.changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(a: &str, b: &str) -> String {
        let mut out = Vec::new();
        unified(a.as_bytes(), b.as_bytes(), ("a/x", "b/x"), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Applies a unified diff to `old`, as patch(1) would.
    fn patch(old: &str, diff: &str) -> String {
        let old: Vec<&str> = old.split_inclusive('\n').collect();
        let mut out = String::new();
        let mut at = 0;
        let mut lines = diff.split_inclusive('\n').skip(2).peekable();
        while let Some(l) = lines.next() {
            if let Some(h) = l.strip_prefix("@@ -") {
                let start: usize = h.split([',', ' ']).next().unwrap().parse().unwrap();
                let n_old = h.split(' ').next().unwrap().split(',').nth(1);
                let start = if n_old == Some("0") { start } else { start - 1 };
                while at < start {
                    out += old[at];
                    at += 1;
                }
                continue;
            }
            let (mark, text) = l.split_at(1);
            let text = if lines.peek() == Some(&"\\ No newline at end of file\n") {
                lines.next();
                text.strip_suffix('\n').unwrap()
            } else {
                text
            };
            match mark {
                " " => {
                    out += text;
                    at += 1;
                }
                "-" => at += 1,
                "+" => out += text,
                _ => panic!("bad line {l:?}"),
            }
        }
        while at < old.len() {
            out += old[at];
            at += 1;
        }
        out
    }

    #[test]
    fn a_changed_line_is_one_hunk_with_context() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            diff(a, b),
            "--- a/x\n+++ b/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
        assert_eq!(diff(a, a), "");
    }

    #[test]
    fn every_diff_applied_to_the_old_text_gives_the_new_one() {
        let cases = [
            ("", "a\n"),
            ("a\n", ""),
            ("a\nb\n", "a\nb"),
            ("x\n", "y\n"),
            (
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n",
                "0\n1\n2\n3\nX\n5\n6\n7\n8\n9\n10\n11\n13\n14\n15\n16\n17\n",
            ),
            ("a\na\nb\na\n", "b\na\na\nb\n"),
        ];
        for (a, b) in cases {
            let d = diff(a, b);
            assert_eq!(patch(a, &d), b, "{a:?} -> {b:?}:\n{d}");
        }
        // A region wider than the window is removed and added whole, still correctly.
        let a: String = (0..3 * WINDOW).map(|i| format!("a{i}\n")).collect();
        let b: String = (0..3 * WINDOW).map(|i| format!("b{i}\n")).collect();
        let d = diff(&a, &b);
        assert_eq!(patch(&a, &d), b);
    }
}
