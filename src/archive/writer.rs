//! The tar assembler: appends members one at a time to `<archive>.tar.partial`, patches
//! each content member's header once its length is known, ends with the manifest, and
//! only then fsyncs and renames. An archive is never changed after the rename.

use crate::error::{Error, IoContext, Result};
use crate::format::manifest::{Manifest, WriterInfo};
use crate::format::{seekable, tarhdr, MANIFEST_NAME};
use crate::model::{Event, FileMeta, Frame, Member, MemberKind};
use sha2::Digest;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

struct Open {
    member: Member,
    header_pos: u64,
}

pub struct ArchiveWriter {
    out: BufWriter<File>,
    partial: PathBuf,
    target: PathBuf,
    pos: u64,
    /// SHA-256 of the archive's bytes `[0, hashed)`: bytes are hashed (read back from
    /// the page cache) once no header before them can change any more, so the hash is
    /// ready at the end without a second pass over the file.
    sha: sha2::Sha256,
    hashed: u64,
    /// Bytes `[0, flushed_to_disk)` have had write-back started.
    writeback: u64,
    members: Vec<Member>,
    /// Paths (and tar names) already in the archive: a path twice is refused.
    names: std::collections::HashSet<String>,
    open: Option<Open>,
}

/// What a finished archive is.
pub struct Finished {
    pub bytes: u64,
    pub sha256: String,
    pub members: Vec<Member>,
}

fn partial_path(target: &Path) -> PathBuf {
    let mut p = target.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

impl ArchiveWriter {
    /// Starts `<target>.partial`, replacing any leftover of the same name; refuses if
    /// the archive itself exists.
    pub fn create(target: &Path) -> Result<Self> {
        if target.symlink_metadata().is_ok() {
            return Err(Error::Archive {
                archive: target.display().to_string(),
                message: "already exists; strata never replaces an archive".into(),
            });
        }
        let partial = partial_path(target);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .ctx(|| format!("cannot create {}", partial.display()))?;
        Ok(ArchiveWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            partial,
            target: target.to_path_buf(),
            pos: 0,
            sha: sha2::Sha256::new(),
            hashed: 0,
            writeback: 0,
            members: Vec::new(),
            names: std::collections::HashSet::new(),
            open: None,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .ctx(|| format!("cannot write {}", self.partial.display()))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Hashes everything written so far (no open member may precede it) and starts the
    /// kernel's write-back of it, so that the final fsync has little left to do.
    fn settle(&mut self) -> Result<()> {
        self.out
            .flush()
            .ctx(|| format!("cannot write {}", self.partial.display()))?;
        let file = self.out.get_ref();
        let mut buf = vec![0u8; (self.pos - self.hashed).min(1 << 20) as usize];
        while self.hashed < self.pos {
            let n = ((self.pos - self.hashed) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..n], self.hashed)
                .ctx(|| format!("cannot read back {}", self.partial.display()))?;
            self.sha.update(&buf[..n]);
            self.hashed += n as u64;
        }
        if self.pos - self.writeback >= 32 << 20 {
            use std::os::unix::io::AsRawFd;
            // SAFETY: sync_file_range(2) on an open descriptor of `file`, which lives
            // for the call; it only starts writeback of the given range.
            unsafe {
                libc::sync_file_range(
                    file.as_raw_fd(),
                    self.writeback as i64,
                    (self.pos - self.writeback) as i64,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
            self.writeback = self.pos;
        }
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let n = tarhdr::padding(self.pos) as usize;
        self.write(&[0u8; 512][..n])
    }

    /// Refuses a member whose path or tar entry name is already in the archive (or is
    /// the manifest's): every member is listed once in the tar, the manifest and the
    /// catalog.
    fn claim(&mut self, m: &Member) -> Result<()> {
        let tar = m.tar_name();
        let taken = |n: &String| self.names.contains(n) || n == MANIFEST_NAME;
        if taken(&m.path) || taken(&tar) {
            return Err(Error::Archive {
                archive: self.target.display().to_string(),
                message: format!("member {} is written twice; refused", m.path),
            });
        }
        self.names.insert(m.path.clone());
        self.names.insert(tar);
        Ok(())
    }

    /// Appends a member without content (directory or symlink).
    pub fn entry(&mut self, mut member: Member) -> Result<()> {
        assert!(self.open.is_none(), "entry while a member is open");
        self.claim(&member)?;
        let hdr = tarhdr::member_header(
            &member.tar_name(),
            member.kind,
            0,
            &member.meta,
            member.link_target.as_deref(),
        );
        self.write(&hdr)?;
        member.offset = self.pos;
        self.members.push(member);
        Ok(())
    }

    /// Opens a content member; frames follow, then [`end`](Self::end).
    pub fn begin(&mut self, mut member: Member) -> Result<()> {
        assert!(self.open.is_none(), "begin while a member is open");
        self.claim(&member)?;
        let hdr = tarhdr::member_header(&member.tar_name(), member.kind, 0, &member.meta, None);
        self.write(&hdr)?;
        let header_pos = self.pos - tarhdr::BLOCK;
        member.offset = self.pos;
        member.frames.clear();
        self.open = Some(Open { member, header_pos });
        Ok(())
    }

    /// Appends one compressed frame of `size` uncompressed bytes to the open member.
    pub fn frame(&mut self, compressed: &[u8], size: u32) -> Result<()> {
        let pos = self.pos;
        let open = self.open.as_mut().expect("frame without an open member");
        let m = &mut open.member;
        m.frames.push(Frame {
            offset: pos - m.offset,
            compressed_size: compressed.len() as u32,
            uoffset: m.size,
            size,
        });
        m.size += size as u64;
        self.write(compressed)
    }

    /// Closes the open member: seek table, padding, header patched with the length.
    pub fn end(&mut self, sha256: String, blake3: String) -> Result<()> {
        let Open {
            mut member,
            header_pos,
        } = self.open.take().expect("end without begin");
        let sizes: Vec<(u32, u32)> = member
            .frames
            .iter()
            .map(|f| (f.compressed_size, f.size))
            .collect();
        self.write(&seekable::encode(&sizes))?;
        member.compressed_size = self.pos - member.offset;
        member.sha256 = Some(sha256);
        member.blake3 = Some(blake3);
        self.out
            .flush()
            .ctx(|| format!("cannot write {}", self.partial.display()))?;
        let file = self.out.get_ref();
        let mut hdr = [0u8; 512];
        file.read_exact_at(&mut hdr, header_pos)
            .ctx(|| format!("cannot read back {}", self.partial.display()))?;
        tarhdr::patch_size(&mut hdr, member.compressed_size);
        file.write_all_at(&hdr, header_pos)
            .ctx(|| format!("cannot write {}", self.partial.display()))?;
        self.pad()?;
        self.members.push(member);
        self.settle()
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Writes the manifest and the end-of-archive blocks, fsyncs, renames the partial
    /// file to its final name and fsyncs the directory.
    pub fn finish(mut self, event: Event, writer: WriterInfo) -> Result<Finished> {
        assert!(self.open.is_none(), "finish while a member is open");
        let mut manifest = Manifest::new(event, std::mem::take(&mut self.members));
        manifest.writer = Some(writer);
        let json = crate::format::manifest::encode(&manifest);
        let meta = FileMeta {
            mode: 0o644,
            mtime: chrono::Utc::now().timestamp(),
            uid: 0,
            gid: 0,
        };
        let mut hdr = tarhdr::member_header(
            MANIFEST_NAME,
            MemberKind::File,
            json.len() as u64,
            &meta,
            None,
        );
        let n = hdr.len();
        let mut h = [0u8; 512];
        h.copy_from_slice(&hdr[n - 512..]);
        tarhdr::patch_size(&mut h, json.len() as u64);
        hdr[n - 512..].copy_from_slice(&h);
        self.write(&hdr)?;
        self.write(&json)?;
        self.pad()?;
        self.write(&[0u8; 1024])?;
        self.settle()?;
        let sha256 = hex::encode(std::mem::take(&mut self.sha).finalize());
        let file = self.out.into_inner().map_err(|e| {
            Error::io(
                format!("cannot write {}", self.partial.display()),
                e.into_error(),
            )
        })?;
        file.sync_all()
            .ctx(|| format!("cannot fsync {}", self.partial.display()))?;
        rename_noreplace(&self.partial, &self.target)?;
        sync_dir(&self.target)?;
        Ok(Finished {
            bytes: self.pos,
            sha256,
            members: manifest.members,
        })
    }

    /// Removes the partial file.
    pub fn discard(self) {
        let partial = self.partial.clone();
        drop(self.out);
        let _ = std::fs::remove_file(partial);
    }
}

/// Renames `from` to `to`, refusing to replace an existing `to`: an archive is never
/// overwritten, whatever the catalog says.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).expect("no NUL in paths");
    let (a, b) = (c(from), c(to));
    // SAFETY: `a` and `b` are NUL-terminated paths that outlive the call; renameat2(2)
    // retains neither.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EEXIST) {
        return Err(Error::Archive {
            archive: to.display().to_string(),
            message: "already exists; strata never replaces an archive (is another repository's catalog in use? `strata verify --all` lists files the catalog does not know)".into(),
        });
    }
    if err.raw_os_error() != Some(libc::EINVAL) {
        return Err(Error::io(
            format!("cannot rename {} to {}", from.display(), to.display()),
            err,
        ));
    }
    // A file system without RENAME_NOREPLACE: link (which never replaces), then unlink.
    std::fs::hard_link(from, to)
        .ctx(|| format!("cannot rename {} to {}", from.display(), to.display()))?;
    std::fs::remove_file(from).ctx(|| format!("cannot remove {}", from.display()))
}

/// SHA-256 of a whole file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    crate::store::file_sha256(path).map(|(_, sha)| sha)
}

/// fsyncs the directory holding `path`, so that a rename in it is durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .ctx(|| format!("cannot fsync directory {}", dir.display()))?;
    }
    Ok(())
}
