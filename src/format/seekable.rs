//! The seek table of the zstd seekable format, version 0.1.0.
//!
//! A member is a run of independent zstd frames followed by one skippable frame:
//! magic `0x184D2A5E`, a 4-byte length, one 8-byte entry per frame (compressed size,
//! decompressed size, both u32 little-endian), then the 9-byte footer: frame count
//! (u32), descriptor byte (0: no per-frame checksums; each zstd frame carries its own
//! content checksum instead) and the seekable magic `0x8F92EAB1`. Plain `zstd -d`
//! skips the table; seekable readers use it.

pub const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
pub const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
const FOOTER: usize = 9;

/// Encodes the seek table frame for frames of `(compressed, decompressed)` sizes.
pub fn encode(frames: &[(u32, u32)]) -> Vec<u8> {
    let body = frames.len() * 8 + FOOTER;
    let mut out = Vec::with_capacity(8 + body);
    out.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
    out.extend_from_slice(&(body as u32).to_le_bytes());
    for &(c, d) in frames {
        out.extend_from_slice(&c.to_le_bytes());
        out.extend_from_slice(&d.to_le_bytes());
    }
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    out.push(0);
    out.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
    out
}

/// Decodes a seek table from the tail of a member's data (`tail` must end where the
/// member ends and hold at least the whole table). Returns `(compressed, decompressed)`
/// sizes per frame.
pub fn decode(tail: &[u8]) -> Result<Vec<(u32, u32)>, String> {
    if tail.len() < FOOTER + 8 {
        return Err("member too short for a seek table".into());
    }
    let f = &tail[tail.len() - FOOTER..];
    let count = u32::from_le_bytes(f[0..4].try_into().unwrap()) as usize;
    let descriptor = f[4];
    let magic = u32::from_le_bytes(f[5..9].try_into().unwrap());
    if magic != SEEKABLE_MAGIC {
        return Err(format!("bad seekable magic {magic:#x}"));
    }
    let entry = if descriptor & 0x80 != 0 { 12 } else { 8 };
    let need = 8 + count * entry + FOOTER;
    if tail.len() < need {
        return Err(format!("seek table of {count} frames is truncated"));
    }
    let start = tail.len() - need;
    let magic = u32::from_le_bytes(tail[start..start + 4].try_into().unwrap());
    if magic != SKIPPABLE_MAGIC {
        return Err(format!("bad skippable frame magic {magic:#x}"));
    }
    let mut frames = Vec::with_capacity(count);
    for i in 0..count {
        let e = start + 8 + i * entry;
        let c = u32::from_le_bytes(tail[e..e + 4].try_into().unwrap());
        let d = u32::from_le_bytes(tail[e + 4..e + 8].try_into().unwrap());
        frames.push((c, d));
    }
    Ok(frames)
}

/// Size in bytes of the seek table frame for `n` frames.
pub fn table_len(n: usize) -> usize {
    8 + n * 8 + FOOTER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_table_round_trips() {
        let frames = vec![(10, 1 << 20), (7, 5), (13, 0)];
        let t = encode(&frames);
        assert_eq!(t.len(), table_len(3));
        assert_eq!(decode(&t).unwrap(), frames);
    }

    #[test]
    fn seek_table_rejects_bad_magic() {
        let mut t = encode(&[(1, 2)]);
        let n = t.len();
        t[n - 1] ^= 1;
        assert!(decode(&t).is_err());
    }
}
