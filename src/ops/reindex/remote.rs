//! The events a target holds, read from its listing, each archive's `.tar.sha256` and
//! its manifest (by ranged reads of the archive's end). An archive without its
//! `.tar.sha256` was never completely uploaded and is not an event.

use crate::archive::scan;
use crate::catalog::{CopyState, RemoteCopy};
use crate::error::{Error, Result};
use crate::model::{Event, Member};
use crate::ops::{layout, upload::with_ext};
use crate::store::{Object, Store, TargetSpec};
use std::collections::{BTreeMap, HashMap};

/// What a target holds.
pub struct Found {
    pub events: Vec<(Event, Vec<Member>, RemoteCopy)>,
    /// The highest event id any archive of the chosen host(s) carries.
    pub max_id: i64,
}

/// Reads the events on `spec` (of `host` only, when given). Archives that cannot be
/// used are added to `skipped`; ids shared by two hosts are an error asking for --host.
pub fn events(spec: &TargetSpec, host: Option<&str>, skipped: &mut Vec<String>) -> Result<Found> {
    let store = crate::store::open(spec)?;
    let listing = store.list(host.map(|h| format!("{h}/")).as_deref().unwrap_or(""))?;
    let sizes: HashMap<&str, u64> = listing.iter().map(|o| (o.name.as_str(), o.size)).collect();
    let archives: Vec<(&Object, &str)> = listing
        .iter()
        .filter_map(|o| {
            let rel = layout::local_name(&o.name)?;
            layout::archive_id(rel)?;
            Some((o, rel))
        })
        .filter(|(_, rel)| host.is_none_or(|h| layout::host_of(rel) == Some(h)))
        .collect();
    if archives.is_empty() {
        let which = host.map(|h| format!(" of host {h}")).unwrap_or_default();
        return Err(Error::NotFound(format!(
            "target {} holds no archive{which} (`strata list` after `strata upload` shows what is copied)",
            spec.name
        )));
    }
    let mut hosts_of_id: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    let mut found = Found {
        events: Vec::new(),
        max_id: 0,
    };
    for (o, rel) in &archives {
        let id = layout::archive_id(rel).unwrap_or(0);
        found.max_id = found.max_id.max(id);
        let h = layout::host_of(rel).unwrap_or("");
        let hosts = hosts_of_id.entry(id).or_default();
        if !hosts.contains(&h) {
            hosts.push(h);
        }
        let sums = layout::remote_name(&with_ext(rel, "tar.sha256"));
        let Some(&sums_len) = sizes.get(sums.as_str()) else {
            skipped.push(format!(
                "{} on target {}: its upload never completed (no .tar.sha256); `strata upload` on its host finishes it",
                o.name, spec.name
            ));
            continue;
        };
        match load(&*store, o, rel, &sums, sums_len) {
            Ok((ev, members)) => {
                let mut copy = RemoteCopy::new(ev.id, &spec.name, CopyState::Done);
                copy.size = Some(o.size);
                copy.sha256 = ev.sha256.clone();
                found.events.push((ev, members, copy));
            }
            Err(why) => skipped.push(format!("{} on target {}: {why}", o.name, spec.name)),
        }
    }
    if let Some((id, hosts)) = hosts_of_id.iter().find(|(_, h)| h.len() > 1) {
        return Err(Error::Other(format!(
            "target {} holds event {id} of several hosts ({}); a catalog holds one host's events: pick one with --host",
            spec.name,
            hosts.join(", ")
        )));
    }
    Ok(found)
}

fn load(
    store: &dyn Store,
    o: &Object,
    rel: &str,
    sums: &str,
    sums_len: u64,
) -> std::result::Result<(Event, Vec<Member>), String> {
    let text = store
        .read_at(sums, 0, sums_len as usize)
        .map_err(|e| format!("cannot read its .tar.sha256: {e}"))?;
    let sha = String::from_utf8_lossy(&text)
        .get(..64)
        .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .ok_or("its .tar.sha256 holds no SHA-256")?;
    let read_at = |offset: u64, len: usize| store.read_at(&o.name, offset, len);
    let manifest = scan::manifest_by_locator(&read_at, rel, o.size).map_err(|e| e.to_string())?;
    super::event_of(manifest, rel, o.size, sha)
}

/// The copies of `events` another target holds: an archive of the event's name and
/// size whose `.tar.sha256` names the event's SHA-256 (uploaded last, it proves the
/// copy complete). So after `reindex --from A`, what B already holds is known as
/// copied, never uploaded again or reported missing.
pub fn copies_on(spec: &TargetSpec, events: &[Event]) -> Result<Vec<RemoteCopy>> {
    let store = crate::store::open(spec)?;
    let sizes: HashMap<String, u64> = crate::ops::upload::host_objects(spec, &*store, events)?
        .into_iter()
        .map(|o| (o.name, o.size))
        .collect();
    let mut out = Vec::new();
    for ev in events {
        let tar = layout::remote_name(&ev.file);
        let sums = layout::remote_name(&with_ext(&ev.file, "tar.sha256"));
        let (Some(&size), Some(&sums_len), Some(sha)) =
            (sizes.get(&tar), sizes.get(&sums), ev.sha256.as_deref())
        else {
            continue;
        };
        if size != ev.bytes {
            continue;
        }
        let held = store.read_at(&sums, 0, sums_len as usize).ok();
        if held.as_deref().and_then(|t| t.get(..64)) != Some(sha.as_bytes()) {
            continue;
        }
        let mut copy = RemoteCopy::new(ev.id, &spec.name, CopyState::Done);
        copy.size = Some(size);
        copy.sha256 = Some(sha.to_string());
        out.push(copy);
    }
    Ok(out)
}
