//! Applies a replay script (`mariadb-binlog`'s output, filtered) on one connection, many
//! statements per packet. Replaying through the `mariadb` client cost one round trip
//! per statement, and a binlog transaction is a dozen statements (the session settings
//! `mariadb-binlog` repeats, `BEGIN`, a `BINLOG` per row event, `COMMIT`): the round
//! trips, not the server's work, were the replay's time. Here statements go in batches
//! in one session, in order, so every session setting, user variable and temporary
//! table carries over exactly as the client would have carried it; a failing statement
//! stops the replay and is named with the binlog position it came from. Where the
//! session writes no binary log, consecutive source transactions are also committed
//! as one (see [`apply`]): the commit, not the statement, is then the cost.

use crate::format::sqlscript::Statements;
use mysql::prelude::Queryable;
use std::io::BufRead;

/// A comment line the filter writes before the statements of each binlog event:
/// `# strata-at binlog.000012:4567`.
pub const MARK: &str = "# strata-at ";

/// Statements sent in one packet at most.
const BATCH_STATEMENTS: usize = 512;

/// Why the replay stopped.
#[derive(Debug)]
pub struct Failed {
    /// The binlog position of the statement that failed, when the script said it.
    pub at: Option<String>,
    pub why: String,
}

/// One statement ready to send, and the position it came from.
struct Ready {
    sql: String,
    at: Option<String>,
}

/// Source transactions joined into one target transaction at most, when the session
/// writes no binary log (a `BINLOG` statement of many transactions' events makes the
/// server rewrite its binlog cache once per event: the log grows with the square).
pub const JOINED_TRANSACTIONS: usize = 1000;

/// Sends the statements of `script` to `conn` in order, in packets of at most
/// `max_bytes` (and [`BATCH_STATEMENTS`]); returns how many statements ran.
///
/// Row events are where a replay spends its time, one round trip per transaction even
/// in batches (a `BINLOG` statement must end its packet). So consecutive transactions
/// made of row events only are joined: their events go as one `BINLOG` statement in one
/// target transaction (at most `join`, see [`JOINED_TRANSACTIONS`]); the `COMMIT`/`START
/// TRANSACTION` between them are dropped and the session settings between them are
/// applied after it (row events do not read them), the last value of each, before
/// anything that does. A failure rolls the joined transaction back whole, so everything
/// before the position it names was replayed, and nothing after.
pub fn apply<R: BufRead>(
    script: R,
    conn: &mut mysql::Conn,
    max_bytes: usize,
    join: usize,
) -> Result<u64, Failed> {
    let mut statements = Statements::new(script);
    let mut at: Option<String> = None;
    let mut a = Applier {
        conn,
        max_bytes,
        join: join.max(1),
        batch: Vec::new(),
        bytes: 0,
        ran: 0,
        joined: None,
        held: None,
        group: 0,
        group_at: None,
    };
    while let Some(stmt) = statements.next_statement().map_err(|e| Failed {
        at: at.clone(),
        why: format!("reading the binlogs: {e}"),
    })? {
        if let Some(sql) = prepare(&stmt.text, &mut at) {
            a.statement(Ready {
                sql,
                at: at.clone(),
            })?;
        }
    }
    a.flush_joined()?;
    a.release()?;
    a.send()?;
    Ok(a.ran)
}

/// Row events being joined, and what came after the last of them.
struct Joined {
    events: Vec<u8>,
    at: Option<String>,
    transactions: usize,
    /// Settings met between joined transactions: the last statement of each, in order.
    settings: Vec<(String, Ready)>,
    /// What followed the last `BINLOG`: boundaries and settings only.
    tail: Vec<Ready>,
}

struct Applier<'c> {
    conn: &'c mut mysql::Conn,
    max_bytes: usize,
    join: usize,
    batch: Vec<Ready>,
    bytes: usize,
    ran: u64,
    joined: Option<Joined>,
    /// A `COMMIT` held back (with the settings after it), to be dropped with the
    /// `START TRANSACTION` that follows: statement transactions joined too.
    held: Option<Vec<Ready>>,
    /// Source transactions in the open target transaction, and where it started.
    group: usize,
    group_at: Option<String>,
}

impl Applier<'_> {
    fn statement(&mut self, r: Ready) -> Result<(), Failed> {
        if let Some(raw) = binlog_payload(&r.sql) {
            self.release()?;
            return self.events(raw, r.at);
        }
        if let Some(j) = &mut self.joined {
            if !matches!(kind(&r.sql), Kind::Other) {
                j.tail.push(r);
                return Ok(());
            }
        }
        self.flush_joined()?;
        self.join_statements(r)
    }

    /// Joins transactions of statements: a `COMMIT` is held back, and dropped with the
    /// `START TRANSACTION` that follows it (settings between them still go, in order);
    /// anything else releases it first.
    fn join_statements(&mut self, r: Ready) -> Result<(), Failed> {
        let k = kind(&r.sql);
        match (&mut self.held, &k) {
            (Some(held), Kind::Setting(_)) => {
                held.push(r);
                return Ok(());
            }
            (Some(_), Kind::Boundary) if is_start(&r.sql) => {
                let held = self.held.take().unwrap_or_default();
                for s in held.into_iter().skip(1) {
                    self.push(s)?;
                }
                self.group += 1;
                return Ok(());
            }
            (None, Kind::Boundary)
                if self.join > 1 && self.group < self.join && !is_start(&r.sql) =>
            {
                self.held = Some(vec![r]);
                return Ok(());
            }
            _ => {}
        }
        self.release()?;
        self.push(r)
    }

    /// Sends a held `COMMIT` and the settings after it.
    fn release(&mut self) -> Result<(), Failed> {
        for s in self.held.take().unwrap_or_default() {
            self.push(s)?;
        }
        Ok(())
    }

    /// Row events: joined to the transactions before them when only boundaries and
    /// settings came between.
    fn events(&mut self, raw: Vec<u8>, at: Option<String>) -> Result<(), Failed> {
        if let Some(j) = &mut self.joined {
            let room = j.events.len() + raw.len() <= self.max_bytes / 2;
            let new_transaction = j.tail.iter().any(|t| is_boundary(&t.sql));
            if room && (!new_transaction || j.transactions < self.join) {
                for t in std::mem::take(&mut j.tail) {
                    if let Kind::Setting(key) = kind(&t.sql) {
                        j.settings.retain(|(k, _)| *k != key);
                        j.settings.push((key, t));
                    }
                }
                j.transactions += usize::from(new_transaction);
                self.group += usize::from(new_transaction);
                j.events.extend_from_slice(&raw);
                return Ok(());
            }
            self.flush_joined()?;
        }
        self.joined = Some(Joined {
            events: raw,
            at,
            transactions: 1,
            settings: Vec::new(),
            tail: Vec::new(),
        });
        Ok(())
    }

    /// Sends the joined events (ending their packet), then the settings met between
    /// them and what followed them.
    fn flush_joined(&mut self) -> Result<(), Failed> {
        let Some(j) = self.joined.take() else {
            return Ok(());
        };
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(&j.events);
        self.batch.push(Ready {
            sql: format!("BINLOG '{text}'"),
            at: j.at,
        });
        self.send()?;
        for r in j.settings.into_iter().map(|(_, r)| r).chain(j.tail) {
            self.push(r)?;
        }
        Ok(())
    }

    fn push(&mut self, r: Ready) -> Result<(), Failed> {
        if is_boundary(&r.sql) {
            if is_start(&r.sql) {
                self.group = 1;
                self.group_at = r.at.clone();
            } else {
                self.group = 0;
            }
        }
        if !self.batch.is_empty()
            && (self.bytes + r.sql.len() > self.max_bytes || self.batch.len() >= BATCH_STATEMENTS)
        {
            self.send()?;
        }
        self.bytes += r.sql.len() + 2;
        self.batch.push(r);
        Ok(())
    }

    fn send(&mut self) -> Result<(), Failed> {
        match send(self.conn, &mut self.batch) {
            Ok(n) => self.ran += n,
            Err(mut f) => {
                if self.group > 1 {
                    // The joined transactions roll back together: name where they began.
                    f.at = self.group_at.clone().or(f.at);
                    f.why += &format!(
                        " (in one of {} transactions replayed together from there; none of them was kept)",
                        self.group
                    );
                }
                return Err(f);
            }
        }
        self.bytes = 0;
        Ok(())
    }
}

/// What a statement is to the joining of row events.
enum Kind {
    /// `COMMIT`, `BEGIN`, `START TRANSACTION`.
    Boundary,
    /// Sets session state only (`SET ...`, `use`); the key names what it sets.
    Setting(String),
    Other,
}

/// `COMMIT`, `BEGIN` or `START TRANSACTION`, alone (a comment may follow).
fn is_boundary(sql: &str) -> bool {
    let t = sql.trim();
    ["COMMIT", "BEGIN", "START TRANSACTION"].iter().any(|w| {
        t.len() >= w.len()
            && t[..w.len()].eq_ignore_ascii_case(w)
            && empty_or_comment(&t[w.len()..])
    })
}

fn kind(sql: &str) -> Kind {
    let t = sql.trim();
    let word = |w: &str| t.len() >= w.len() && t[..w.len()].eq_ignore_ascii_case(w);
    if is_boundary(t) {
        return Kind::Boundary;
    }
    if word("use ") {
        return Kind::Setting("use".into());
    }
    let set = if word("SET ") {
        Some(&t[4..])
    } else if (t.starts_with("/*!") || t.starts_with("/*M!")) && t.ends_with("*/") {
        t.find(" SET ").map(|i| &t[i + 5..t.len() - 2])
    } else {
        None
    };
    match set {
        // The variables it sets, without their values: `TIMESTAMP`, `@@session.a, @@session.b`.
        Some(vars) if !vars.contains('\'') => Kind::Setting(
            vars.split(',')
                .map(|a| {
                    a.split('=')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_ascii_lowercase()
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => Kind::Other,
    }
}

/// `BEGIN` or `START TRANSACTION`.
fn is_start(sql: &str) -> bool {
    let t = sql.trim();
    !(t.len() >= 6 && t[..6].eq_ignore_ascii_case("COMMIT"))
}

/// Nothing, or one `/* ... */` comment.
fn empty_or_comment(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || (t.starts_with("/*") && t.ends_with("*/") && !t.starts_with("/*!"))
}

/// The events a `BINLOG '<base64>'` statement carries, decoded.
fn binlog_payload(sql: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let head = sql.get(..6)?;
    if !head.eq_ignore_ascii_case("BINLOG") {
        return None;
    }
    let quoted = sql[6..].trim();
    let inner = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
    let clean: Vec<u8> = inner.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    // `mariadb-binlog` encodes each event on its own, so padding may end a chunk in the
    // middle: decode chunk by chunk, each ending at a padded group (as the server does).
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let mut start = 0;
    for (i, group) in clean.chunks(4).enumerate() {
        let end = (i + 1) * 4;
        if group.contains(&b'=') || end == clean.len() {
            let chunk = base64::engine::general_purpose::STANDARD
                .decode(&clean[start..end])
                .ok()?;
            out.extend_from_slice(&chunk);
            start = end;
        }
    }
    Some(out)
}

/// The statement as the server gets it: whole-line comments dropped (noting the
/// position marks among them), the client's charset command as `SET NAMES`, and a
/// statement that is not UTF-8 (a latin1 literal of a statement-based log) sent as its
/// own bytes through `EXECUTE IMMEDIATE`, which reads them in the session's
/// `character_set_client` as the client would have sent them.
fn prepare(text: &[u8], at: &mut Option<String>) -> Option<String> {
    let mut kept: Vec<u8> = Vec::with_capacity(text.len());
    let mut code = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let t = line.trim_ascii_start();
        if !code && t.starts_with(b"#") {
            if let Some(p) = t.strip_prefix(MARK.as_bytes()) {
                *at = Some(String::from_utf8_lossy(p.trim_ascii()).into_owned());
            }
            continue;
        }
        if !t.is_empty() {
            code = true;
        }
        if code {
            kept.extend_from_slice(line);
        }
    }
    let body = kept.trim_ascii();
    if body.is_empty() {
        return None;
    }
    if let Some(cs) = body
        .strip_prefix(b"/*!\\C ")
        .and_then(|r| r.strip_suffix(b"*/"))
    {
        let cs = String::from_utf8_lossy(cs.trim_ascii()).into_owned();
        return Some(format!("SET NAMES {cs}"));
    }
    Some(match std::str::from_utf8(body) {
        Ok(s) => s.to_string(),
        Err(_) => format!(
            "EXECUTE IMMEDIATE CONVERT(0x{} USING binary)",
            hex::encode(body)
        ),
    })
}

/// Sends `batch` as one multi-statement packet and reads every result; the first
/// failing statement is reported with its position. Empties `batch`.
fn send(conn: &mut mysql::Conn, batch: &mut Vec<Ready>) -> Result<u64, Failed> {
    if batch.is_empty() {
        return Ok(0);
    }
    let mut sql = String::with_capacity(batch.iter().map(|r| r.sql.len() + 2).sum());
    for r in batch.iter() {
        sql.push_str(&r.sql);
        sql.push_str(";\n");
    }
    let failed = |i: usize, e: mysql::Error| Failed {
        at: batch.get(i).and_then(|r| r.at.clone()),
        why: one_line(&e),
    };
    let mut done = 0;
    let outcome = match conn.query_iter(sql) {
        Err(e) => Err(failed(0, e)),
        Ok(mut result) => loop {
            let Some(set) = result.iter() else {
                break Ok(());
            };
            let mut err = None;
            for row in set {
                if let Err(e) = row {
                    err = Some(e);
                    break;
                }
            }
            if let Some(e) = err {
                break Err(failed(done, e));
            }
            done += 1;
        },
    };
    let n = batch.len();
    let outcome = outcome.and_then(|()| {
        if done < n {
            // The server stopped answering: what came after is unknown; never go on.
            return Err(Failed {
                at: batch.get(done).and_then(|r| r.at.clone()),
                why: format!(
                    "the server answered {done} of {n} statements sent together and nothing after `{}`; the replay stops here",
                    batch
                        .get(done.saturating_sub(1))
                        .map(|r| r.sql.chars().take(60).collect::<String>())
                        .unwrap_or_default()
                ),
            });
        }
        Ok(())
    });
    batch.clear();
    outcome.map(|()| n as u64)
}

/// A server error as the client prints it: `ERROR 1146 (42S02): Table ... doesn't exist`.
fn one_line(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) => {
            format!("ERROR {} ({}): {}", m.code, m.state, m.message)
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_lose_their_comments_keep_their_marks_and_travel_as_the_client_sent_them() {
        let mut at = None;
        assert_eq!(
            prepare(
                b"# at 4\n# strata-at binlog.000001:4\n#2611 server id 1\nBEGIN",
                &mut at
            ),
            Some("BEGIN".into())
        );
        assert_eq!(at.as_deref(), Some("binlog.000001:4"));
        assert_eq!(
            prepare(b"/*!\\C utf8mb3 */", &mut at),
            Some("SET NAMES utf8mb3".into())
        );
        assert_eq!(prepare(b"# only a comment\n", &mut at), None);
        assert_eq!(
            prepare(b"INSERT INTO t VALUES ('ca\xe9')", &mut at),
            Some(
                "EXECUTE IMMEDIATE CONVERT(0x494e5345525420494e544f20742056414c5545532028276361e92729 USING binary)"
                    .into()
            )
        );
        // Events encoded one by one, padding between them, decode whole.
        assert_eq!(
            binlog_payload("BINLOG '\nYQ==\nYmM=\nZGVm\n'"),
            Some(b"abcdef".to_vec())
        );
        assert_eq!(binlog_payload("SELECT 1"), None);
        // What joining row events may move past, and what it may not.
        assert!(matches!(kind("COMMIT"), Kind::Boundary));
        assert!(matches!(kind("START TRANSACTION"), Kind::Boundary));
        assert!(matches!(kind("COMMIT /* implicit */"), Kind::Boundary));
        assert!(matches!(kind("SET TIMESTAMP=1795907529"), Kind::Setting(k) if k == "timestamp"));
        assert!(
            matches!(kind("/*M!100001 SET @@session.gtid_seq_no=14*/"), Kind::Setting(k) if k == "@@session.gtid_seq_no")
        );
        assert!(matches!(kind("SET @a := 'x,y'"), Kind::Other));
        assert!(matches!(kind("COMMIT AND CHAIN"), Kind::Other));
        assert!(matches!(kind("UPDATE t SET a = 1"), Kind::Other));
        // A `#` inside a statement's later lines is the statement's own text.
        assert_eq!(
            prepare(b"BINLOG '\nabc\n#x\n'", &mut at),
            Some("BINLOG '\nabc\n#x\n'".into())
        );
    }
}
