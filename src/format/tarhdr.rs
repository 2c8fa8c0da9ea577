//! POSIX tar headers for the archive writer.
//!
//! Names that do not fit ustar's 100+155 bytes get a pax extended header (`path`,
//! `linkpath`), as POSIX.1-2001 says; sizes above ustar's 8 GiB use the GNU base-256
//! encoding that GNU tar and bsdtar read. The header of a content member is written
//! with size 0 first and patched once the member's length is known.

use crate::model::{FileMeta, MemberKind};

pub const BLOCK: u64 = 512;

/// Bytes of padding that follow `len` bytes of entry data.
pub fn padding(len: u64) -> u64 {
    (BLOCK - len % BLOCK) % BLOCK
}

/// One pax record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

fn fits_ustar(name: &str) -> bool {
    let mut h = tar::Header::new_ustar();
    name.bytes().all(|b| b != 0) && h.set_path(name).is_ok()
}

/// A name that fits ustar, for the header that follows a pax `path` record.
fn short_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .rev()
        .take(90)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    s = s.trim_start_matches('/').replace('\n', "_");
    if s.is_empty() {
        s = "long-name".into();
    }
    s
}

fn raw_header(name: &str, kind: u8, size: u64, meta: &FileMeta) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    if h.set_path(name).is_err() {
        let _ = h.set_path(short_name(name));
    }
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_size(size);
    h.set_mode(meta.mode & 0o7777);
    h.set_mtime(meta.mtime.max(0) as u64);
    h.set_uid(meta.uid as u64);
    h.set_gid(meta.gid as u64);
    h
}

/// The bytes that precede a member's data: an optional pax header entry, then the
/// ustar header. Returns those bytes; the ustar header is always the last 512.
pub fn member_header(
    name: &str,
    kind: MemberKind,
    size: u64,
    meta: &FileMeta,
    link: Option<&str>,
) -> Vec<u8> {
    let mut pax = Vec::new();
    if !fits_ustar(name) {
        pax.extend(pax_record("path", name.as_bytes()));
    }
    let typeflag = match kind {
        MemberKind::Dir => b'5',
        MemberKind::Symlink => b'2',
        _ => b'0',
    };
    let mut h = raw_header(name, typeflag, size, meta);
    if let Some(target) = link {
        let fits = target.len() <= 100 && !target.contains('\0');
        if fits && h.set_link_name_literal(target).is_ok() {
        } else {
            pax.extend(pax_record("linkpath", target.as_bytes()));
        }
    }
    h.set_cksum();
    let mut out = Vec::new();
    if !pax.is_empty() {
        let mut x = raw_header(
            &format!("PaxHeaders/{}", short_name(name)),
            b'x',
            pax.len() as u64,
            meta,
        );
        x.set_cksum();
        out.extend_from_slice(x.as_bytes());
        let plen = pax.len() as u64;
        out.extend(pax);
        out.resize(out.len() + padding(plen) as usize, 0);
    }
    out.extend_from_slice(h.as_bytes());
    out
}

/// Rewrites the size (and checksum) of a 512-byte ustar header in place.
pub fn patch_size(header: &mut [u8; 512], size: u64) {
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(header);
    h.set_size(size);
    h.set_cksum();
    header.copy_from_slice(h.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record("path", b"abc");
        assert_eq!(r, b"12 path=abc\n");
        let long = vec![b'x'; 95];
        let r = pax_record("path", &long);
        let n: usize = std::str::from_utf8(&r[..r.iter().position(|&b| b == b' ').unwrap()])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(n, r.len());
    }
}
