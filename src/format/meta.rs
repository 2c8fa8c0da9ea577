//! The `.meta` sidecar: a JSON summary of one event for people and scripts (what ran,
//! how it ended, sizes, the facts sources recorded such as the binlog position and
//! GTID). Never holds a secret. Times are RFC 3339 in UTC. `verify` compares it with
//! the catalog.

use crate::model::{Event, Member};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceSummary {
    pub name: String,
    pub members: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub id: i64,
    pub host: String,
    pub start_time: String,
    pub end_time: String,
    /// `complete`, `warnings`, `partial`, `failed` or `interrupted`.
    pub status: String,
    /// The catalog's `completed` code.
    pub completed: i64,
    pub archive: String,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub members: usize,
    pub files: usize,
    pub uncompressed_bytes: u64,
    pub warnings: usize,
    pub error: Option<String>,
    /// Sources that failed (a partial or failed event).
    #[serde(default)]
    pub failed_sources: Vec<String>,
    pub sources: Vec<SourceSummary>,
    /// Facts recorded by sources: `<source>.binlog_file`, `.binlog_position`, `.gtid`,
    /// `.server_version`.
    #[serde(default)]
    pub info: BTreeMap<String, String>,
}

/// RFC 3339 in UTC of Unix seconds, the one time format of strata's machine output.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl Meta {
    pub fn new(ev: &Event, members: &[Member], warnings: usize, failed: &[String]) -> Meta {
        let mut sources: Vec<SourceSummary> = Vec::new();
        for m in members {
            match sources.iter_mut().find(|s| s.name == m.source) {
                Some(s) => {
                    s.members += 1;
                    s.bytes += m.size;
                }
                None => sources.push(SourceSummary {
                    name: m.source.clone(),
                    members: 1,
                    bytes: m.size,
                }),
            }
        }
        Meta {
            id: ev.id,
            host: ev.host.clone(),
            start_time: rfc3339(ev.start_time),
            end_time: rfc3339(ev.end_time.unwrap_or(ev.start_time)),
            status: ev.status().to_string(),
            completed: ev.completed,
            archive: ev.file.clone(),
            bytes: ev.bytes,
            sha256: ev.sha256.clone(),
            members: members.len(),
            files: members.iter().filter(|m| m.kind.has_content()).count(),
            uncompressed_bytes: members.iter().map(|m| m.size).sum(),
            warnings,
            error: ev.error.clone(),
            failed_sources: failed.to_vec(),
            sources,
            info: ev.info.clone(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Meta, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a strata .meta file: {e}"))
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("meta serialises");
        json.push(b'\n');
        json
    }
}
