//! Reading members back: one checked frame at a time through a [`Store`], and a
//! streaming `Read` over a whole member for `cat` and `restore`.

use crate::archive::codec::member_frame;
use crate::error::Result;
use crate::model::Member;
use crate::store::Store;
use std::io::Read;

/// Reads, verifies and decompresses frame `idx` of `member`.
pub fn read_frame(
    store: &dyn Store,
    archive: &str,
    member: &Member,
    idx: usize,
) -> Result<Vec<u8>> {
    let f = &member.frames[idx];
    let raw = store.read_at(
        archive,
        member.offset + f.offset,
        f.compressed_size as usize,
    );
    member_frame(archive, member, idx, raw)
}

/// A member's uncompressed bytes, frame after frame.
pub struct MemberReader<'a> {
    store: &'a dyn Store,
    archive: &'a str,
    member: &'a Member,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl<'a> MemberReader<'a> {
    pub fn new(store: &'a dyn Store, archive: &'a str, member: &'a Member) -> Self {
        MemberReader {
            store,
            archive,
            member,
            next: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for MemberReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.next == self.member.frames.len() {
                return Ok(0);
            }
            self.buf = read_frame(self.store, self.archive, self.member, self.next)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
