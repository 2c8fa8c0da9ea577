//! The local repository directory as a [`Store`]. Keeps archive files open, since an
//! archive never changes once written.

use super::{Object, Store, Stored};
use crate::error::{Error, IoContext, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct LocalStore {
    root: PathBuf,
    open: Mutex<HashMap<String, Arc<File>>>,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore {
            root: root.into(),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, name: &str) -> std::io::Result<Arc<File>> {
        let mut open = self.open.lock().expect("store lock poisoned");
        if let Some(f) = open.get(name) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(self.root.join(name))?);
        open.insert(name.to_string(), f.clone());
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
        let bytes = std::fs::read(local).ctx(|| format!("cannot read {}", local.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .ctx(|| format!("cannot create a file in {}", dir.display()))?;
        tmp.write_all(&bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .ctx(|| format!("cannot write {}", dest.display()))?;
        tmp.persist_noclobber(&dest)
            .map_err(|e| Error::io(format!("cannot create {}", dest.display()), e.error))?;
        Ok(Stored {
            size: bytes.len() as u64,
            sha256: super::sha256_hex(&bytes),
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        let mut out = Vec::new();
        list_into(&self.root, &self.root.join(prefix), &mut out)
            .ctx(|| format!("cannot list {}", self.root.display()))?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.open.lock().expect("store lock poisoned").remove(name);
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
