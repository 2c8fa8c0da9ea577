//! `strata diff A B [PATH...]`: which members were added, removed or changed between
//! two events, decided from the catalog's hashes, sizes and metadata alone (nothing
//! is decompressed). For the bytes of one changed file, diff the two paths in a mount.

use crate::model::{Member, MemberKind};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    /// Different content (hash or link target).
    Changed,
    /// Same content, other mode, owner or mtime.
    Meta,
}

impl Change {
    pub fn mark(self) -> &'static str {
        match self {
            Change::Added => "+",
            Change::Removed => "-",
            Change::Changed => "M",
            Change::Meta => "m",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Entry {
    pub change: Change,
    pub path: String,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
}

fn is_dump(k: MemberKind) -> bool {
    matches!(
        k,
        MemberKind::Output
            | MemberKind::Table
            | MemberKind::Database
            | MemberKind::Objects
            | MemberKind::Users
    )
}

fn selected(path: &str, prefixes: &[String]) -> bool {
    prefixes.is_empty()
        || prefixes.iter().any(|p| {
            let p = p.trim_matches('/');
            path == p || path.starts_with(&format!("{p}/"))
        })
}

/// The differences from `old` to `new`, in path order.
pub fn members(old: &[Member], new: &[Member], prefixes: &[String]) -> Vec<Entry> {
    let a: BTreeMap<&str, &Member> = old.iter().map(|m| (m.path.as_str(), m)).collect();
    let b: BTreeMap<&str, &Member> = new.iter().map(|m| (m.path.as_str(), m)).collect();
    let mut paths: Vec<&str> = a.keys().chain(b.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| selected(p, prefixes))
        .filter_map(|p| {
            let (x, y) = (a.get(p), b.get(p));
            let change = match (x, y) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(x), Some(y))
                    if x.kind != y.kind
                        || x.sha256 != y.sha256
                        || x.link_target != y.link_target =>
                {
                    Change::Changed
                }
                // Database members carry the dump time as mtime: that is no change.
                (Some(x), Some(y)) if x.meta != y.meta && !is_dump(x.kind) => Change::Meta,
                (Some(_), Some(_)) => return None,
                (None, None) => return None,
            };
            Some(Entry {
                change,
                path: p.to_string(),
                old_size: x.map(|m| m.size),
                new_size: y.map(|m| m.size),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileMeta;

    fn m(path: &str, sha: &str, mtime: i64) -> Member {
        let mut m = Member::new(
            "f",
            path.into(),
            MemberKind::File,
            FileMeta {
                mode: 0o644,
                mtime,
                uid: 0,
                gid: 0,
            },
        );
        m.sha256 = Some(sha.into());
        m
    }

    #[test]
    fn added_removed_changed_and_metadata_only_are_told_apart() {
        let old = vec![
            m("f/a", "1", 5),
            m("f/b", "2", 5),
            m("f/c", "3", 5),
            m("f/d", "4", 5),
        ];
        let new = vec![
            m("f/a", "1", 5),
            m("f/b", "9", 5),
            m("f/d", "4", 6),
            m("f/e", "5", 5),
        ];
        let d = members(&old, &new, &[]);
        let got: Vec<(Change, &str)> = d.iter().map(|e| (e.change, e.path.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (Change::Changed, "f/b"),
                (Change::Removed, "f/c"),
                (Change::Meta, "f/d"),
                (Change::Added, "f/e")
            ]
        );
        assert_eq!(members(&old, &new, &["f/e".into()]).len(), 1);
    }
}
