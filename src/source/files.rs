//! The `files` source: include paths, exclude regexes, symlinks kept as symlinks,
//! mode/mtime/owner recorded, optional reading of FIFOs as files (to stream a dump
//! through a FIFO without disk space). Unreadable files are warnings, not failures.

use super::{file_meta, Source};
use crate::error::{Error, Result};
use crate::model::{Member, MemberKind, MemberSink, SinkError};
use regex::RegexSet;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

pub struct FilesSource {
    pub name: String,
    pub include: Vec<PathBuf>,
    pub exclude: RegexSet,
    pub read_all_fifos: bool,
}

impl FilesSource {
    fn member_path(&self, p: &Path) -> Option<String> {
        let s = p.to_str()?;
        let rel = s.trim_start_matches('/');
        Some(if rel.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{rel}", self.name)
        })
    }

    fn one(&self, sink: &mut dyn MemberSink, path: &Path, md: &std::fs::Metadata) -> Result<()> {
        let Some(mpath) = self.member_path(path) else {
            sink.warn(format!(
                "{}: the name is not UTF-8; skipped",
                path.to_string_lossy()
            ));
            return Ok(());
        };
        let meta = file_meta(md);
        let ft = md.file_type();
        if ft.is_dir() {
            if mpath != self.name {
                sink.entry(Member::new(&self.name, mpath, MemberKind::Dir, meta))?;
            }
        } else if ft.is_symlink() {
            let target = match std::fs::read_link(path) {
                Ok(t) => t,
                Err(e) => {
                    sink.warn(format!(
                        "{}: cannot read the link: {e}; skipped",
                        path.display()
                    ));
                    return Ok(());
                }
            };
            let Some(target) = target.to_str() else {
                sink.warn(format!(
                    "{}: the link target is not UTF-8; skipped",
                    path.display()
                ));
                return Ok(());
            };
            let mut m = Member::new(&self.name, mpath, MemberKind::Symlink, meta);
            m.link_target = Some(target.to_string());
            sink.entry(m)?;
        } else if ft.is_file() || (ft.is_fifo() && self.read_all_fifos) {
            let mut f = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) => {
                    sink.warn(format!("{}: cannot open: {e}; skipped", path.display()));
                    return Ok(());
                }
            };
            let m = Member::new(&self.name, mpath, MemberKind::File, meta);
            match sink.stream(m, &mut f) {
                Ok(_) => {}
                Err(SinkError::Read(e)) => sink.warn(format!(
                    "{}: read failed part-way: {e}; the backup holds only the bytes read before it",
                    path.display()
                )),
                Err(SinkError::Closed(e)) => return Err(e),
            }
        } else if ft.is_fifo() {
            sink.warn(format!(
                "{}: a FIFO; skipped (set read_all_fifos = true to read FIFOs as files)",
                path.display()
            ));
        } else {
            tracing::info!(
                "{}: special file (socket or device); skipped",
                path.display()
            );
        }
        Ok(())
    }
}

impl Source for FilesSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, sink: &mut dyn MemberSink) -> Result<()> {
        for root in &self.include {
            for entry in self.walk(root)? {
                match entry {
                    Ok(e) => match e.metadata() {
                        Ok(md) => self.one(sink, e.path(), &md)?,
                        Err(err) => sink.warn(format!("{}: {err}; skipped", e.path().display())),
                    },
                    Err(err) => {
                        let p = err
                            .path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default();
                        sink.warn(format!("{p}: {err}; skipped"));
                    }
                }
            }
        }
        Ok(())
    }

    fn dry_run(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for root in &self.include {
            let (mut files, mut bytes, mut unreadable) = (0u64, 0u64, 0u64);
            for entry in self.walk(root)? {
                match entry.and_then(|e| e.metadata()) {
                    Ok(md) if !md.is_dir() => {
                        files += 1;
                        bytes += md.len();
                    }
                    Ok(_) => {}
                    Err(_) => unreadable += 1,
                }
            }
            out.push(format!(
                "{}: {files} files, {bytes} bytes{}",
                root.display(),
                if unreadable > 0 {
                    format!(", {unreadable} unreadable")
                } else {
                    String::new()
                }
            ));
        }
        Ok(out)
    }
}

impl FilesSource {
    /// Every entry under `root` (which must exist), symlinks not followed, excluded
    /// paths and what lies under them left out.
    fn walk<'a>(
        &'a self,
        root: &Path,
    ) -> Result<Box<dyn Iterator<Item = walkdir::Result<walkdir::DirEntry>> + 'a>> {
        if std::fs::symlink_metadata(root).is_err() {
            return Err(Error::Other(format!(
                "source '{}': include path {} does not exist; fix `include` in the config",
                self.name,
                root.display()
            )));
        }
        Ok(Box::new(
            walkdir::WalkDir::new(root)
                .follow_links(false)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| e.path().to_str().is_none_or(|s| !self.exclude.is_match(s))),
        ))
    }
}
