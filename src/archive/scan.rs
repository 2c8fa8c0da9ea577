//! Reading an archive without the catalog: the manifest found from the end of the file
//! by its locator (a few ranged reads, for `reindex`, locally or later remotely), or by
//! walking the tar headers (seeking over member data) to list every entry, for `verify`
//! and for archives written before the locator existed.

use crate::archive::reader::ReadAt;
use crate::error::{Error, Result};
use crate::format::manifest::{self, Manifest, END_BLOCKS};
use crate::format::{tarhdr, MANIFEST_NAME};
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

/// The manifest's bytes of an archive of `len` bytes, found by its locator; `Ok(None)`
/// when the archive has no locator (written before it existed).
pub fn manifest_at_end(read_at: &ReadAt, len: u64) -> std::io::Result<Option<Vec<u8>>> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    if len < END_BLOCKS + 2 * tarhdr::BLOCK {
        return Ok(None);
    }
    let end = read_at(
        len - END_BLOCKS - tarhdr::BLOCK,
        (tarhdr::BLOCK + END_BLOCKS) as usize,
    )?;
    let Some(size) = manifest::locate(&end[..tarhdr::BLOCK as usize]) else {
        return Ok(None);
    };
    if size > 1 << 30 {
        return Err(bad(format!("the manifest locator claims {size} bytes")));
    }
    if end[tarhdr::BLOCK as usize..].iter().any(|&b| b != 0) {
        return Err(bad("the end-of-archive blocks are not zero".into()));
    }
    let start = (len - END_BLOCKS)
        .checked_sub(size + tarhdr::BLOCK)
        .ok_or_else(|| {
            bad(format!(
                "the manifest locator claims {size} bytes, more than the file"
            ))
        })?;
    let header = read_at(start, tarhdr::BLOCK as usize)?;
    let mut name = MANIFEST_NAME.as_bytes().to_vec();
    name.push(0);
    if !header.starts_with(&name) || &header[257..262] != b"ustar" {
        return Err(bad(
            "the manifest locator does not point at the manifest's header".into(),
        ));
    }
    read_at(start + tarhdr::BLOCK, size as usize).map(Some)
}

/// The manifest of archive `name` (`len` bytes) read through `read_at` by its locator
/// alone: how remote archives are indexed without downloading them.
pub fn manifest_by_locator(read_at: &ReadAt, name: &str, len: u64) -> Result<Manifest> {
    let bad = |message: String| Error::Archive {
        archive: name.to_string(),
        message,
    };
    match manifest_at_end(read_at, len).map_err(|e| bad(format!("manifest: {e}")))? {
        Some(bytes) => Manifest::parse(&bytes).map_err(bad),
        None => Err(bad(
            "no manifest locator at its end (not a strata archive, or truncated)".into(),
        )),
    }
}

/// Reads and checks the manifest of the archive at `path`: from its locator, or by
/// walking the headers when it has none.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    use std::os::unix::fs::FileExt;
    let name = path.display().to_string();
    let bad = |message: String| Error::Archive {
        archive: name.clone(),
        message,
    };
    let file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| bad(format!("cannot stat: {e}")))?
        .len();
    let read_at = |offset: u64, n: usize| {
        let mut buf = vec![0u8; n];
        file.read_exact_at(&mut buf, offset).map(|()| buf)
    };
    match manifest_at_end(&read_at, len).map_err(|e| bad(format!("manifest: {e}")))? {
        Some(bytes) => Manifest::parse(&bytes).map_err(bad),
        None => read(path).map(|(_, m)| m),
    }
}
