//! The catalog schema and its version. `docs/FORMAT.md` documents every column.

use rusqlite::Connection;

pub const VERSION: i64 = 4;

const V1: &str = "
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    host        TEXT    NOT NULL,
    start_time  INTEGER NOT NULL,
    end_time    INTEGER,
    completed   INTEGER NOT NULL DEFAULT -999,
    bytes       INTEGER NOT NULL DEFAULT 0,
    file        TEXT    NOT NULL DEFAULT '',
    sha256      TEXT,
    error       TEXT,
    warnings    INTEGER NOT NULL DEFAULT 0,
    info        TEXT    NOT NULL DEFAULT '{}'
);
CREATE TABLE members (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    path            TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    tar_offset      INTEGER NOT NULL,
    compressed_size INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT,
    blake3          TEXT,
    mode            INTEGER NOT NULL,
    mtime           INTEGER NOT NULL,
    uid             INTEGER NOT NULL,
    gid             INTEGER NOT NULL,
    link_target     TEXT,
    UNIQUE (event_id, path)
);
CREATE TABLE frames (
    member_id       INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    offset          INTEGER NOT NULL,
    compressed_size INTEGER NOT NULL,
    uoffset         INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    PRIMARY KEY (member_id, idx)
) WITHOUT ROWID;
CREATE INDEX events_completed ON events(completed, start_time);
";

/// Version 2: `counters`, whose `last_event_id` is the highest event id ever handed
/// out, so that an id is never reused even when its row is deleted.
const V2: &str = "
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) SELECT 'last_event_id', COALESCE(MAX(id), 0) FROM events;
";

/// Version 3: `copies`, one row per event and target: where the event's files were
/// copied, whether that copy is proven (`done`, with the size and SHA-256 the target
/// holds), still to do (`pending`, `failed` with the error) or being removed
/// (`deleting`, finished by the next run) or removed by the target's retention
/// (`removed`, never uploaded again).
const V3: &str = "
CREATE TABLE copies (
    event_id  INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    target    TEXT    NOT NULL,
    state     TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'deleting', 'removed')),
    size      INTEGER,
    sha256    TEXT,
    time      INTEGER,
    error     TEXT,
    PRIMARY KEY (event_id, target)
) WITHOUT ROWID;
CREATE INDEX copies_target ON copies(target, state);
";

/// Version 4: `binlog_ranges` (filled from `events.info`, see `catalog::binlog`), with
/// `joins` kept up to date as events come and go, `events.binlog_only`, and indexes
/// that keep `list`, `list --pitr` and the mount's listings flat at 100,000 events.
const V4: &str = "
CREATE TABLE binlog_ranges (
    event_id    INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    source      TEXT    NOT NULL,
    snapshot    TEXT,
    from_pos    TEXT,
    to_pos      TEXT,
    gap         TEXT,
    binlog_only INTEGER NOT NULL DEFAULT 0,
    joins       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, event_id)
) WITHOUT ROWID;
CREATE INDEX binlog_ranges_event ON binlog_ranges(event_id);
CREATE INDEX binlog_ranges_breaks ON binlog_ranges(source, event_id) WHERE NOT joins;
ALTER TABLE events ADD COLUMN binlog_only INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_listed ON events(id) WHERE NOT binlog_only OR completed <> 0 OR warnings <> 0;
CREATE INDEX events_file ON events(file);
CREATE INDEX events_sizes ON events(id, bytes);
";

pub fn migrate(conn: &Connection) -> Result<(), String> {
    let version = |c: &Connection| -> Result<i64, String> {
        c.pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| e.to_string())
    };
    if version(conn)? == VERSION {
        return Ok(());
    }
    // Another process may be creating the schema right now: decide under a write lock.
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    let result = (|| {
        let v = version(conn)?;
        if v > VERSION {
            return Err(format!(
                "schema version {v} is newer than this strata knows ({VERSION}); upgrade strata"
            ));
        }
        if v == 0 {
            conn.execute_batch(V1)
                .map_err(|e| format!("cannot create the schema: {e}"))?;
        }
        if v < 2 {
            conn.execute_batch(V2)
                .map_err(|e| format!("cannot upgrade the schema to version 2: {e}"))?;
        }
        if v < 3 {
            conn.execute_batch(V3)
                .map_err(|e| format!("cannot upgrade the schema to version 3: {e}"))?;
        }
        if v < 4 {
            conn.execute_batch(V4)
                .and_then(|_| super::binlog::backfill(conn))
                .map_err(|e| format!("cannot upgrade the schema to version 4: {e}"))?;
        }
        conn.pragma_update(None, "user_version", VERSION)
            .map_err(|e| e.to_string())?;
        Ok(())
    })();
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end).map_err(|e| e.to_string())?;
    result
}
