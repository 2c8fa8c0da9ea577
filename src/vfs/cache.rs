//! The byte-bounded LRU cache of decompressed frames. Frames of ordinary size go to 16
//! shards, so that many readers do not serialise on one lock; frames too big for a
//! shard's share go to one LRU of their own. Each side gets half the budget and never
//! holds more (a frame bigger than half the budget is decoded per read and not kept),
//! so the cache stays within its budget whatever sizes an archive claims. A slot is
//! inserted before its frame is decoded; readers of the same frame wait on the slot's
//! own lock, so each frame is decoded once.

use lru::LruCache;
use std::sync::{Arc, Mutex};

/// `(tree uid, node, frame index)`
pub type Key = (i64, u32, u32);

#[derive(Default)]
pub struct Slot {
    data: Mutex<Option<Arc<Vec<u8>>>>,
}

struct Shard {
    lru: LruCache<Key, (Arc<Slot>, usize)>,
    bytes: usize,
}

impl Shard {
    fn new() -> Mutex<Shard> {
        Mutex::new(Shard {
            lru: LruCache::unbounded(),
            bytes: 0,
        })
    }
}

pub struct FrameCache {
    shards: Vec<Mutex<Shard>>,
    /// Bytes each of `shards` may hold.
    shard_budget: usize,
    /// Frames bigger than `shard_budget`.
    big: Mutex<Shard>,
    big_budget: usize,
}

const SHARDS: usize = 16;

impl FrameCache {
    pub fn new(bytes: usize) -> Self {
        FrameCache {
            shards: (0..SHARDS).map(|_| Shard::new()).collect(),
            shard_budget: bytes / 2 / SHARDS,
            big: Shard::new(),
            big_budget: bytes / 2,
        }
    }

    /// The LRU a frame of `size` bytes lives in, with its budget; `None` when the
    /// frame is too big to be kept at all.
    fn home(&self, k: &Key, size: usize) -> Option<(&Mutex<Shard>, usize)> {
        if size <= self.shard_budget {
            let h = (k.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ ((k.1 as u64) << 20)
                ^ k.2 as u64;
            let i = (h.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 60) as usize % SHARDS;
            Some((&self.shards[i], self.shard_budget))
        } else if size <= self.big_budget {
            Some((&self.big, self.big_budget))
        } else {
            None
        }
    }

    /// The frame `k` of `size` bytes, decoded by `load` if it is not cached. A failed
    /// load leaves nothing behind, so a later read tries again.
    pub fn get<E>(
        &self,
        k: Key,
        size: usize,
        load: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<Vec<u8>>, E> {
        let Some((home, budget)) = self.home(&k, size) else {
            return load().map(Arc::new);
        };
        let slot = {
            let mut sh = crate::sync::lock(home);
            if let Some((slot, _)) = sh.lru.get(&k) {
                slot.clone()
            } else {
                let slot = Arc::new(Slot::default());
                sh.lru.put(k, (slot.clone(), size));
                sh.bytes += size;
                while sh.bytes > budget {
                    match sh.lru.pop_lru() {
                        Some((_, (_, n))) => sh.bytes -= n,
                        None => break,
                    }
                }
                slot
            }
        };
        let mut data = crate::sync::lock(&slot.data);
        if let Some(d) = data.as_ref() {
            return Ok(d.clone());
        }
        match load() {
            Ok(v) => {
                let v = Arc::new(v);
                *data = Some(v.clone());
                Ok(v)
            }
            Err(e) => {
                drop(data);
                let mut sh = crate::sync::lock(home);
                if let Some((_, n)) = sh.lru.pop(&k) {
                    sh.bytes -= n;
                }
                Err(e)
            }
        }
    }

    /// Whether a frame of `size` bytes is ever kept (and so worth decoding ahead).
    pub fn fits(&self, size: usize) -> bool {
        size <= self.big_budget
    }

    /// Whether frame `k` (of `size` bytes) is cached and decoded.
    pub fn contains(&self, k: &Key, size: usize) -> bool {
        let Some((home, _)) = self.home(k, size) else {
            return false;
        };
        let sh = crate::sync::lock(home);
        sh.lru
            .peek(k)
            .is_some_and(|(slot, _)| slot.data.try_lock().is_ok_and(|d| d.is_some()))
    }

    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .chain(std::iter::once(&self.big))
            .map(|s| crate::sync::lock(s).bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_byte_budget_and_decodes_each_frame_once() {
        let c = FrameCache::new(32 * 1000);
        let mut loads = 0;
        for i in 0..100u32 {
            c.get::<()>((1, 1, i), 1000, || {
                loads += 1;
                Ok(vec![0u8; 1000])
            })
            .unwrap();
        }
        assert_eq!(loads, 100);
        assert!(c.bytes() <= 32 * 1000, "{}", c.bytes());
        let k = (1, 1, 99);
        assert!(c.contains(&k, 1000));
        c.get::<()>(k, 1000, || panic!("decoded twice")).unwrap();
        assert!(c.get((2, 2, 2), 10, || Err("bad")).is_err());
        assert!(!c.contains(&(2, 2, 2), 10));
    }

    #[test]
    fn big_frames_share_half_the_budget_and_bigger_ones_are_never_kept() {
        let c = FrameCache::new(32 * 1000);
        for i in 0..50u32 {
            let got = c
                .get::<()>((1, 1, i), 5000, || Ok(vec![7u8; 5000]))
                .unwrap();
            assert_eq!(got.len(), 5000);
            assert!(c.bytes() <= 32 * 1000, "{}", c.bytes());
        }
        assert!(c.contains(&(1, 1, 49), 5000), "a big frame was not kept");
        c.get::<()>((1, 1, 49), 5000, || panic!("decoded twice"))
            .unwrap();
        let huge = c
            .get::<()>((3, 3, 3), 20_000, || Ok(vec![1u8; 20_000]))
            .unwrap();
        assert_eq!(huge.len(), 20_000);
        assert!(!c.contains(&(3, 3, 3), 20_000));
        assert!(c.bytes() <= 32 * 1000);
    }
}
