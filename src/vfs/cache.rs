//! The byte-bounded LRU cache of decompressed frames, sharded so that many readers do
//! not serialise on one lock. A slot is inserted before its frame is decoded; readers
//! of the same frame wait on the slot's own lock, so each frame is decoded once.

use lru::LruCache;
use std::sync::{Arc, Mutex};

/// `(event id, node, frame index)`
pub type Key = (i64, u32, u32);

#[derive(Default)]
pub struct Slot {
    data: Mutex<Option<Arc<Vec<u8>>>>,
}

struct Shard {
    lru: LruCache<Key, (Arc<Slot>, usize)>,
    bytes: usize,
}

pub struct FrameCache {
    shards: Vec<Mutex<Shard>>,
    budget: usize,
}

const SHARDS: usize = 16;

impl FrameCache {
    pub fn new(bytes: usize) -> Self {
        FrameCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        lru: LruCache::unbounded(),
                        bytes: 0,
                    })
                })
                .collect(),
            budget: (bytes / SHARDS).max(1),
        }
    }

    fn shard(&self, k: &Key) -> &Mutex<Shard> {
        let h =
            (k.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((k.1 as u64) << 20) ^ k.2 as u64;
        &self.shards[(h.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 60) as usize % SHARDS]
    }

    /// The frame `k` of `size` bytes, decoded by `load` if it is not cached. A failed
    /// load leaves nothing behind, so a later read tries again.
    pub fn get<E>(
        &self,
        k: Key,
        size: usize,
        load: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<Vec<u8>>, E> {
        // A frame bigger than a shard's share is decoded for this read and not kept:
        // whatever an archive claims, the cache never holds more than its budget.
        if !self.fits(size) {
            return load().map(Arc::new);
        }
        let slot = {
            let mut sh = self.shard(&k).lock().expect("cache lock");
            if let Some((slot, _)) = sh.lru.get(&k) {
                slot.clone()
            } else {
                let slot = Arc::new(Slot::default());
                sh.lru.put(k, (slot.clone(), size));
                sh.bytes += size;
                while sh.bytes > self.budget && sh.lru.len() > 1 {
                    match sh.lru.pop_lru() {
                        Some((_, (_, n))) => sh.bytes -= n,
                        None => break,
                    }
                }
                slot
            }
        };
        let mut data = slot.data.lock().expect("slot lock");
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
                let mut sh = self.shard(&k).lock().expect("cache lock");
                if let Some((_, n)) = sh.lru.pop(&k) {
                    sh.bytes -= n;
                }
                Err(e)
            }
        }
    }

    /// Whether a frame of `size` bytes is ever kept (and worth decoding ahead).
    pub fn fits(&self, size: usize) -> bool {
        size <= self.budget
    }

    /// Whether frame `k` is cached and decoded.
    pub fn contains(&self, k: &Key) -> bool {
        let sh = self.shard(k).lock().expect("cache lock");
        sh.lru
            .peek(k)
            .is_some_and(|(slot, _)| slot.data.try_lock().is_ok_and(|d| d.is_some()))
    }

    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("cache lock").bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_byte_budget_and_decodes_each_frame_once() {
        let c = FrameCache::new(16 * 1000);
        let mut loads = 0;
        for i in 0..100u32 {
            c.get::<()>((1, 1, i), 1000, || {
                loads += 1;
                Ok(vec![0u8; 1000])
            })
            .unwrap();
        }
        assert_eq!(loads, 100);
        assert!(c.bytes() <= 16 * 1000 + 16 * 1000, "{}", c.bytes());
        let k = (1, 1, 99);
        assert!(c.contains(&k));
        c.get::<()>(k, 1000, || panic!("decoded twice")).unwrap();
        assert!(c.get((2, 2, 2), 10, || Err("bad")).is_err());
        assert!(!c.contains(&(2, 2, 2)));
    }

    #[test]
    fn a_frame_bigger_than_a_shard_is_served_but_never_kept() {
        let c = FrameCache::new(16 * 1000);
        for i in 0..50u32 {
            let got = c
                .get::<()>((1, 1, i), 5000, || Ok(vec![7u8; 5000]))
                .unwrap();
            assert_eq!(got.len(), 5000);
        }
        assert_eq!(c.bytes(), 0);
        assert!(!c.contains(&(1, 1, 0)));
    }
}
