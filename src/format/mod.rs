//! On-disk byte layouts, kept apart from the logic that uses them: tar headers, the
//! zstd seekable format's seek table, and the JSON manifest. `docs/FORMAT.md` is the
//! prose version of this module; change both together.

pub mod frame;
pub mod manifest;
pub mod seekable;
pub mod tarhdr;

/// Name of the last tar entry of every archive.
pub const MANIFEST_NAME: &str = "strata-manifest.json";
