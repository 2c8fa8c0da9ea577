//! `strata verify --remote`, and `verify` of an event whose local archive is gone:
//! proves a target's copy of an event by reading it there. The target must hold the
//! archive at the recorded size, its `.tar.sha256` must name the catalog's SHA-256, its
//! manifest (found by its locator with ranged reads) must list the catalog's members,
//! and every member is read frame by frame and checked against its hashes.

use super::{layout, remote::Located, upload::with_ext, verify};
use crate::archive::scan;
use crate::catalog::RemoteCopy;
use crate::model::{Event, Member};
use crate::store::Store;

/// Problems of `copy` of `ev` on the target `located` reads (empty when sound).
pub fn copy(
    located: &Located,
    target: &dyn Store,
    copy: &RemoteCopy,
    ev: &Event,
    members: &[Member],
) -> Vec<String> {
    let mut problems = Vec::new();
    let say = |m: String| format!("target {}: {m}", copy.target);
    let remote = layout::remote_name(&ev.file);
    let dir = remote.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let listing = match target.list(dir) {
        Ok(l) => l,
        Err(e) => return vec![e.to_string()],
    };
    let size_of = |name: &str| listing.iter().find(|o| o.name == name).map(|o| o.size);
    let Some(size) = size_of(&remote) else {
        return vec![say(format!("{remote} is missing"))];
    };
    if Some(size) != copy.size || size != ev.bytes {
        problems.push(say(format!(
            "{remote} holds {size} bytes, the catalog says {}",
            ev.bytes
        )));
    }
    for ext in ["meta", "tar.sha256"] {
        let name = layout::remote_name(&with_ext(&ev.file, ext));
        if size_of(&name).is_none() {
            problems.push(say(format!("{name} is missing")));
        }
    }
    let sums = layout::remote_name(&with_ext(&ev.file, "tar.sha256"));
    if let Some(n) = size_of(&sums) {
        match target.read_at(&sums, 0, n as usize) {
            Ok(b)
                if ev
                    .sha256
                    .as_deref()
                    .is_some_and(|s| b.starts_with(s.as_bytes())) => {}
            Ok(_) => problems.push(say(format!("{sums} does not name the catalog's SHA-256"))),
            Err(e) => problems.push(say(format!("cannot read {sums}: {e}"))),
        }
    }
    let read_at = super::read::bytes(located, &ev.file);
    match scan::manifest_by_locator(&*read_at, &ev.file, size) {
        Ok(m) => {
            let mut ours: Vec<&Member> = members.iter().collect();
            let mut theirs: Vec<&Member> = m.members.iter().collect();
            ours.sort_by(|a, b| a.path.cmp(&b.path));
            theirs.sort_by(|a, b| a.path.cmp(&b.path));
            if ours != theirs {
                problems.push(say(format!(
                    "the manifest of {remote} and the catalog disagree on the members"
                )));
            }
        }
        Err(e) => problems.push(say(e.to_string())),
    }
    for m in members.iter().filter(|m| m.kind.has_content()) {
        if let Err(e) = verify::member(located, &ev.file, m) {
            problems.push(say(e.to_string()));
        }
    }
    problems
}
