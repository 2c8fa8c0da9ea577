//! The local repository directory as a [`Store`]. Keeps a bounded set of archive files
//! open (an archive never changes once written), so that a mount running for a year
//! over 100,000 archives holds a few descriptors, and an archive pruned meanwhile is
//! let go (its space freed) the next time it is asked for.

use super::{Object, Store, Stored};
use crate::error::{Error, IoContext, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Archives kept open at once.
const OPEN_FILES: usize = 64;

pub struct LocalStore {
    root: PathBuf,
    open: Mutex<lru::LruCache<String, Arc<File>>>,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore {
            root: root.into(),
            open: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(OPEN_FILES).expect("non-zero"),
            )),
        }
    }

    fn file(&self, name: &str) -> std::io::Result<Arc<File>> {
        use std::os::unix::fs::MetadataExt;
        let mut open = crate::sync::lock(&self.open);
        if let Some(f) = open.get(name) {
            // A file removed since (pruned, forgotten) is let go, not read on.
            if f.metadata().is_ok_and(|m| m.nlink() > 0) {
                return Ok(f.clone());
            }
            open.pop(name);
        }
        // Files removed since they were opened (pruned, forgotten) are let go now, so
        // that their space comes back while the mount runs.
        let gone: Vec<String> = open
            .iter()
            .filter(|(_, f)| f.metadata().is_ok_and(|m| m.nlink() == 0))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            open.pop(&k);
        }
        let f = Arc::new(File::open(self.root.join(name))?);
        open.put(name.to_string(), f.clone());
        Ok(f)
    }
}

fn list_into(root: &Path, dir: &Path, out: &mut Vec<Object>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        r => r?,
    };
    for entry in entries {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            list_into(root, &entry.path(), out)?;
        } else if ty.is_file() {
            let path = entry.path();
            let name = path.strip_prefix(root).unwrap_or(&path);
            out.push(Object {
                name: name.to_string_lossy().into_owned(),
                size: entry.metadata()?.len(),
            });
        }
    }
    Ok(())
}

impl Store for LocalStore {
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let f = self.file(name)?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn put(&self, name: &str, local: &Path) -> Result<Stored> {
        let dest = self.root.join(name);
        let dir = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).ctx(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .ctx(|| format!("cannot create a file in {}", dir.display()))?;
        let stored = super::copy_hashing(local, &mut tmp, &dest.display().to_string())?;
        tmp.as_file()
            .sync_all()
            .ctx(|| format!("cannot write {}", dest.display()))?;
        tmp.persist_noclobber(&dest)
            .map_err(|e| Error::io(format!("cannot create {}", dest.display()), e.error))?;
        Ok(stored)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        let mut out = Vec::new();
        list_into(&self.root, &self.root.join(prefix), &mut out)
            .ctx(|| format!("cannot list {}", self.root.display()))?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn size_of(&self, name: &str) -> Result<Option<u64>> {
        match std::fs::metadata(self.root.join(name)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("cannot check {name}"), e)),
        }
    }

    fn delete(&self, name: &str) -> Result<()> {
        crate::sync::lock(&self.open).pop(name);
        match std::fs::remove_file(self.root.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("cannot delete {name}"), e))
            }
            _ => Ok(()),
        }
    }

    fn label(&self) -> String {
        format!("repository {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_read_and_delete_never_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        std::fs::write(&src, b"hello archive").unwrap();
        let store = LocalStore::new(dir.path().join("root"));
        let stored = store.put("h/2026/11/x.tar", &src).unwrap();
        assert_eq!(stored.size, 13);
        assert_eq!(
            stored.sha256,
            "f8976760708ac1d60ab4b2dd1fa3c02d3bbf9693846f1db27aa77b46f0bb4276"
        );
        assert!(store.put("h/2026/11/x.tar", &src).is_err(), "no overwrite");
        let listed = store.list("h/").unwrap();
        assert_eq!(
            listed,
            vec![Object {
                name: "h/2026/11/x.tar".into(),
                size: 13
            }]
        );
        assert_eq!(store.read_at("h/2026/11/x.tar", 6, 7).unwrap(), b"archive");
        store.delete("h/2026/11/x.tar").unwrap();
        store.delete("h/2026/11/x.tar").unwrap();
        assert!(store.list("").unwrap().is_empty());
    }
}
