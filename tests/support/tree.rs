//! Trees of test files: odd names, modes, times, symlinks, and big pseudo-random files
//! that compress a little (so frames have realistic sizes).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Writes `len` bytes of deterministic, partly compressible data.
pub fn big_file(path: &Path, len: usize, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed | 1;
    let mut left = len;
    let mut block = vec![0u8; 64 * 1024];
    while left > 0 {
        for (i, chunk) in block.chunks_mut(8).enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half the words random, half a counter: about 2:1 with zstd.
            let v = if i % 2 == 0 { x } else { (i as u64) * 0x0101 };
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len());
        f.write_all(&block[..n]).unwrap();
        left -= n;
    }
}

pub fn set_mtime(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The odd tree of the round-trip test, with a big file of `big` bytes.
pub fn odd_tree(root: &Path, big: usize) {
    std::fs::create_dir_all(root).unwrap();
    let w = |name: &str, data: &[u8]| std::fs::write(root.join(name), data).unwrap();
    w("with space.txt", b"spaces\n");
    w("new\nline", b"a name with a newline\n");
    w("ünïcødé 日本語.txt", "utf-8 content: ✓\n".as_bytes());
    w(&"n".repeat(255), b"255-byte name\n");
    w("empty", b"");
    w("exactly-four-frames", &vec![7u8; 1 << 20]);
    let mut deep = root.to_path_buf();
    for i in 0..30 {
        deep.push(format!("level-{i:02}-dir"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deep file.txt"), b"deep\n").unwrap();
    big_file(&root.join("big.bin"), big, 42);
    std::os::unix::fs::symlink("with space.txt", root.join("relative link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
    chmod(&root.join("with space.txt"), 0o600);
    chmod(&root.join("empty"), 0o751);
    set_mtime(&root.join("with space.txt"), 1_000_000_000);
    set_mtime(&root.join("big.bin"), 1_500_000_000);
}
