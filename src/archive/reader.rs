//! The one read path for member bytes, shared by `cat`, `restore`, `verify`, `diff` and
//! the mount: a member's frame list (from the catalog or a manifest) is first checked
//! against the member's own seek table in the archive, then each frame is read, its
//! zstd checksum verified and its length compared with the index; a whole sequential
//! read is checked against the member's hash at its end. Bytes come from a `read_at`
//! function, so this module knows files, stores and caches only through it.

use crate::error::{Error, Result};
use crate::format::frame::decode_frame;
use crate::format::{seekable, MAX_FRAME};
use crate::model::Member;
use std::io::Read;

/// Reads `len` bytes at `offset` of one archive.
pub type ReadAt<'a> = dyn Fn(u64, usize) -> std::io::Result<Vec<u8>> + 'a;

fn corrupt(archive: &str, m: &Member, message: String) -> Error {
    Error::CorruptMember {
        archive: archive.to_string(),
        member: m.path.clone(),
        message,
    }
}

/// Checks that `m.frames` is exactly what the member's seek table says: same sizes,
/// contiguous offsets from the start of the member, totals equal to the member's
/// compressed and uncompressed sizes, no frame larger than [`MAX_FRAME`].
pub fn check_index(read_at: &ReadAt, archive: &str, m: &Member) -> Result<()> {
    let bad = |msg: String| corrupt(archive, m, msg);
    let n = m.frames.len();
    if n == 0 {
        return Err(bad("the index lists no frame".into()));
    }
    let table = seekable::table_len(n) as u64;
    if m.compressed_size < table {
        return Err(bad(format!(
            "stored size {} is too small for a seek table of {n} frames",
            m.compressed_size
        )));
    }
    let tail = read_at(m.offset + m.compressed_size - table, table as usize)
        .map_err(|e| bad(format!("cannot read the seek table: {e}")))?;
    let sizes = seekable::decode(&tail).map_err(|e| bad(format!("seek table: {e}")))?;
    if sizes.len() != n {
        return Err(bad(format!(
            "the seek table lists {} frames, the index {n}",
            sizes.len()
        )));
    }
    let (mut off, mut uoff) = (0u64, 0u64);
    for (i, (f, &(c, d))) in m.frames.iter().zip(&sizes).enumerate() {
        if f.offset != off || f.uoffset != uoff || f.compressed_size != c || f.size != d {
            return Err(bad(format!(
                "frame {i}: the index disagrees with the member's seek table"
            )));
        }
        if d > MAX_FRAME {
            return Err(bad(format!(
                "frame {i} claims {d} bytes, more than the {MAX_FRAME} any frame may hold"
            )));
        }
        off += c as u64;
        uoff += d as u64;
    }
    if off + table != m.compressed_size || uoff != m.size {
        return Err(bad(
            "the frames do not add up to the member's sizes".to_string()
        ));
    }
    Ok(())
}

fn frame_err(archive: &str, m: &Member, idx: usize, message: String) -> Error {
    Error::CorruptFrame {
        archive: archive.to_string(),
        member: m.path.clone(),
        frame: idx,
        offset: m.offset + m.frames[idx].offset,
        message,
    }
}

/// Reads, verifies and decompresses frame `idx` of `m` (whose index was checked).
pub fn read_frame(read_at: &ReadAt, archive: &str, m: &Member, idx: usize) -> Result<Vec<u8>> {
    let f = &m.frames[idx];
    let raw = read_at(m.offset + f.offset, f.compressed_size as usize)
        .map_err(|e| frame_err(archive, m, idx, format!("cannot read: {e}")))?;
    decode(&raw, archive, m, idx)
}

/// Verifies and decompresses the compressed bytes `raw` of frame `idx` of `m`.
fn decode(raw: &[u8], archive: &str, m: &Member, idx: usize) -> Result<Vec<u8>> {
    let f = &m.frames[idx];
    if f.size > MAX_FRAME {
        return Err(frame_err(
            archive,
            m,
            idx,
            format!("claims {} bytes, more than any frame may hold", f.size),
        ));
    }
    decode_frame(raw, f.size as usize).map_err(|e| frame_err(archive, m, idx, e))
}

/// Hashes of a whole member, compared at its end. Readers check BLAKE3 alone (one fast
/// pass is enough to catch wrong bytes on the way out); `verify` checks both hashes.
pub struct WholeCheck {
    sha: Option<sha2::Sha256>,
    b3: blake3::Hasher,
}

impl WholeCheck {
    /// BLAKE3 only: for `cat`, `restore` and the mount.
    pub fn reading() -> Self {
        WholeCheck {
            sha: None,
            b3: blake3::Hasher::new(),
        }
    }

    /// SHA-256 and BLAKE3: for `verify`.
    pub fn both() -> Self {
        WholeCheck {
            sha: Some(sha2::Digest::new()),
            b3: blake3::Hasher::new(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if let Some(sha) = self.sha.as_mut() {
            sha2::Digest::update(sha, data);
        }
        self.b3.update(data);
    }

    /// Compares with the member's recorded hashes.
    pub fn finish(self, archive: &str, m: &Member) -> Result<()> {
        use sha2::Digest;
        let b3 = self.b3.finalize().to_hex().to_string();
        if let Some(sha) = self.sha {
            let sha = hex::encode(sha.finalize());
            if m.sha256.as_deref() != Some(sha.as_str()) {
                return Err(corrupt(
                    archive,
                    m,
                    "SHA-256 differs from the catalog".into(),
                ));
            }
        }
        if m.blake3.as_deref() != Some(b3.as_str()) {
            return Err(corrupt(
                archive,
                m,
                "BLAKE3 differs from the catalog".into(),
            ));
        }
        Ok(())
    }
}

/// Compressed bytes fetched per request by a sequential reader: runs of whole frames up
/// to this size are read at once, so a remote member costs a few ranged reads, not one
/// per frame.
pub const RUN_BYTES: usize = 8 << 20;

/// A member's uncompressed bytes, frame after frame; its index is checked when it is
/// opened and its hashes when the last byte has been read: a reader never gets a clean
/// end of file for bytes that are not the member's. Its I/O errors carry the
/// [`Error`] (see [`into_error`]).
pub struct MemberReader<'a> {
    read_at: Box<ReadAt<'a>>,
    archive: &'a str,
    member: &'a Member,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
    check: Option<WholeCheck>,
    /// Compressed bytes of frames `run_from..run_to`, read in one request.
    run: Vec<u8>,
    run_from: usize,
    run_to: usize,
}

impl<'a> MemberReader<'a> {
    /// Opens with the readers' check (BLAKE3).
    pub fn open(read_at: Box<ReadAt<'a>>, archive: &'a str, member: &'a Member) -> Result<Self> {
        Self::with_check(read_at, archive, member, WholeCheck::reading())
    }

    /// Opens with the given whole-member check.
    pub fn with_check(
        read_at: Box<ReadAt<'a>>,
        archive: &'a str,
        member: &'a Member,
        check: WholeCheck,
    ) -> Result<Self> {
        check_index(&*read_at, archive, member)?;
        Ok(MemberReader {
            read_at,
            archive,
            member,
            next: 0,
            buf: Vec::new(),
            pos: 0,
            check: Some(check),
            run: Vec::new(),
            run_from: 0,
            run_to: 0,
        })
    }

    /// Reads the frames from `self.next` on, up to [`RUN_BYTES`] (at least one), in one
    /// request.
    fn fetch_run(&mut self) -> std::io::Result<()> {
        let frames = &self.member.frames;
        let first = self.next;
        let mut last = first + 1;
        let mut bytes = frames[first].compressed_size as usize;
        while last < frames.len() && bytes + frames[last].compressed_size as usize <= RUN_BYTES {
            bytes += frames[last].compressed_size as usize;
            last += 1;
        }
        self.run = (self.read_at)(self.member.offset + frames[first].offset, bytes)?;
        self.run_from = first;
        self.run_to = last;
        Ok(())
    }

    fn next_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let (m, idx) = (self.member, self.next);
        if !(self.run_from..self.run_to).contains(&idx) {
            self.fetch_run().map_err(|e| {
                std::io::Error::other(frame_err(self.archive, m, idx, format!("cannot read: {e}")))
            })?;
        }
        // Frames are contiguous: frame `idx` lies at its offset from the run's first.
        let at = (m.frames[idx].offset - m.frames[self.run_from].offset) as usize;
        let raw = &self.run[at..at + m.frames[idx].compressed_size as usize];
        decode(raw, self.archive, m, idx).map_err(std::io::Error::other)
    }
}

impl Read for MemberReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.next == self.member.frames.len() {
                if let Some(c) = self.check.take() {
                    c.finish(self.archive, self.member)
                        .map_err(std::io::Error::other)?;
                }
                return Ok(0);
            }
            self.buf = self.next_frame()?;
            if let Some(c) = self.check.as_mut() {
                c.update(&self.buf);
            }
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The [`Error`] a [`MemberReader`]'s I/O error carries, or the I/O error itself.
pub fn into_error(e: std::io::Error, context: &str) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        if let Some(Ok(inner)) = e.into_inner().map(|i| i.downcast::<Error>()) {
            return *inner;
        }
        unreachable!("checked above");
    }
    Error::io(context, e)
}
