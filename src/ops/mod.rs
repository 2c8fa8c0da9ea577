//! What the commands do, as functions over the catalog, the archive code, the store
//! and the sources. No argument parsing or printing here; the CLI does that.

pub mod backup;
pub mod cleanup;
pub mod diff;
pub mod finish;
pub mod follow;
pub mod layout;
pub mod load;
pub mod lock;
pub mod metrics;
pub mod notify;
pub mod pitr;
pub mod prune;
pub mod read;
pub mod reindex;
pub mod remote;
pub mod restore;
pub mod retention;
pub mod rowdiff;
pub mod sidecars;
pub mod textdiff;
pub mod upload;
pub mod verify;
pub mod verify_remote;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::model::Event;

/// How the command line names an event: its id, `latest` (the newest complete or
/// partial event) or `latest~N` (the Nth before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRef {
    Id(i64),
    Latest(usize),
}

impl std::str::FromStr for EventRef {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?} is not an event: write an id, `latest` or `latest~N`");
        if s == "latest" {
            return Ok(EventRef::Latest(0));
        }
        if let Some(n) = s.strip_prefix("latest~") {
            return n.parse().map(EventRef::Latest).map_err(|_| bad());
        }
        s.parse().map(EventRef::Id).map_err(|_| bad())
    }
}

/// The event `r` names, or a message that says how to list the existing ones.
pub fn find_event(cat: &Catalog, r: EventRef) -> Result<Event> {
    let id = match r {
        EventRef::Id(id) => id,
        EventRef::Latest(n) => {
            return cat.latest_readable(n)?.map_err(|count| {
                Error::NotFound(format!(
                    "there is no latest~{n}: the catalog holds {count} complete events; `strata list` shows them"
                ))
            });
        }
    };
    cat.event(id)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no event {id} in the catalog; `strata list` shows the events"
        ))
    })
}

/// The event `r` names, which must be complete (or partial) to be read.
pub fn complete_event(cat: &Catalog, r: EventRef) -> Result<Event> {
    let ev = find_event(cat, r)?;
    if !ev.is_readable() {
        return Err(Error::NotFound(format!(
            "event {} is {} and has no readable archive",
            ev.id,
            ev.status()
        )));
    }
    Ok(ev)
}
