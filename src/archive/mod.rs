//! Writing and reading archives: the tar assembler, the frame codec and the parallel
//! compression pipeline. Knows bytes and files, not the catalog, sources or stores.

pub mod codec;
pub mod pipeline;
pub mod scan;
pub mod writer;
