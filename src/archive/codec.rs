//! One frame in, one frame out: zstd compression with a content checksum and size in
//! every frame header, and the checked decompression that every read goes through.

/// Compresses frames; one per worker thread, reusing its zstd context.
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
/// and the length must be the one the index promises. Errors are plain strings; the
/// caller adds archive, member and frame.
pub fn decode_frame(compressed: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    let mut dec = zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?;
    let out = dec
        .decompress(compressed, expected.max(1))
        .map_err(|e| format!("zstd: {e}"))?;
    if out.len() != expected {
        return Err(format!(
            "frame holds {} bytes, the index says {expected}",
            out.len()
        ));
    }
    Ok(out)
}

/// Checks and decompresses frame `idx` of `member` from its raw bytes (or the error of
/// reading them), naming archive, member and frame in any error.
pub fn member_frame(
    archive: &str,
    member: &crate::model::Member,
    idx: usize,
    raw: std::io::Result<Vec<u8>>,
) -> crate::error::Result<Vec<u8>> {
    let f = &member.frames[idx];
    let bad = |message: String| crate::error::Error::CorruptFrame {
        archive: archive.to_string(),
        member: member.path.clone(),
        frame: idx,
        offset: member.offset + f.offset,
        message,
    };
    let raw = raw.map_err(|e| bad(format!("cannot read: {e}")))?;
    decode_frame(&raw, f.size as usize).map_err(bad)
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
}
