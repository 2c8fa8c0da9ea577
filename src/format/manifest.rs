//! The JSON manifest, last entry of every archive: everything the catalog knows about
//! the event, so that `strata reindex` can rebuild the catalog from archives alone.

use crate::model::{Event, Member};
use serde::{Deserialize, Serialize};

pub const FORMAT_NAME: &str = "strata-archive";
/// Readers refuse manifests with a greater version.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub event: Event,
    pub members: Vec<Member>,
}

impl Manifest {
    pub fn new(event: Event, members: Vec<Member>) -> Self {
        Manifest {
            format: FORMAT_NAME.into(),
            version: VERSION,
            event,
            members,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("bad manifest: {e}"))?;
        if m.format != FORMAT_NAME {
            return Err(format!(
                "manifest format is {:?}, not {FORMAT_NAME:?}",
                m.format
            ));
        }
        if m.version > VERSION {
            return Err(format!(
                "manifest version {} is newer than this strata reads ({VERSION}); upgrade strata",
                m.version
            ));
        }
        Ok(m)
    }
}
