//! The MySQL/MariaDB binary log file, as far as strata reads it: the magic number and
//! the common header of every event (timestamp, type, size, end position). That is
//! enough to cut a file to the range of the server's log an event covers, and to know
//! which moments that range holds, without a binlog parser. What strata stores is the
//! server's own bytes; `mariadb-binlog`/`mysqlbinlog` read it as it is.
//!
//! A range copy of `[from, to)` of a server file is the file's magic and its format
//! description event, then every event of the file that starts at or after `from` and
//! ends at or before `to`, unchanged. It is what the server itself sends a replica that
//! asks for `from`; when `from` is 4 and `to` the end, it is the whole file.

use std::io::{self, Read, Write};

/// Every binlog file starts with these four bytes; the first event is at offset 4.
pub const MAGIC: &[u8; 4] = b"\xfebin";
const HEADER: usize = 19;
/// The position of a file's first event.
pub const FIRST: u64 = 4;

/// A position in the server's binary log: file and byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub file: String,
    pub pos: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

impl std::str::FromStr for Position {
    type Err = String;
    /// `FILE:POS`, as `strata list --pitr` and the event's notes write it.
    fn from_str(s: &str) -> Result<Self, String> {
        let (file, pos) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?} is not FILE:POSITION"))?;
        let pos = pos
            .parse()
            .map_err(|_| format!("{s:?}: {pos:?} is not a byte position"))?;
        if file.is_empty() {
            return Err(format!("{s:?} names no binlog file"));
        }
        Ok(Position {
            file: file.to_string(),
            pos,
        })
    }
}

/// The sequence number of a binlog file name (`binlog.000012` -> 12), for ordering.
pub fn sequence(file: &str) -> u64 {
    file.rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Events that describe the file rather than a change: not counted in a window.
fn is_bookkeeping(kind: u8) -> bool {
    // ROTATE, FORMAT_DESCRIPTION, MariaDB's BINLOG_CHECKPOINT, GTID_LIST,
    // START_ENCRYPTION.
    matches!(kind, 4 | 15 | 161 | 163 | 164)
}

/// A MariaDB GTID, `DOMAIN-SERVER-SEQUENCE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl std::fmt::Display for Gtid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl std::str::FromStr for Gtid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a MariaDB GTID (DOMAIN-SERVER-SEQUENCE, e.g. 0-1-42)");
        let mut it = s.trim().splitn(3, '-');
        let (Some(d), Some(sv), Some(n)) = (it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        Ok(Gtid {
            domain: d.parse().map_err(|_| bad())?,
            server: sv.parse().map_err(|_| bad())?,
            seq: n.parse().map_err(|_| bad())?,
        })
    }
}

/// The sequence number a GTID position (`@@gtid_binlog_pos`: `D-S-N,D-S-N`) holds for
/// `domain`.
pub fn gtid_seq(pos: &str, domain: u32) -> Option<u64> {
    pos.split(',')
        .filter_map(|g| g.parse::<Gtid>().ok())
        .find(|g| g.domain == domain)
        .map(|g| g.seq)
}

/// The MariaDB GTID event that opens each transaction.
const GTID_EVENT: u8 = 162;

/// What [`copy_range`] copies of a file.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// Server positions: events starting before `from` or ending after `to` are left out.
    pub from: u64,
    pub to: Option<u64>,
    /// Stop before the first transaction of this domain with a higher sequence number:
    /// the copy ends with that GTID's transaction.
    pub through_gtid: Option<Gtid>,
}

impl Range {
    pub fn new(from: u64, to: Option<u64>) -> Self {
        Range {
            from,
            to,
            through_gtid: None,
        }
    }
}

/// What [`copy_range`] wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
    /// First and last timestamp (Unix seconds) of the change events copied.
    pub window: Option<(u32, u32)>,
    /// The server position after the last event copied (its end position).
    pub end: Option<u64>,
    /// The copy stopped at `through_gtid`.
    pub stopped: bool,
    /// `through_gtid` itself (domain, server and sequence) was among the events copied.
    pub found_gtid: bool,
    /// The largest statement copied, in bytes: an event, or the row events of one
    /// statement (a table map up to the rows event flagged as its end), which
    /// `mariadb-binlog` prints as one `BINLOG` statement the target must take whole.
    pub largest: u64,
}

/// Table map, MariaDB's annotate, and rows events (v1, v2, compressed).
fn is_row_part(kind: u8) -> bool {
    matches!(kind, 19 | 23..=25 | 30..=32 | 160 | 166..=171)
}

/// A rows event flagged as the last of its statement (`STMT_END_F`).
fn ends_statement(kind: u8, event: &[u8]) -> bool {
    let rows = matches!(kind, 23..=25 | 30..=32 | 166..=171);
    rows && event
        .get(HEADER + 6..HEADER + 8)
        .is_some_and(|f| u16::from_le_bytes([f[0], f[1]]) & 1 == 1)
}

/// Copies from `r` (a binlog file, or a range copy of one) the range `[from, to)` of the
/// server's file (`to`: to the end when `None`) into `w`, as a range copy: the header
/// and the format description event, then the events of the range, selected by the end
/// position each carries. Streams; stops quietly at a truncated event (the server may be
/// writing the file). Input that is not a binlog copies nothing.
pub fn copy_range<R: Read, W: Write>(r: &mut R, w: &mut W, range: Range) -> io::Result<Copied> {
    let Range {
        from,
        to,
        through_gtid,
    } = range;
    let mut out = Copied::default();
    let mut magic = [0u8; 4];
    if read_full(r, &mut magic)? < 4 || &magic != MAGIC {
        return Ok(out);
    }
    w.write_all(MAGIC)?;
    out.bytes = 4;
    let mut first = true;
    let mut statement = 0u64;
    let mut h = [0u8; HEADER];
    loop {
        if read_full(r, &mut h)? < HEADER {
            break;
        }
        let time = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes"));
        let kind = h[4];
        let size = u32::from_le_bytes(h[9..13].try_into().expect("4 bytes")) as u64;
        let end = u32::from_le_bytes(h[13..17].try_into().expect("4 bytes")) as u64;
        if size < HEADER as u64 {
            break;
        }
        let body = size - HEADER as u64;
        // The format description event opens every copy; other events belong to the
        // range when they lie within it (an end position of 0 marks an event the
        // server made up for a replica, not part of the file).
        let start = end.saturating_sub(size);
        let keep = first || (end != 0 && start >= from && to.is_none_or(|t| end <= t));
        if !first && to.is_some_and(|t| end != 0 && start >= t) {
            break;
        }
        first = false;
        if keep {
            // Held whole (one event, bounded by the server's max_allowed_packet), so
            // that a truncated last event leaves nothing behind.
            let mut event = Vec::with_capacity(size as usize);
            event.extend_from_slice(&h);
            if r.take(body).read_to_end(&mut event)? < body as usize {
                break;
            }
            if let (Some(g), GTID_EVENT, true) = (through_gtid, kind, event.len() >= HEADER + 12) {
                let seq = u64::from_le_bytes(event[HEADER..HEADER + 8].try_into().expect("8"));
                let domain =
                    u32::from_le_bytes(event[HEADER + 8..HEADER + 12].try_into().expect("4"));
                if domain == g.domain && seq > g.seq {
                    out.stopped = true;
                    break;
                }
                let server = u32::from_le_bytes(h[5..9].try_into().expect("4 bytes"));
                out.found_gtid |= domain == g.domain && seq == g.seq && server == g.server;
            }
            if is_row_part(kind) {
                statement += size;
                if ends_statement(kind, &event) {
                    out.largest = out.largest.max(statement);
                    statement = 0;
                }
            } else {
                out.largest = out.largest.max(size);
            }
            w.write_all(&event)?;
            out.bytes += size;
            if end != 0 {
                out.end = Some(end);
            }
            if !is_bookkeeping(kind) && time != 0 {
                out.window = Some(match out.window {
                    None => (time, time),
                    Some((a, b)) => (a.min(time), b.max(time)),
                });
            }
        } else if io::copy(&mut r.take(body), &mut io::sink())? < body {
            break;
        }
    }
    out.largest = out.largest.max(statement);
    w.flush()?;
    Ok(out)
}

/// What the event at `offset` of a binlog (or range copy) file is, as a replay needs
/// it: where it began in the server's own file (its end position minus its size), and
/// for a statement (Query event) its default database, `None` when it had none.
#[derive(Debug, PartialEq, Eq)]
pub struct EventAt {
    pub start: u64,
    pub query_db: Option<Option<String>>,
}

/// Reads the header (and, for a Query event, the start of its body) at `offset`.
pub fn event_at(f: &std::fs::File, offset: u64) -> io::Result<EventAt> {
    use std::os::unix::fs::FileExt;
    let mut h = [0u8; HEADER + 13];
    f.read_exact_at(&mut h[..HEADER], offset)?;
    let kind = h[4];
    let size = u32::from_le_bytes(h[9..13].try_into().expect("4 bytes")) as u64;
    let end = u32::from_le_bytes(h[13..17].try_into().expect("4 bytes")) as u64;
    let start = end.saturating_sub(size);
    // QUERY_EVENT and MariaDB's QUERY_COMPRESSED_EVENT: thread id, exec time, db length,
    // error code, status vars length, status vars, then the database and a NUL.
    if !matches!(kind, 2 | 165) || size < (HEADER + 13) as u64 {
        return Ok(EventAt {
            start,
            query_db: None,
        });
    }
    f.read_exact_at(&mut h[HEADER..], offset + HEADER as u64)?;
    let db_len = h[HEADER + 8] as usize;
    let status_len = u16::from_le_bytes([h[HEADER + 11], h[HEADER + 12]]) as u64;
    let mut db = vec![0u8; db_len];
    f.read_exact_at(&mut db, offset + HEADER as u64 + 13 + status_len)?;
    Ok(EventAt {
        start,
        query_db: Some((db_len > 0).then(|| String::from_utf8_lossy(&db).into_owned())),
    })
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event of `kind` at `at`, with a body of `body` bytes.
    fn event(at: u64, time: u32, kind: u8, body: usize) -> Vec<u8> {
        let size = (HEADER + body) as u32;
        let mut e = Vec::new();
        e.extend_from_slice(&time.to_le_bytes());
        e.push(kind);
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.extend_from_slice(&((at + size as u64) as u32).to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend((0..body).map(|i| i as u8));
        e
    }

    fn push(f: &mut Vec<u8>, time: u32, kind: u8, body: usize) -> u64 {
        let at = f.len() as u64;
        f.extend(event(at, time, kind, body));
        at
    }

    fn copy(input: &[u8], from: u64, to: Option<u64>) -> (Vec<u8>, Copied) {
        let mut out = Vec::new();
        let c = copy_range(&mut &input[..], &mut out, Range::new(from, to)).unwrap();
        (out, c)
    }

    #[test]
    fn a_range_copy_keeps_the_header_and_the_events_within_the_range() {
        let mut f = MAGIC.to_vec();
        push(&mut f, 100, 15, 10); // format description: not a change
        let fde = f.clone();
        let second = push(&mut f, 200, 2, 5);
        let third = push(&mut f, 300, 16, 5);
        let fourth = push(&mut f, 400, 2, 5);
        let whole = f.clone();
        f.extend(&event(f.len() as u64, 500, 2, 50)[..30]); // being written

        let (out, c) = copy(&f, FIRST, None);
        assert!(!c.stopped);
        assert_eq!(out, whole);
        assert_eq!(c.window, Some((200, 400)));
        assert_eq!(c.end, Some(whole.len() as u64));

        let (out, c) = copy(&f, third, Some(fourth));
        let mut want = fde.clone();
        want.extend_from_slice(&f[third as usize..fourth as usize]);
        assert_eq!(out, want);
        assert_eq!(
            (c.window, c.end, c.bytes),
            (Some((300, 300)), Some(fourth), want.len() as u64)
        );

        // A range copy read again gives itself; a later range within it, its part.
        let (again, _) = copy(&out, third, None);
        assert_eq!(again, out);
        let (empty, c) = copy(&out, fourth, None);
        assert_eq!((empty, c.window), (fde.clone(), None));
        let (first, c) = copy(&f, FIRST, Some(third));
        assert_eq!(first, f[..third as usize].to_vec());
        assert_eq!(c.window, Some((200, 200)));
        assert!(second < third);
    }

    /// A GTID event for `domain`-1-`seq`.
    fn gtid(f: &mut Vec<u8>, domain: u32, seq: u64) -> u64 {
        let at = push(f, 10, GTID_EVENT, 13);
        let body = at as usize + HEADER;
        f[body..body + 8].copy_from_slice(&seq.to_le_bytes());
        f[body + 8..body + 12].copy_from_slice(&domain.to_le_bytes());
        at
    }

    #[test]
    fn a_copy_through_a_gtid_ends_with_that_transaction() {
        let mut f = MAGIC.to_vec();
        push(&mut f, 100, 15, 10);
        gtid(&mut f, 0, 7);
        push(&mut f, 20, 2, 5);
        gtid(&mut f, 1, 9); // another domain: kept
        push(&mut f, 21, 2, 5);
        let cut = gtid(&mut f, 0, 8);
        push(&mut f, 30, 2, 5);
        let through = |seq| Range {
            through_gtid: Some(Gtid {
                domain: 0,
                server: 1,
                seq,
            }),
            ..Range::new(FIRST, None)
        };
        let mut out = Vec::new();
        let c = copy_range(&mut &f[..], &mut out, through(7)).unwrap();
        assert_eq!(out, f[..cut as usize].to_vec());
        assert!(c.stopped);
        let mut all = Vec::new();
        let c = copy_range(&mut &f[..], &mut all, through(8)).unwrap();
        assert_eq!((all, c.stopped), (f.clone(), false));
        assert_eq!(gtid_seq("1-1-4,0-1-57", 0), Some(57));
        assert_eq!(gtid_seq("1-1-4", 0), None);
        assert!("0-1".parse::<Gtid>().is_err());
    }

    #[test]
    fn what_is_not_a_binlog_copies_nothing_and_positions_parse() {
        let (out, c) = copy(b"not a binlog", FIRST, None);
        assert!(out.is_empty());
        assert_eq!(c, Copied::default());
        let p: Position = "binlog.000012:345".parse().unwrap();
        assert_eq!(
            (p.file.as_str(), p.pos, sequence(&p.file)),
            ("binlog.000012", 345, 12)
        );
        assert!("binlog.000012".parse::<Position>().is_err());
        assert!(":4".parse::<Position>().is_err());
        assert!("f:x".parse::<Position>().is_err());
    }

    #[test]
    fn a_query_event_says_its_default_database_and_where_it_began() {
        // thread id, exec time, db length, error code, status vars length, one status
        // byte, the database, NUL, the statement.
        let mut body = vec![0u8; 8];
        body.push(4);
        body.extend_from_slice(&[0, 0, 1, 0, 0xAA]);
        body.extend_from_slice(b"shop\0DELETE FROM t");
        let size = (HEADER + body.len()) as u32;
        let mut ev = vec![0u8; HEADER];
        ev[4] = 2;
        ev[9..13].copy_from_slice(&size.to_le_bytes());
        ev[13..17].copy_from_slice(&(1000 + size).to_le_bytes());
        ev.extend_from_slice(&body);
        let mut file = b"\xfebin".to_vec();
        file.extend_from_slice(&ev);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("piece");
        std::fs::write(&p, &file).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        assert_eq!(
            event_at(&f, 4).unwrap(),
            EventAt {
                start: 1000,
                query_db: Some(Some("shop".into()))
            }
        );
        // No database: `Some(None)`; another kind of event: `None`.
        file[4 + HEADER + 8] = 0;
        std::fs::write(&p, &file).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        assert_eq!(event_at(&f, 4).unwrap().query_db, Some(None));
        file[4 + 4] = 16;
        std::fs::write(&p, &file).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        assert_eq!(event_at(&f, 4).unwrap().query_db, None);
    }
}
