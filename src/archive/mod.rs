//! Writing and reading archives: the tar assembler, the one read path for member bytes and the parallel
//! compression pipeline. Knows bytes and files, not the catalog, sources or stores.

pub mod pipeline;
pub mod reader;
pub mod scan;
pub mod writer;
