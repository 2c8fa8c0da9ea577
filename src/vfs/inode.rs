//! Inode numbers computed from what they name, so that they are stable across
//! lookups, evictions of event trees and remounts, and need no table of their own.

pub const ROOT: u64 = 1;
pub const LATEST: u64 = 2;
const YEAR: u64 = 1 << 56;
const MONTH: u64 = 2 << 56;
const EVENT: u64 = 3 << 56;
const NODE: u64 = 4 << 56;
const LOCAL_BITS: u32 = 28;
const LOW: u64 = (1 << 56) - 1;

/// What an inode number names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ino {
    Root,
    Latest,
    Year(u32),
    /// `(year, month)`
    Month(u32, u32),
    /// The directory of event `id`.
    Event(i64),
    /// Node `local` (1-based) of the tree of event `id`.
    Node(i64, u32),
}

pub fn encode(i: Ino) -> u64 {
    match i {
        Ino::Root => ROOT,
        Ino::Latest => LATEST,
        Ino::Year(y) => YEAR | y as u64,
        Ino::Month(y, m) => MONTH | (y as u64 * 100 + m as u64),
        Ino::Event(id) => EVENT | id as u64,
        Ino::Node(id, 0) => EVENT | id as u64,
        Ino::Node(id, local) => NODE | ((id as u64) << LOCAL_BITS) | local as u64,
    }
}

pub fn decode(ino: u64) -> Option<Ino> {
    let low = ino & LOW;
    Some(match ino >> 56 {
        0 if ino == ROOT => Ino::Root,
        0 if ino == LATEST => Ino::Latest,
        1 => Ino::Year(low as u32),
        2 => Ino::Month((low / 100) as u32, (low % 100) as u32),
        3 => Ino::Event(low as i64),
        4 => Ino::Node(
            (low >> LOCAL_BITS) as i64,
            (low & ((1 << LOCAL_BITS) - 1)) as u32,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_round_trip() {
        for i in [
            Ino::Root,
            Ino::Latest,
            Ino::Year(2026),
            Ino::Month(2026, 11),
            Ino::Event(123_456),
            Ino::Node(77, 1),
            Ino::Node(77, (1 << 28) - 1),
        ] {
            assert_eq!(decode(encode(i)), Some(i));
        }
        assert_eq!(decode(encode(Ino::Node(5, 0))), Some(Ino::Event(5)));
    }
}
