//! `strata verify`: recomputes the SHA-256 of each archive file and, frame by frame,
//! the SHA-256 and BLAKE3 of every member, naming the bad member and frame.

use crate::archive::writer::sha256_file;
use crate::error::Error;
use crate::model::{Event, Member};
use crate::ops::read::read_frame;
use crate::store::Store;
use sha2::Digest;
use std::path::Path;

/// Checks one event's archive; returns one line per problem (empty when sound).
pub fn event(repo: &Path, store: &dyn Store, ev: &Event, members: &[Member]) -> Vec<String> {
    let mut problems = Vec::new();
    let path = repo.join(&ev.file);
    match sha256_file(&path) {
        Ok(sha) if Some(&sha) == ev.sha256.as_ref() => {}
        Ok(_) => problems.push(format!(
            "archive {}: SHA-256 differs from the catalog; the file changed since event {} was written",
            ev.file, ev.id
        )),
        Err(e) => {
            problems.push(e.to_string());
            return problems;
        }
    }
    for m in members.iter().filter(|m| m.kind.has_content()) {
        if let Err(e) = member(store, &ev.file, m) {
            problems.push(e.to_string());
        }
    }
    problems
}

/// Decompresses every frame of `m` and compares its hashes with the catalog's.
pub fn member(store: &dyn Store, archive: &str, m: &Member) -> Result<(), Error> {
    let mut sha = sha2::Sha256::new();
    let mut b3 = blake3::Hasher::new();
    for i in 0..m.frames.len() {
        let data = read_frame(store, archive, m, i)?;
        sha.update(&data);
        b3.update(&data);
    }
    let bad = |what: &str| Error::CorruptMember {
        archive: archive.to_string(),
        member: m.path.clone(),
        message: format!("{what} differs from the catalog"),
    };
    if m.sha256.as_deref() != Some(hex::encode(sha.finalize()).as_str()) {
        return Err(bad("SHA-256"));
    }
    if m.blake3.as_deref() != Some(b3.finalize().to_hex().as_str()) {
        return Err(bad("BLAKE3"));
    }
    Ok(())
}
