//! What the commands do, as functions over the catalog, the archive code, the store
//! and the sources. No argument parsing or printing here; the CLI does that.

pub mod backup;
pub mod cleanup;
pub mod diff;
pub mod lock;
pub mod notify;
pub mod read;
pub mod reindex;
pub mod restore;
pub mod verify;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::model::Event;

/// The event `id`, or a message that says how to list the existing ones.
pub fn find_event(cat: &Catalog, id: i64) -> Result<Event> {
    cat.event(id)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no event {id} in the catalog; `strata list` shows the events"
        ))
    })
}

/// The event `id`, which must be complete to be read.
pub fn complete_event(cat: &Catalog, id: i64) -> Result<Event> {
    let ev = find_event(cat, id)?;
    if !ev.is_complete() {
        return Err(Error::NotFound(format!(
            "event {id} is {} and has no readable archive",
            ev.status()
        )));
    }
    Ok(ev)
}
