//! Where archive bytes live. Readers go through [`Store::read_at`] and never open
//! archive files themselves, so that remote targets and caches can stand in later.

pub mod local;

/// A small blocking storage interface over archive files named by their path
/// relative to the repository.
pub trait Store: Send + Sync {
    /// Reads exactly `len` bytes at `offset` of the archive `name`.
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
}
