//! The JSON manifest, last entry of every archive: everything the catalog knows about
//! the event, so that `strata reindex` can rebuild the catalog from archives alone.
//!
//! Its JSON is padded with spaces to a multiple of 512 bytes and ends with a fixed-width
//! `"locator"` field giving its own length, so a reader finds it from the end of the
//! file (two ranged reads, no walk over the tar headers): the locator lies in the 512
//! bytes before the final 1024 zero bytes. FORMAT.md, "Finding the manifest".

use crate::model::{Event, Member};
use serde::{Deserialize, Serialize};

pub const FORMAT_NAME: &str = "strata-archive";
/// Readers refuse manifests with a greater version.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// How the archive was written; absent in archives of earlier writers.
    #[serde(default)]
    pub writer: Option<WriterInfo>,
    pub event: Event,
    pub members: Vec<Member>,
}

/// The writer and the settings an archive was cut and compressed with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WriterInfo {
    /// `strata <version>`.
    pub program: String,
    /// The nominal frame size; frames may be shorter (the last of a member, or parts
    /// of a member joined from ranges): readers locate frames by the seek table.
    pub frame_size: u32,
    pub level: i32,
}

/// Bytes of the end-of-archive marker after the manifest's padded data.
pub const END_BLOCKS: u64 = 1024;
const LOCATOR_KEY: &str = "\"locator\": \"strata-manifest v1 size=";
/// `"locator": "strata-manifest v1 size=<20 digits>"` then `\n}\n`.
const LOCATOR_LEN: usize = LOCATOR_KEY.len() + 20 + 4;

/// The manifest's JSON, padded to a multiple of 512 bytes, ending with its locator.
pub fn encode(m: &Manifest) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(m).expect("manifest serialises");
    assert_eq!(json.pop(), Some(b'}'), "a manifest is a JSON object");
    while json.last().is_some_and(|b| b.is_ascii_whitespace()) {
        json.pop();
    }
    json.push(b',');
    let used = json.len() + LOCATOR_LEN;
    let total = used.div_ceil(512) * 512;
    json.resize(total - LOCATOR_LEN, b' ');
    json.extend_from_slice(format!("{LOCATOR_KEY}{total:020}\"\n}}\n").as_bytes());
    debug_assert_eq!(json.len(), total);
    json
}

/// The manifest's length, from the 512 bytes that end its data (the block before the
/// archive's last 1024 bytes); `None` when they hold no locator (older archives).
pub fn locate(last_block: &[u8]) -> Option<u64> {
    let tail = last_block.get(last_block.len().checked_sub(LOCATOR_LEN)?..)?;
    let rest = tail.strip_prefix(LOCATOR_KEY.as_bytes())?;
    let (digits, end) = rest.split_at(20);
    if end != b"\"\n}\n" || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (len > 0 && len.is_multiple_of(512)).then_some(len)
}

impl Manifest {
    pub fn new(event: Event, members: Vec<Member>) -> Self {
        Manifest {
            format: FORMAT_NAME.into(),
            version: VERSION,
            writer: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_found_from_its_last_block_and_parses_as_plain_json() {
        for n in 0..40 {
            let ev: Event = serde_json::from_str(&format!(
                r#"{{"id": {n}, "host": "h", "start_time": 1, "end_time": null, "completed": 0, "bytes": 0, "file": "{}", "sha256": null, "error": null, "warnings": 0}}"#,
                "x".repeat(n * 37)
            ))
            .unwrap();
            let bytes = encode(&Manifest::new(ev, Vec::new()));
            assert_eq!(bytes.len() % 512, 0);
            assert_eq!(
                locate(&bytes[bytes.len() - 512..]),
                Some(bytes.len() as u64)
            );
            assert_eq!(Manifest::parse(&bytes).unwrap().event.id, n as i64);
        }
        assert_eq!(locate(&[b' '; 512]), None);
    }
}
