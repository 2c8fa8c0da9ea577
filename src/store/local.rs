//! The local repository directory as a [`Store`]. Keeps archive files open, since an
//! archive never changes once written.

use super::Store;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
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

impl Store for LocalStore {
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let f = self.file(name)?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }
}
