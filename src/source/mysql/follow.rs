//! The mysql source as `strata binlog --follow` uses it: an event that holds only the
//! binary log written since the previous event (no dump, no lock), and the cheap poll
//! that says when one is due. Each such event is as durable as a backup, so a follower
//! that is killed, or a server that restarts, resumes from the last recorded position:
//! no gap and no event twice.

use super::{binlog, MysqlSource};
use crate::error::{Error, Result};
use crate::model::MemberSink;
use crate::source::{Follower, Source};
use mysql::prelude::Queryable;

/// A mysql source that captures binary logs only.
pub struct BinlogOnly(pub MysqlSource);

impl Source for BinlogOnly {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn run(&self, sink: &mut dyn MemberSink) -> Result<()> {
        let s = &self.0;
        let c = &s.connect;
        let fail = |e: Error| Error::Other(format!("source '{}': {e}", s.name));
        let mut c0 = c.connect().map_err(fail)?;
        binlog::check_enabled(&mut c0, c, &s.name)?;
        let version: Option<String> = c0.query_first("SELECT @@version").map_err(|e| c.err(&e))?;
        sink.note(
            format!("{}.server_version", s.name),
            version.unwrap_or_default(),
        );
        sink.note(format!("{}.binlog_only", s.name), "true".into());
        let now = s.binlog_status(&mut c0, sink).map_err(fail)?;
        s.capture_binlogs(&mut c0, now, sink).map_err(fail)
    }

    fn dry_run(&self) -> Result<Vec<String>> {
        let s = &self.0;
        let mut conn = s.connect.connect()?;
        binlog::check_enabled(&mut conn, &s.connect, &s.name)?;
        Ok(vec![format!(
            "{}/binlog/: binary logs since the previous event",
            s.name
        )])
    }
}

impl Follower for BinlogOnly {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn pending(&self, since: Option<&str>) -> Result<(String, u64)> {
        let s = &self.0;
        let c = &s.connect;
        let mut conn = c.connect()?;
        let now = binlog::master_status(&mut conn)
            .map_err(|e| c.err(&e))?
            .ok_or_else(|| {
                Error::Other(format!(
                    "source '{}': the server at {} writes no binary log (start it with --log-bin)",
                    s.name,
                    c.target()
                ))
            })?;
        let Some(since) = since.and_then(|p| p.parse::<binlog::Position>().ok()) else {
            return Ok((now.to_string(), 0));
        };
        let mut bytes = 0;
        for (f, size) in binlog::files_between(&mut conn, c, &since, &now)? {
            let start = if f == since.file { since.pos } else { 0 };
            let end = if f == now.file { now.pos } else { size };
            bytes += end.saturating_sub(start);
        }
        Ok((now.to_string(), bytes))
    }

    fn interval(&self) -> std::time::Duration {
        self.0.binlog_interval
    }

    fn max_size(&self) -> u64 {
        self.0.binlog_max_size
    }

    fn source(&self) -> Box<dyn Source> {
        Box::new(BinlogOnly(self.0.clone()))
    }
}
