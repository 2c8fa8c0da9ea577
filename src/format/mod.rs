//! On-disk byte layouts, kept apart from the logic that uses them: tar headers, the
//! zstd seekable format's seek table, and the JSON manifest. `docs/FORMAT.md` is the
//! prose version of this module; change both together.

pub mod binlog;
pub mod frame;
pub mod manifest;
pub mod meta;
pub mod metrics;
pub mod names;
pub mod seekable;
pub mod sqldump;
pub mod sqlscript;
pub mod tarhdr;

/// Name of the last tar entry of every archive.
pub const MANIFEST_NAME: &str = "strata-manifest.json";

/// The largest uncompressed frame a reader accepts (and a writer may be configured to
/// cut): whatever an archive claims, no read allocates more than this per frame.
pub const MAX_FRAME: u32 = 64 << 20;
