//! Reading an archive without the catalog: walks the tar headers (seeking over member
//! data) to list every entry and read the manifest, for `reindex` and `verify`.

use crate::error::{Error, Result};
use crate::format::{manifest::Manifest, MANIFEST_NAME};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// One tar entry: its name (pax `path` when present), where its data starts, its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// Every entry of the archive at `path` but the manifest, and the checked manifest.
pub fn read(path: &Path) -> Result<(Vec<TarEntry>, Manifest)> {
    let name = path.display().to_string();
    let bad = |message: String| Error::Archive {
        archive: name.clone(),
        message,
    };
    let file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let mut ar = tar::Archive::new(file);
    let mut found = None;
    let mut entries = Vec::new();
    for entry in ar
        .entries_with_seek()
        .map_err(|e| bad(format!("not a tar file: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("bad tar entry: {e}")))?;
        let entry_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if entry_name == MANIFEST_NAME {
            if entry.size() > 1 << 30 {
                return Err(bad(format!(
                    "{MANIFEST_NAME} claims {} bytes",
                    entry.size()
                )));
            }
            let mut buf = Vec::new();
            entry
                .read_to_end(&mut buf)
                .map_err(|e| bad(format!("cannot read the manifest: {e}")))?;
            found = Some(buf);
        } else {
            entries.push(TarEntry {
                name: entry_name.trim_end_matches('/').to_string(),
                offset: entry.raw_file_position(),
                size: entry.size(),
            });
        }
    }
    let bytes = found.ok_or_else(|| {
        bad(format!(
            "no {MANIFEST_NAME} entry; the archive is incomplete"
        ))
    })?;
    let manifest = Manifest::parse(&bytes).map_err(bad)?;
    Ok((entries, manifest))
}

/// Reads and checks the manifest of the archive at `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    read(path).map(|(_, m)| m)
}
