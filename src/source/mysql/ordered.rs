//! The hashes of a table dumped in primary-key ranges by several workers at once.
//!
//! A member's SHA-256 and BLAKE3 are sequential, so the ranges' bytes must be hashed in
//! order. Rather than decompressing the joined spool files again to hash them, the
//! worker whose range is next hashes its bytes as it writes them; a worker ahead of its
//! turn keeps its bytes in memory (up to [`HELD_BYTES`]) and hashes them when its turn
//! comes, or parks them when its range ends first (up to [`PARKED_BYTES`] per table),
//! to be hashed by whoever ends the range before. Past either bound a worker waits for
//! its turn. Each byte is hashed once and never read back.
//!
//! No wait can last forever: ranges are handed to workers in order, so the range whose
//! turn it is has been started (or is next to start) and never waits itself; a range
//! that fails wakes every waiter with an error.

use crate::format::frame::{ContentHash, FrameHasher};
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Bytes a worker ahead of its turn keeps while its range is still being dumped.
pub const HELD_BYTES: usize = 32 << 20;
/// Bytes of finished ranges, per table, waiting for the ranges before them.
pub const PARKED_BYTES: usize = 64 << 20;

struct State {
    /// The range whose bytes are hashed next.
    next: usize,
    /// `None` while a worker hashes (its own range, or parked ones).
    hash: Option<ContentHash>,
    parked: BTreeMap<usize, Vec<Vec<u8>>>,
    parked_bytes: usize,
    result: Option<(String, String)>,
    failed: bool,
}

/// Shared by the ranges of one table.
pub struct OrderedHash {
    parts: usize,
    /// `State::next`, readable without the lock.
    next: AtomicUsize,
    state: Mutex<State>,
    changed: Condvar,
}

fn failed() -> io::Error {
    io::Error::other("an earlier range of this table failed")
}

impl std::fmt::Debug for OrderedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OrderedHash({} parts)", self.parts)
    }
}

impl OrderedHash {
    pub fn new(parts: usize) -> Arc<Self> {
        Arc::new(OrderedHash {
            parts,
            next: AtomicUsize::new(0),
            state: Mutex::new(State {
                next: 0,
                hash: Some(ContentHash::default()),
                parked: BTreeMap::new(),
                parked_bytes: 0,
                result: None,
                failed: false,
            }),
            changed: Condvar::new(),
        })
    }

    /// The hasher of range `index`, to hand to its [`FramedWriter`](crate::format::frame::FramedWriter).
    pub fn part(self: &Arc<Self>, index: usize) -> Part {
        Part {
            shared: self.clone(),
            index,
            hash: None,
            held: Vec::new(),
            held_bytes: 0,
            done: false,
        }
    }

    /// `(sha256, blake3)` of the whole table, once every range has ended.
    pub fn result(&self) -> io::Result<(String, String)> {
        let mut st = crate::sync::lock(&self.state);
        loop {
            if let Some(r) = &st.result {
                return Ok(r.clone());
            }
            if st.failed {
                return Err(failed());
            }
            st = self.changed.wait(st).expect("hash lock");
        }
    }

    fn fail(&self) {
        crate::sync::lock(&self.state).failed = true;
        self.changed.notify_all();
    }

    /// Called with the hasher after range `ended` is hashed whole: hashes the parked
    /// ranges that follow, then hands the hasher on (or finishes).
    fn advance(&self, ended: usize, mut hash: ContentHash) {
        let mut st = crate::sync::lock(&self.state);
        let mut next = ended + 1;
        while let Some(bufs) = st.parked.remove(&next) {
            st.parked_bytes -= bufs.iter().map(Vec::len).sum::<usize>();
            st.next = next;
            self.next.store(next, Ordering::Release);
            drop(st);
            for b in &bufs {
                hash.update(b);
            }
            st = crate::sync::lock(&self.state);
            next += 1;
        }
        st.next = next;
        self.next.store(next, Ordering::Release);
        if next == self.parts {
            st.result = Some(hash.finish());
        } else {
            st.hash = Some(hash);
        }
        drop(st);
        self.changed.notify_all();
    }
}

/// One range's side of an [`OrderedHash`].
pub struct Part {
    shared: Arc<OrderedHash>,
    index: usize,
    /// The table's hasher, while it is this range's turn.
    hash: Option<ContentHash>,
    held: Vec<Vec<u8>>,
    held_bytes: usize,
    done: bool,
}

impl Part {
    /// Takes the hasher if it is this range's turn; with `wait`, waits for the turn.
    fn take(&mut self, wait: bool) -> io::Result<()> {
        let sh = &self.shared;
        let mut st = crate::sync::lock(&sh.state);
        loop {
            if st.failed {
                return Err(failed());
            }
            if st.next == self.index {
                if let Some(mut h) = st.hash.take() {
                    drop(st);
                    for b in self.held.drain(..) {
                        h.update(&b);
                    }
                    self.held_bytes = 0;
                    self.hash = Some(h);
                    return Ok(());
                }
            }
            if !wait {
                return Ok(());
            }
            st = sh.changed.wait(st).expect("hash lock");
        }
    }
}

impl FrameHasher for Part {
    fn update(&mut self, data: &[u8]) -> io::Result<()> {
        if self.hash.is_none() && self.shared.next.load(Ordering::Acquire) == self.index {
            self.take(false)?;
        }
        if let Some(h) = self.hash.as_mut() {
            h.update(data);
            return Ok(());
        }
        self.held.push(data.to_vec());
        self.held_bytes += data.len();
        if self.held_bytes > HELD_BYTES {
            self.take(true)?;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<(String, String)> {
        self.done = true;
        if self.hash.is_none() {
            let sh = self.shared.clone();
            let mut st = crate::sync::lock(&sh.state);
            if st.failed {
                return Err(failed());
            }
            let ahead = !(st.next == self.index && st.hash.is_some());
            if ahead && st.parked_bytes + self.held_bytes <= PARKED_BYTES {
                // The range before is still running: park, and let it hash these.
                st.parked_bytes += self.held_bytes;
                st.parked.insert(self.index, std::mem::take(&mut self.held));
                return Ok((String::new(), String::new()));
            }
            drop(st);
            self.take(true)?;
        }
        let hash = self.hash.take().expect("taken above");
        self.shared.advance(self.index, hash);
        Ok((String::new(), String::new()))
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.done {
            self.shared.fail();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(parts: &[Vec<u8>]) -> (String, String) {
        let mut h = ContentHash::default();
        for p in parts {
            h.update(p);
        }
        h.finish()
    }

    #[test]
    fn ranges_ending_in_any_order_hash_the_table_in_order() {
        let parts: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 1000 + i as usize]).collect();
        let want = expected(&parts);
        // Every order of finishing, on threads, each range written in two pieces.
        for order in [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 4, 3]] {
            let oh = OrderedHash::new(parts.len());
            std::thread::scope(|s| {
                for (k, &i) in order.iter().enumerate() {
                    let mut p = oh.part(i);
                    let data = &parts[i];
                    s.spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(3 * k as u64));
                        p.update(&data[..500]).unwrap();
                        p.update(&data[500..]).unwrap();
                        p.finish().unwrap();
                    });
                }
            });
            assert_eq!(oh.result().unwrap(), want, "order {order:?}");
        }
    }

    #[test]
    fn a_failed_range_wakes_the_ranges_waiting_for_it() {
        let oh = OrderedHash::new(2);
        let first = oh.part(0);
        let second = oh.part(1);
        let h = std::thread::spawn(move || {
            let mut second = second;
            second.update(&vec![1u8; HELD_BYTES + 1])
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(first);
        assert!(h.join().unwrap().is_err());
        assert!(oh.result().is_err());
    }
}
