//! An on-disk read-through cache in front of any [`Store`]: ranges read from a remote
//! target are kept as files in a directory bounded in size (oldest used go first), so
//! a second mount or `cp` of the same table reads nothing from the network. Only
//! ranges are cached, never decoded bytes: every byte still goes through the checked
//! read path, so a damaged cache file is caught like a damaged archive.

use super::{Object, Store, Stored};
use crate::error::{IoContext, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// File name -> (last use, size), and the total size.
type Index = (BTreeMap<String, (SystemTime, u64)>, u64);

pub struct DiskCache {
    inner: Box<dyn Store>,
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

impl DiskCache {
    pub fn new(inner: Box<dyn Store>, dir: &Path, max_bytes: u64) -> Result<DiskCache> {
        std::fs::create_dir_all(dir).ctx(|| format!("cannot create {}", dir.display()))?;
        let mut index = BTreeMap::new();
        let mut total = 0;
        for entry in std::fs::read_dir(dir).ctx(|| format!("cannot list {}", dir.display()))? {
            let Ok(entry) = entry else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if !meta.is_file() || name.starts_with('.') {
                continue;
            }
            total += meta.len();
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            index.insert(name, (used, meta.len()));
        }
        Ok(DiskCache {
            inner,
            dir: dir.to_path_buf(),
            max_bytes,
            index: Mutex::new((index, total)),
        })
    }

    fn key(name: &str, offset: u64, len: usize) -> String {
        let h = blake3::hash(format!("{name}\0{offset}\0{len}").as_bytes());
        h.to_hex()[..32].to_string()
    }

    fn remember(&self, key: String, size: u64) {
        let mut guard = crate::sync::lock(&self.index);
        let (index, total) = &mut *guard;
        if let Some((_, old)) = index.insert(key, (SystemTime::now(), size)) {
            *total -= old;
        }
        *total += size;
        while *total > self.max_bytes {
            let Some(oldest) = index
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((_, s)) = index.remove(&oldest) {
                *total -= s;
                let _ = std::fs::remove_file(self.dir.join(&oldest));
            }
        }
    }
}

impl Store for DiskCache {
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let key = Self::key(name, offset, len);
        let path = self.dir.join(&key);
        if let Ok(bytes) = std::fs::read(&path) {
            if bytes.len() == len {
                self.remember(key, len as u64);
                return Ok(bytes);
            }
        }
        let bytes = self.inner.read_at(name, offset, len)?;
        if (len as u64) <= self.max_bytes {
            let tmp = self.dir.join(format!(".{key}.tmp"));
            if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, &path).is_ok() {
                self.remember(key, len as u64);
            } else {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(bytes)
    }

    fn put(&self, name: &str, local: &Path) -> Result<Stored> {
        self.inner.put(name, local)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        self.inner.list(prefix)
    }

    fn size_of(&self, name: &str) -> Result<Option<u64>> {
        self.inner.size_of(name)
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.inner.delete(name)
    }

    fn fetched(&self) -> u64 {
        self.inner.fetched()
    }

    fn label(&self) -> String {
        self.inner.label()
    }
}
