//! Member and frame rows of an event.

use super::Catalog;
use crate::error::Result;
use crate::model::{FileMeta, Frame, Member, MemberKind};
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str = "id, path, source, kind, tar_offset, compressed_size, size, sha256, blake3, \
                       mode, mtime, uid, gid, link_target";

pub(super) fn insert(conn: &Connection, event_id: i64, members: &[Member]) -> rusqlite::Result<()> {
    let mut m = conn.prepare_cached(
        "INSERT INTO members (event_id, path, source, kind, tar_offset, compressed_size, size,
                              sha256, blake3, mode, mtime, uid, gid, link_target)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let mut f = conn.prepare_cached(
        "INSERT INTO frames (member_id, idx, offset, compressed_size, uoffset, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for mem in members {
        m.execute(params![
            event_id,
            mem.path,
            mem.source,
            mem.kind.as_str(),
            mem.offset as i64,
            mem.compressed_size as i64,
            mem.size as i64,
            mem.sha256,
            mem.blake3,
            mem.meta.mode,
            mem.meta.mtime,
            mem.meta.uid,
            mem.meta.gid,
            mem.link_target
        ])?;
        let id = conn.last_insert_rowid();
        for (i, fr) in mem.frames.iter().enumerate() {
            f.execute(params![
                id,
                i as i64,
                fr.offset as i64,
                fr.compressed_size,
                fr.uoffset as i64,
                fr.size
            ])?;
        }
    }
    Ok(())
}

fn row(r: &Row) -> rusqlite::Result<(i64, Member)> {
    let kind: String = r.get(3)?;
    Ok((
        r.get(0)?,
        Member {
            path: r.get(1)?,
            source: r.get(2)?,
            kind: MemberKind::parse(&kind).unwrap_or(MemberKind::File),
            offset: r.get::<_, i64>(4)? as u64,
            compressed_size: r.get::<_, i64>(5)? as u64,
            size: r.get::<_, i64>(6)? as u64,
            sha256: r.get(7)?,
            blake3: r.get(8)?,
            meta: FileMeta {
                mode: r.get(9)?,
                mtime: r.get(10)?,
                uid: r.get(11)?,
                gid: r.get(12)?,
            },
            link_target: r.get(13)?,
            frames: Vec::new(),
        },
    ))
}

impl Catalog {
    /// Per event: its number of members and their uncompressed bytes.
    pub fn member_totals(&self) -> Result<std::collections::HashMap<i64, (u64, u64)>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT event_id, COUNT(*), COALESCE(SUM(size), 0) FROM members GROUP BY event_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// An event's number of members and their uncompressed bytes.
    pub fn member_total(&self, event_id: i64) -> Result<(u64, u64)> {
        self.conn
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM members WHERE event_id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([event_id], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })
            })
            .map_err(|e| self.err(e))
    }

    /// The members of an event in archive order, without their frames.
    pub fn members(&self, event_id: i64) -> Result<Vec<Member>> {
        Ok(self
            .members_with_ids(event_id)?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// One member of an event, with its frames.
    pub fn member(&self, event_id: i64, path: &str) -> Result<Option<Member>> {
        let found = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM members WHERE event_id = ?1 AND path = ?2"),
                params![event_id, path],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match found {
            None => Ok(None),
            Some((id, mut m)) => {
                m.frames = self.frames(id)?;
                Ok(Some(m))
            }
        }
    }

    /// The members of an event with their frames (verify, restore of everything).
    pub fn members_with_frames(&self, event_id: i64) -> Result<Vec<Member>> {
        self.members_with_ids(event_id)?
            .into_iter()
            .map(|(id, mut m)| {
                m.frames = self.frames(id)?;
                Ok(m)
            })
            .collect()
    }

    /// The members of an event with their row ids, in archive order, without frames.
    pub fn members_with_ids(&self, event_id: i64) -> Result<Vec<(i64, Member)>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM members WHERE event_id = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([event_id], row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The frames of the member with row id `member_id`.
    pub fn frames(&self, member_id: i64) -> Result<Vec<Frame>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT offset, compressed_size, uoffset, size FROM frames WHERE member_id = ?1 ORDER BY idx",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([member_id], |r| {
                Ok(Frame {
                    offset: r.get::<_, i64>(0)? as u64,
                    compressed_size: r.get(1)?,
                    uoffset: r.get::<_, i64>(2)? as u64,
                    size: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}
