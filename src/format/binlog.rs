//! The MySQL/MariaDB binary log file, as far as strata reads it: the magic number and
//! the common header of every event (timestamp, type, size, end position), enough to
//! know which moments a captured range covers without a binlog parser. The files are
//! stored as the server wrote them; `mariadb-binlog`/`mysqlbinlog` read them as they are.

use std::io::{Read, Seek, SeekFrom};

/// Every binlog file starts with these four bytes; the first event is at offset 4.
pub const MAGIC: &[u8; 4] = b"\xfebin";
const HEADER: usize = 19;

/// Events that describe the file rather than a change: not counted in a window.
fn is_bookkeeping(kind: u8) -> bool {
    // ROTATE, FORMAT_DESCRIPTION, MariaDB's BINLOG_CHECKPOINT, GTID_LIST,
    // START_ENCRYPTION.
    matches!(kind, 4 | 15 | 161 | 163 | 164)
}

/// The first and last timestamps (Unix seconds) of the change events that start within
/// `[from, to)` of the binlog file `r` (`len` bytes long; `to`: the end when `None`).
/// Reads only the event headers. Stops quietly at a truncated event: the server may be
/// writing the file.
pub fn event_times<R: Read + Seek>(
    r: &mut R,
    len: u64,
    from: u64,
    to: Option<u64>,
) -> std::io::Result<Option<(u32, u32)>> {
    let mut magic = [0u8; 4];
    r.seek(SeekFrom::Start(0))?;
    if len < 4 || r.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Ok(None);
    }
    let end = to.map_or(len, |t| t.min(len));
    let mut at = 4u64;
    let mut window: Option<(u32, u32)> = None;
    let mut h = [0u8; HEADER];
    while at + HEADER as u64 <= end {
        r.seek(SeekFrom::Start(at))?;
        r.read_exact(&mut h)?;
        let time = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes"));
        let kind = h[4];
        let size = u32::from_le_bytes(h[9..13].try_into().expect("4 bytes")) as u64;
        if size < HEADER as u64 || at + size > len {
            break;
        }
        if at >= from && !is_bookkeeping(kind) && time != 0 {
            window = Some(match window {
                None => (time, time),
                Some((a, b)) => (a.min(time), b.max(time)),
            });
        }
        at += size;
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(time: u32, kind: u8, body: usize) -> Vec<u8> {
        let size = (HEADER + body) as u32;
        let mut e = Vec::new();
        e.extend_from_slice(&time.to_le_bytes());
        e.push(kind);
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend(std::iter::repeat_n(0u8, body));
        e
    }

    #[test]
    fn the_window_counts_change_events_from_a_position() {
        let mut f = MAGIC.to_vec();
        f.extend(event(100, 15, 10)); // format description: not a change
        let second = f.len() as u64;
        f.extend(event(200, 2, 5));
        f.extend(event(300, 16, 5));
        let end = f.len() as u64;
        f.extend(event(400, 2, 5));
        f.extend(&event(500, 2, 50)[..30]); // being written
        let times = |from, to| {
            event_times(&mut std::io::Cursor::new(&f), f.len() as u64, from, to).unwrap()
        };
        assert_eq!(times(0, None), Some((200, 400)));
        assert_eq!(times(second + 1, None), Some((300, 400)));
        assert_eq!(times(0, Some(end)), Some((200, 300)));
        let junk = b"not a binlog";
        let mut c = std::io::Cursor::new(junk);
        assert_eq!(
            event_times(&mut c, junk.len() as u64, 0, None).unwrap(),
            None
        );
    }
}
