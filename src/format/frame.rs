//! One frame in, one frame out: zstd compression with a content checksum and size in
//! every frame header, the checked decompression that every read goes through, and a
//! `Write` that cuts a stream into such frames (for sources that compress on their own
//! threads and spool the result).

use sha2::Digest;
use std::io::Write;

/// Compresses frames; one per thread, reusing its zstd context.
pub struct FrameEncoder {
    inner: zstd::bulk::Compressor<'static>,
}

impl FrameEncoder {
    pub fn new(level: i32) -> std::io::Result<Self> {
        let mut inner = zstd::bulk::Compressor::new(level)?;
        inner.include_checksum(true)?;
        inner.include_contentsize(true)?;
        Ok(FrameEncoder { inner })
    }

    pub fn encode(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        self.inner.compress(data)
    }
}

/// Decompresses one frame and checks it: zstd verifies the frame's content checksum,
/// and the length must be the one the index promises.
/// Each thread keeps its zstd context, and the output is not zeroed first.
pub fn decode_frame(compressed: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    thread_local! {
        static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let mut out = Vec::with_capacity(expected.max(1));
    DCTX.with(|d| -> Result<(), String> {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
        }
        let dec = d.as_mut().expect("set above");
        dec.decompress_to_buffer(compressed, &mut out)
            .map(|_| ())
            .map_err(|e| format!("zstd: {e}"))
    })?;
    if out.len() != expected {
        return Err(format!(
            "frame holds {} bytes, the index says {expected}",
            out.len()
        ));
    }
    Ok(out)
}

/// SHA-256 and BLAKE3 of a member's uncompressed bytes, the two hashes every member
/// records (FORMAT.md), computed in one place.
#[derive(Clone, Default)]
pub struct ContentHash {
    sha: sha2::Sha256,
    b3: blake3::Hasher,
}

impl ContentHash {
    pub fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.b3.update(data);
    }

    /// `(sha256, blake3)` in lower-case hex.
    pub fn finish(self) -> (String, String) {
        (
            hex::encode(self.sha.finalize()),
            self.b3.finalize().to_hex().to_string(),
        )
    }
}

/// Where a [`FramedWriter`] sends the uncompressed bytes of each frame, in order.
pub trait FrameHasher {
    fn update(&mut self, data: &[u8]) -> std::io::Result<()>;
    /// `(sha256, blake3)` of what was written, or empty strings when the stream is one
    /// part of a member whose hashes are known elsewhere.
    fn finish(self) -> std::io::Result<(String, String)>;
}

impl FrameHasher for ContentHash {
    fn update(&mut self, data: &[u8]) -> std::io::Result<()> {
        ContentHash::update(self, data);
        Ok(())
    }

    fn finish(self) -> std::io::Result<(String, String)> {
        Ok(ContentHash::finish(self))
    }
}

/// What a [`FramedWriter`] wrote: frame sizes and hashes of the uncompressed bytes.
#[derive(Debug, Clone, Default)]
pub struct Framed {
    /// `(compressed, uncompressed)` size of each frame, in order.
    pub frames: Vec<(u32, u32)>,
    pub size: u64,
    /// Empty when the [`FrameHasher`] gave none (one part of a member).
    pub sha256: String,
    pub blake3: String,
}

/// Cuts what is written into frames of `frame_size` bytes, compresses each and writes
/// it to `out`, handing the uncompressed bytes to a [`FrameHasher`]. Memory: about one
/// frame. Writers that format text can write straight into the pending frame
/// ([`pending`](Self::pending)), saving a copy.
pub struct FramedWriter<W: Write, H: FrameHasher = ContentHash> {
    out: W,
    enc: FrameEncoder,
    buf: Vec<u8>,
    frame_size: usize,
    frames: Vec<(u32, u32)>,
    size: u64,
    hasher: H,
}

impl<W: Write> FramedWriter<W> {
    pub fn new(out: W, level: i32, frame_size: usize) -> std::io::Result<Self> {
        Self::with_hasher(out, level, frame_size, ContentHash::default())
    }
}

impl<W: Write, H: FrameHasher> FramedWriter<W, H> {
    pub fn with_hasher(out: W, level: i32, frame_size: usize, hasher: H) -> std::io::Result<Self> {
        Ok(FramedWriter {
            out,
            enc: FrameEncoder::new(level)?,
            // Room for a frame and the row that overflows it.
            buf: Vec::with_capacity(frame_size + (64 << 10)),
            frame_size,
            frames: Vec::new(),
            size: 0,
            hasher,
        })
    }

    /// Compresses and writes the first `len` bytes of the pending frame as one frame.
    fn emit(&mut self, len: usize) -> std::io::Result<()> {
        let data = &self.buf[..len];
        self.hasher.update(data)?;
        let c = self.enc.encode(data)?;
        self.out.write_all(&c)?;
        self.frames.push((c.len() as u32, len as u32));
        self.size += len as u64;
        self.buf.drain(..len);
        Ok(())
    }

    /// The pending frame's bytes, to append to directly; call
    /// [`cut`](Self::cut) after appending.
    pub fn pending(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Writes out every full frame of the pending bytes.
    pub fn cut(&mut self) -> std::io::Result<()> {
        while self.buf.len() >= self.frame_size {
            self.emit(self.frame_size)?;
        }
        Ok(())
    }

    /// Bytes written so far (compressed frames plus the pending frame's raw bytes).
    pub fn len(&self) -> u64 {
        self.size + self.buf.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the last frame (an empty one if nothing was written) and flushes.
    pub fn finish(mut self) -> std::io::Result<(W, Framed)> {
        self.cut()?;
        if !self.buf.is_empty() || self.frames.is_empty() {
            self.emit(self.buf.len())?;
        }
        self.out.flush()?;
        let (sha256, blake3) = self.hasher.finish()?;
        Ok((
            self.out,
            Framed {
                frames: self.frames,
                size: self.size,
                sha256,
                blake3,
            },
        ))
    }
}

impl<W: Write, H: FrameHasher> Write for FramedWriter<W, H> {
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            let room = self.frame_size - self.buf.len().min(self.frame_size);
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.cut()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_byte_is_caught_by_the_frame_checksum() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut f = FrameEncoder::new(3).unwrap().encode(&data).unwrap();
        assert_eq!(decode_frame(&f, data.len()).unwrap(), data);
        let mid = f.len() / 2;
        f[mid] ^= 0x40;
        assert!(decode_frame(&f, data.len()).is_err());
    }

    #[test]
    fn rows_written_into_the_pending_frame_are_cut_at_frame_size() {
        let mut w = FramedWriter::new(Vec::new(), 1, 4096).unwrap();
        let mut want = Vec::new();
        for i in 0..2000u32 {
            let row = format!("({i},'row {i}'),\n");
            w.pending().extend_from_slice(row.as_bytes());
            want.extend_from_slice(row.as_bytes());
            w.cut().unwrap();
        }
        w.write_all(b"tail").unwrap();
        want.extend_from_slice(b"tail");
        let (out, f) = w.finish().unwrap();
        let (last, full) = f.frames.split_last().unwrap();
        assert!(full.iter().all(|&(_, d)| d == 4096));
        assert_eq!(last.1 as usize, want.len() % 4096);
        let mut at = 0;
        let mut back = Vec::new();
        for (c, d) in f.frames {
            back.extend(decode_frame(&out[at..at + c as usize], d as usize).unwrap());
            at += c as usize;
        }
        assert_eq!(back, want);
        let mut h = ContentHash::default();
        h.update(&want);
        assert_eq!((f.sha256, f.blake3), h.finish());
    }

    #[test]
    fn the_framed_writer_cuts_frames_and_hashes_the_stream() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 13) as u8).collect();
        let mut w = FramedWriter::new(Vec::new(), 3, 4096).unwrap();
        for chunk in data.chunks(999) {
            w.write_all(chunk).unwrap();
        }
        let (out, f) = w.finish().unwrap();
        assert_eq!(
            f.frames.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![4096, 4096, 1808]
        );
        assert_eq!(f.size, 10_000);
        assert_eq!(f.sha256, hex::encode(sha2::Sha256::digest(&data)));
        let mut at = 0;
        let mut back = Vec::new();
        for (c, d) in f.frames {
            back.extend(decode_frame(&out[at..at + c as usize], d as usize).unwrap());
            at += c as usize;
        }
        assert_eq!(back, data);
    }
}
