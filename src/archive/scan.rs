//! Reading an archive without the catalog: finds the manifest entry by walking the tar
//! headers (seeking over member data), for `strata reindex`.

use crate::error::{Error, Result};
use crate::format::{manifest::Manifest, MANIFEST_NAME};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Reads and checks the manifest of the archive at `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let name = path.display().to_string();
    let bad = |message: String| Error::Archive {
        archive: name.clone(),
        message,
    };
    let file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let mut ar = tar::Archive::new(file);
    let mut found = None;
    for entry in ar
        .entries_with_seek()
        .map_err(|e| bad(format!("not a tar file: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("bad tar entry: {e}")))?;
        let is_manifest = entry.path_bytes().as_ref() == MANIFEST_NAME.as_bytes();
        if is_manifest {
            let mut buf = Vec::new();
            entry
                .read_to_end(&mut buf)
                .map_err(|e| bad(format!("cannot read the manifest: {e}")))?;
            found = Some(buf);
        }
    }
    let bytes = found.ok_or_else(|| {
        bad(format!(
            "no {MANIFEST_NAME} entry; the archive is incomplete"
        ))
    })?;
    Manifest::parse(&bytes).map_err(bad)
}
