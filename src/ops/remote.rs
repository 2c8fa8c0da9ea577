//! The repository as readers see it: the local directory first, then each target in
//! the config's order for archives that are not (or no longer) on this machine. Every
//! reader (`cat`, `restore`, `diff`, `verify`, the mount) gets its bytes here, so an
//! event whose local archive was pruned or lost reads the same, by ranged reads of
//! only the frames it needs.

use super::layout;
use crate::error::Result;
use crate::store::{local::LocalStore, Object, Store, Stored, TargetSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An optional on-disk read-through cache for remote reads.
#[derive(Debug, Clone)]
pub struct CacheDir {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// Local repository plus targets, for reading.
pub struct Located {
    local: Option<LocalStore>,
    root: PathBuf,
    remotes: Vec<(String, Box<dyn Store>)>,
    /// Which remote served an archive last, so the others are not asked again.
    served_by: Mutex<HashMap<String, usize>>,
}

impl Located {
    /// The repository at `repo`, falling back to `targets` (opened lazily: nothing is
    /// contacted until an archive is missing locally).
    pub fn open(repo: &Path, targets: &[TargetSpec], cache: Option<&CacheDir>) -> Result<Located> {
        let mut remotes = Vec::new();
        for t in targets {
            let dir = cache.map(|c| (c.dir.join(&t.name), c.max_bytes));
            let s = crate::store::open_cached(t, dir.as_ref().map(|(d, m)| (d.as_path(), *m)))?;
            remotes.push((t.name.clone(), s));
        }
        Ok(Located {
            local: Some(LocalStore::new(repo)),
            root: repo.to_path_buf(),
            remotes,
            served_by: Mutex::new(HashMap::new()),
        })
    }

    /// Only the targets, never the local archives: `verify --remote` proves the copies.
    pub fn remote_only(mut self) -> Located {
        self.local = None;
        self
    }

    /// Bytes read from targets so far.
    pub fn fetched(&self) -> u64 {
        self.remotes.iter().map(|(_, s)| s.fetched()).sum()
    }

    fn read_remote(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let remote = layout::remote_name(name);
        let first = crate::sync::lock(&self.served_by).get(name).copied();
        let order = first
            .into_iter()
            .chain((0..self.remotes.len()).filter(|i| Some(*i) != first));
        let mut why = Vec::new();
        for i in order {
            let (target, store) = &self.remotes[i];
            match store.read_at(&remote, offset, len) {
                Ok(b) => {
                    tracing::debug!(
                        "fetched {len} bytes at {offset} of {name} from target {target}"
                    );
                    self.served_by
                        .lock()
                        .expect("lock")
                        .insert(name.to_string(), i);
                    return Ok(b);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    why.push(format!("not on target {target}"))
                }
                Err(e) => why.push(e.to_string()),
            }
        }
        let why = if why.is_empty() {
            "no target is configured".to_string()
        } else {
            why.join("; ")
        };
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("archive {name} is not in {} ({why})", self.root.display()),
        ))
    }
}

impl Store for Located {
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        if let Some(local) = &self.local {
            match local.read_at(name, offset, len) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                r => return r,
            }
        }
        self.read_remote(name, offset, len)
    }

    fn put(&self, name: &str, local: &Path) -> Result<Stored> {
        LocalStore::new(&self.root).put(name, local)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        LocalStore::new(&self.root).list(prefix)
    }

    fn size_of(&self, name: &str) -> Result<Option<u64>> {
        LocalStore::new(&self.root).size_of(name)
    }

    fn delete(&self, name: &str) -> Result<()> {
        LocalStore::new(&self.root).delete(name)
    }

    fn fetched(&self) -> u64 {
        Located::fetched(self)
    }

    fn label(&self) -> String {
        format!("repository {}", self.root.display())
    }
}
