//! Frame decoding with the archive's names attached: every read of a member's frame
//! goes through [`member_frame`], so every error names archive, member and frame.

pub use crate::format::frame::{decode_frame, FrameEncoder};

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
