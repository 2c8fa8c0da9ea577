//! The repository's file layout (DESIGN.md, "Repository layout"): archive and sidecar
//! names, and what lies on disk, so that ids are never reused and files the catalog
//! does not know are noticed.

use chrono::{Local, TimeZone};
use std::path::{Path, PathBuf};

/// Archive path relative to the repository: `YYYY/MM/<host>_YYYY-MM-DD_<id>.tar`.
pub fn archive_name(host: &str, start: i64, id: i64) -> String {
    let t = Local
        .timestamp_opt(start, 0)
        .single()
        .unwrap_or_else(Local::now);
    let host = host_component(host);
    format!(
        "{}/{}_{}_{id}.tar",
        t.format("%Y/%m"),
        host,
        t.format("%Y-%m-%d")
    )
}

/// The host as it appears in file names and remote paths: letters, digits, `-` and
/// `.` (anything else becomes `-`, so a `_` never splits a name wrongly).
pub fn host_component(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The host component of an archive path (`YYYY/MM/<host>_YYYY-MM-DD_<id>.tar`).
pub fn host_of(rel: &str) -> Option<&str> {
    let file = rel.rsplit('/').next()?;
    let mut parts = file.rsplitn(3, '_');
    parts.next()?;
    parts.next()?;
    parts.next().filter(|h| !h.is_empty())
}

/// Where a repository file lives on a target: `<host>/YYYY/MM/<file>`.
pub fn remote_name(rel: &str) -> String {
    match host_of(rel) {
        Some(h) => format!("{h}/{rel}"),
        None => rel.to_string(),
    }
}

/// The repository-relative path of a target object `<host>/YYYY/MM/<file>`.
pub fn local_name(remote: &str) -> Option<&str> {
    let (host, rel) = remote.split_once('/')?;
    (host_of(rel) == Some(host)).then_some(rel)
}

/// The sidecar of archive `tar` with extension `ext` (`meta`, `err`, `tar.sha256`).
pub fn sidecar(tar: &Path, ext: &str) -> PathBuf {
    tar.with_extension(ext)
}

/// The suffixes of the files an event leaves, after `<host>_YYYY-MM-DD_<id>`.
pub const SUFFIXES: [&str; 5] = [".tar", ".tar.partial", ".tar.sha256", ".meta", ".err"];

/// One file of the repository's `YYYY/MM/` directories that belongs to an event.
#[derive(Debug, Clone)]
pub struct EventFile {
    /// Relative to the repository.
    pub rel: String,
    pub id: i64,
    /// One of [`SUFFIXES`].
    pub suffix: &'static str,
}

impl EventFile {
    /// The relative archive path this file goes with.
    pub fn archive(&self) -> String {
        format!("{}.tar", &self.rel[..self.rel.len() - self.suffix.len()])
    }
}

/// The archive path `file` of a catalog row without its `.tar`, when it is one strata
/// could have written: relative, inside the repository, ending in `.tar`. The catalog
/// is input like any file: a row naming anything else removes nothing and reads nothing.
pub fn event_stem(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".tar")?;
    let inside = !stem.is_empty()
        && !file.starts_with('/')
        && file
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    inside.then_some(stem)
}

/// The event id an archive's name (or relative path) carries: `…_<id>.tar`.
pub fn archive_id(name: &str) -> Option<i64> {
    parse(name).filter(|(_, s)| *s == ".tar").map(|(id, _)| id)
}

/// Parses `<anything>_<id><suffix>`.
fn parse(name: &str) -> Option<(i64, &'static str)> {
    let suffix = SUFFIXES.iter().find(|s| name.ends_with(*s))?;
    let stem = &name[..name.len() - suffix.len()];
    let id = stem.rsplit('_').next()?.parse().ok()?;
    Some((id, suffix))
}

/// Regular files of the repository's `YYYY/MM/` directories: relative path and name.
fn month_files(repo: &Path) -> impl Iterator<Item = (String, String)> + '_ {
    walkdir::WalkDir::new(repo)
        .min_depth(3)
        .max_depth(3)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(move |e| {
            let rel = e.path().strip_prefix(repo).ok()?.to_str()?.to_string();
            Some((rel, e.file_name().to_str()?.to_string()))
        })
}

/// Every event file under `YYYY/MM/`, sorted by path.
pub fn event_files(repo: &Path) -> Vec<EventFile> {
    month_files(repo)
        .filter_map(|(rel, name)| {
            let (id, suffix) = parse(&name)?;
            Some(EventFile { rel, id, suffix })
        })
        .collect()
}

/// Every `*.tar` under `YYYY/MM/` (archives, and anything else named so), sorted.
pub fn archives(repo: &Path) -> Vec<String> {
    month_files(repo)
        .filter(|(_, name)| name.ends_with(".tar"))
        .map(|(rel, _)| rel)
        .collect()
}

/// The highest event id any file of the repository carries (0 when none).
pub fn max_id_on_disk(repo: &Path) -> i64 {
    event_files(repo).iter().map(|f| f.id).max().unwrap_or(0)
}

/// Sorted names of `dir`'s subdirectories that are `digits` decimal digits long.
fn numbered_dirs(dir: &Path, digits: usize) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.len() == digits && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    v.sort();
    v
}

/// The `YYYY/MM` directories a run writes in or may have left files in: the two latest
/// by name and the current month's. What a run looks at, so that its cost stays flat
/// however many months the repository holds.
pub fn recent_months(repo: &Path) -> Vec<String> {
    let mut months = Vec::new();
    for year in numbered_dirs(repo, 4).iter().rev().take(2) {
        for month in numbered_dirs(&repo.join(year), 2) {
            months.push(format!("{year}/{month}"));
        }
    }
    months.sort();
    let mut recent: Vec<String> = months.into_iter().rev().take(2).collect();
    let now = Local::now().format("%Y/%m").to_string();
    if repo.join(&now).is_dir() && !recent.contains(&now) {
        recent.push(now);
    }
    recent
}

/// The event files of [`recent_months`].
pub fn recent_event_files(repo: &Path) -> Vec<EventFile> {
    let mut out = Vec::new();
    for month in recent_months(repo) {
        for e in std::fs::read_dir(repo.join(&month))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if let Some((id, suffix)) = parse(&name) {
                out.push(EventFile {
                    rel: format!("{month}/{name}"),
                    id,
                    suffix,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_files_are_recognised_by_their_suffix_and_id() {
        assert_eq!(super::parse("db1_2026-11-21_17.tar"), Some((17, ".tar")));
        assert_eq!(
            super::parse("a_b_2026-11-21_3.tar.sha256"),
            Some((3, ".tar.sha256"))
        );
        assert_eq!(super::parse("notes.tar"), None);
        assert_eq!(super::parse("x_2026-11-21_4.meta.tmp"), None);
    }

    #[test]
    fn remote_names_put_the_host_first_and_come_back() {
        let rel = "2026/11/db-1.example_2026-11-21_17.tar";
        assert_eq!(super::host_of(rel), Some("db-1.example"));
        let remote = super::remote_name(rel);
        assert_eq!(
            remote,
            "db-1.example/2026/11/db-1.example_2026-11-21_17.tar"
        );
        assert_eq!(super::local_name(&remote), Some(rel));
        assert_eq!(
            super::local_name("other/2026/11/db-1.example_2026-11-21_17.tar"),
            None
        );
    }
}
