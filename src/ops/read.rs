//! Member bytes out of a [`Store`]: the store's `read_at` handed to the one read path
//! of [`crate::archive::reader`], for `cat`, `restore`, `verify` and `diff`.

use crate::archive::reader::{self, MemberReader, ReadAt};
use crate::error::Result;
use crate::model::Member;
use crate::store::Store;

/// `read_at` over one archive of `store`.
pub fn bytes<'a>(store: &'a dyn Store, archive: &'a str) -> Box<ReadAt<'a>> {
    Box::new(move |offset, len| store.read_at(archive, offset, len))
}

/// A checked streaming reader over the whole of `member`.
pub fn member<'a>(
    store: &'a dyn Store,
    archive: &'a str,
    member: &'a Member,
) -> Result<MemberReader<'a>> {
    MemberReader::open(bytes(store, archive), archive, member)
}

/// Reads, verifies and decompresses frame `idx` of `member` (index already checked).
pub fn read_frame(
    store: &dyn Store,
    archive: &str,
    member: &Member,
    idx: usize,
) -> Result<Vec<u8>> {
    reader::read_frame(&*bytes(store, archive), archive, member, idx)
}
