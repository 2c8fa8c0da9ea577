//! strata: backups of MySQL/MariaDB, files and dump commands into indexed, compressed
//! archives with a SQLite catalog. Layers (DESIGN.md): L0 `error`, `model`, `format`, `sync`, `units`;
//! L1 `archive`, `catalog`, `store`, `source`; L2 `ops`; L3 `config`, `cli`.

pub mod archive;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod format;
pub mod fuse;
pub mod model;
pub mod ops;
pub mod source;
pub mod store;
pub mod sync;
pub mod units;
pub mod vfs;
