//! The immutable tree of one event: every member path split into directories, with
//! synthetic directories for the path components that are not members themselves.
//! Built once when the event is first entered; frames are loaded per file on demand.

use crate::model::{Event, FileMeta, Member, MemberKind};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

pub struct Node {
    pub name: String,
    pub parent: u32,
    pub kind: Kind,
    pub size: u64,
    pub meta: FileMeta,
    pub link: Option<String>,
    /// Catalog row id of the member, for files.
    pub member_id: Option<i64>,
    /// The member (path, offset, hashes) without frames, for files.
    pub member: Option<Member>,
    /// The member with its frames, loaded from the catalog on first read.
    pub loaded: OnceLock<Arc<Member>>,
    /// For a virtual file (a whole database): the nodes whose bytes it joins, in order.
    pub parts: Vec<u32>,
    pub children: BTreeMap<String, u32>,
}

pub struct EventTree {
    pub event: Event,
    /// Unique to this tree within the process: the frame cache's key, so that a tree
    /// rebuilt from a new catalog (after `reindex`) never meets frames of an old one.
    pub uid: i64,
    /// Index 0 is the event directory itself.
    pub nodes: Vec<Node>,
}

fn dir(name: &str, parent: u32, meta: FileMeta) -> Node {
    Node {
        name: name.to_string(),
        parent,
        kind: Kind::Dir,
        size: 0,
        meta,
        link: None,
        member_id: None,
        member: None,
        loaded: OnceLock::new(),
        parts: Vec::new(),
        children: BTreeMap::new(),
    }
}

impl EventTree {
    pub fn build(event: Event, members: Vec<(i64, Member)>) -> EventTree {
        let synthetic = FileMeta {
            mode: 0o755,
            mtime: event.start_time,
            uid: 0,
            gid: 0,
        };
        let mut nodes = vec![dir("", 0, synthetic)];
        let mut kinds: Vec<(u32, MemberKind)> = Vec::new();
        for (id, m) in members {
            let path = m.path.clone();
            let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            // A hostile archive's `.` or `..` never becomes an entry.
            if comps.iter().any(|c| *c == "." || *c == "..") {
                continue;
            }
            let Some((last, dirs)) = comps.split_last() else {
                continue;
            };
            let mut at = 0u32;
            for c in dirs {
                at = match nodes[at as usize].children.get(*c) {
                    Some(&i) => i,
                    None => {
                        let i = nodes.len() as u32;
                        nodes.push(dir(c, at, synthetic));
                        nodes[at as usize].children.insert(c.to_string(), i);
                        i
                    }
                };
            }
            let existing = nodes[at as usize].children.get(*last).copied();
            if m.kind == MemberKind::Dir {
                match existing {
                    Some(i) => nodes[i as usize].meta = m.meta,
                    None => {
                        let i = nodes.len() as u32;
                        nodes.push(dir(last, at, m.meta));
                        nodes[at as usize].children.insert(last.to_string(), i);
                    }
                }
                continue;
            }
            if existing.is_some() {
                continue; // a path twice: keep the first
            }
            let m_kind = m.kind;
            let (kind, size) = match m.kind {
                MemberKind::Symlink => (
                    Kind::Symlink,
                    m.link_target.as_deref().map_or(0, |t| t.len() as u64),
                ),
                _ => (Kind::File, m.size),
            };
            let i = nodes.len() as u32;
            nodes.push(Node {
                name: last.to_string(),
                parent: at,
                kind,
                size,
                meta: m.meta,
                link: m.link_target.clone(),
                member_id: (kind == Kind::File).then_some(id),
                member: (kind == Kind::File).then_some(m),
                loaded: OnceLock::new(),
                parts: Vec::new(),
                children: BTreeMap::new(),
            });
            nodes[at as usize].children.insert(last.to_string(), i);
            kinds.push((i, m_kind));
        }
        static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
        let uid = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tree = EventTree { event, uid, nodes };
        tree.add_whole_databases(&kinds);
        tree
    }

    /// Adds `<source>/<db>.sql` beside each database directory: its `CREATE DATABASE`,
    /// every table (with its triggers) and its objects, joined without copying.
    fn add_whole_databases(&mut self, kinds: &[(u32, MemberKind)]) {
        // Each directory's members in archive order, which is the source's dependency
        // order (sequences before the tables whose defaults draw from them), not by name.
        let mut by_dir: std::collections::HashMap<u32, Vec<(u32, MemberKind)>> = Default::default();
        for &(n, k) in kinds {
            by_dir
                .entry(self.nodes[n as usize].parent)
                .or_default()
                .push((n, k));
        }
        for &(db_node, kind) in kinds {
            if kind != MemberKind::Database {
                continue;
            }
            let dir = self.nodes[db_node as usize].parent;
            let source_dir = self.nodes[dir as usize].parent;
            let name = format!("{}.sql", self.nodes[dir as usize].name);
            if self.nodes[source_dir as usize].children.contains_key(&name) {
                continue;
            }
            let members = by_dir.get(&dir).map(Vec::as_slice).unwrap_or_default();
            let in_dir = |kind: MemberKind| {
                members
                    .iter()
                    .filter(move |(_, k)| *k == kind)
                    .map(|(n, _)| *n)
            };
            let mut parts = vec![db_node];
            parts.extend(in_dir(MemberKind::Table));
            parts.extend(in_dir(MemberKind::Objects));
            let size = parts.iter().map(|&p| self.nodes[p as usize].size).sum();
            let meta = self.nodes[db_node as usize].meta;
            let i = self.nodes.len() as u32;
            self.nodes.push(Node {
                name: name.clone(),
                parent: source_dir,
                kind: Kind::File,
                size,
                meta,
                link: None,
                member_id: None,
                member: None,
                loaded: OnceLock::new(),
                parts,
                children: BTreeMap::new(),
            });
            self.nodes[source_dir as usize].children.insert(name, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_dot_dot_members_of_a_hostile_archive_never_become_entries() {
        let ev: Event = serde_json::from_str(
            r#"{"id": 1, "host": "h", "start_time": 1, "end_time": 2, "completed": 0, "bytes": 0, "file": "2026/11/h_2026-11-01_1.tar", "sha256": null, "error": null, "warnings": 0}"#,
        )
        .unwrap();
        let m = |p: &str| Member::new("s", p.to_string(), MemberKind::File, FileMeta::default());
        let members = ["s/..", "s/.", "s/../etc/passwd", "s/a/./b", "s/ok"]
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i64, m(p)))
            .collect();
        let tree = EventTree::build(ev, members);
        let names: Vec<&str> = tree.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, vec!["", "s", "ok"]);
    }
}
