# Sourced by scripts/bench.sh: `strata list`, `list --pitr`, the mount's first listing
# and `ls` of a month on a catalog of 100,000 events (a year of binlog events every
# 5 minutes, with a full backup every day), made synthetically: one real event, then
# rows inserted with sqlite3; and the per-run overhead of a backup at that size against
# a repository of one event. Goal: each under 50 ms, i.e. flat in the number of events.
SCALE_EVENTS="${BENCH_SCALE_EVENTS:-100000}"
SREPO="$WORK/scale-repo"
SCONF="$WORK/scale.toml"
rm -rf "$SREPO" && mkdir -p "$SREPO" "$WORK/scale-src"
echo "one real file" > "$WORK/scale-src/a.txt"
cat > "$SCONF" <<CONF
repository = "$SREPO"
host = "bench"
[[source]]
kind = "files"
name = "etc"
include = ["$WORK/scale-src"]
CONF
"$STRATA" --config "$SCONF" backup
# Events 2..N+1: every 288th a nightly full backup, the rest binlog-only events, each
# continuing the previous one's binlog range; one member each.
sqlite3 "$SREPO/catalog.sqlite3" <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SCALE_EVENTS)
INSERT INTO events (id, host, start_time, end_time, completed, bytes, file, sha256, warnings, info)
SELECT i + 1, 'bench', 1767225600 + i * 300, 1767225600 + i * 300 + 1, 0, 4096,
       strftime('%Y/%m/bench_%Y-%m-%d_', 1767225600 + i * 300, 'unixepoch') || (i + 1) || '.tar',
       NULL, 0,
       json_remove(json_object(
           'db.server_version', '10.11.19-MariaDB',
           'db.binlog_file', printf('binlog.%06d', 1 + i / 1000),
           'db.binlog_position', CAST(4 + (i % 1000 + 1) * 1000 AS TEXT),
           'db.gtid', '0-1-' || (i * 7),
           'db.binlog_from', printf('binlog.%06d:%d', 1 + (i - 1) / 1000, 4 + ((i - 1) % 1000 + 1) * 1000),
           'db.binlog_to', printf('binlog.%06d:%d', 1 + i / 1000, 4 + (i % 1000 + 1) * 1000),
           'db.binlog_first_time', CAST(1767225600 + i * 300 - 299 AS TEXT),
           'db.binlog_last_time', CAST(1767225600 + i * 300 - 1 AS TEXT),
           'db.binlog_only', 'true'),
           CASE WHEN i % 288 = 0 THEN '$."db.binlog_only"' ELSE '$."none"' END)
FROM n;
INSERT INTO members (event_id, path, source, kind, tar_offset, compressed_size, size, sha256, blake3, mode, mtime, uid, gid)
SELECT id, 'db/binlog/' || json_extract(info, '$."db.binlog_file"'), 'db', 'binlog', 512, 2048, 8192,
       NULL, NULL, 416, start_time, 0, 0
FROM events WHERE id > 1;
-- What strata itself writes beside each event's info (catalog::binlog).
INSERT INTO binlog_ranges (event_id, source, snapshot, from_pos, to_pos, gap, binlog_only, joins)
SELECT id, 'db', json_extract(info, '$."db.binlog_file"') || ':' || json_extract(info, '$."db.binlog_position"'),
       json_extract(info, '$."db.binlog_from"'), json_extract(info, '$."db.binlog_to"'), NULL,
       json_extract(info, '$."db.binlog_only"') IS NOT NULL, id > 2
FROM events WHERE id > 1;
UPDATE events SET binlog_only = 1 WHERE json_extract(info, '$."db.binlog_only"') IS NOT NULL;
UPDATE counters SET value = (SELECT MAX(id) FROM events) WHERE name = 'last_event_id';
COMMIT;
SQL

# ms NAME CMD...: best wall time of 5 runs in milliseconds into $ms.
ms() {
    local best="" name=$1; shift
    for _ in 1 2 3 4 5; do
        local a b
        a=$(date +%s%N); "$@" > /dev/null; b=$(date +%s%N)
        local d=$(( (b - a) / 1000000 ))
        if [ -z "$best" ] || [ "$d" -lt "$best" ]; then best=$d; fi
    done
    ms=$best
    printf '%-44s %8d ms\n' "$name" "$ms"
}

echo "== scale: $(sqlite3 "$SREPO/catalog.sqlite3" 'SELECT COUNT(*) FROM events') events"
ms "strata list" "$STRATA" --config "$SCONF" list; list_ms=$ms
ms "strata list --pitr" "$STRATA" --config "$SCONF" list --pitr; pitr_ms=$ms
"$STRATA" --config "$SCONF" list | tail -n 3
"$STRATA" --config "$SCONF" list --pitr
SMNT="$WORK/scale-mnt"
mkdir -p "$SMNT"
fusermount3 -u "$SMNT" 2> /dev/null || true
first_ms=""
for _ in 1 2 3; do
    a=$(date +%s%N)
    "$STRATA" --config "$SCONF" mount "$SMNT" & mpid=$!
    until ls "$SMNT" 2> /dev/null | grep -q latest; do sleep 0.001; done
    b=$(date +%s%N)
    d=$(( (b - a) / 1000000 ))
    if [ -z "$first_ms" ] || [ "$d" -lt "$first_ms" ]; then first_ms=$d; fi
    month_dir="$SMNT/2026/06"
    ms "ls of a month (mount, $(ls "$month_dir" | wc -l) entries)" ls "$month_dir"; month_ms=$ms
    kill "$mpid"; wait "$mpid" || true
done
printf '%-44s %8d ms\n' "mount to first listing" "$first_ms"
# Per-run overhead: a backup of one small file at N events against the same on a
# repository of one event (each run adds an event; that is what cron does).
ms "strata show latest (at $SCALE_EVENTS events)" "$STRATA" --config "$SCONF" show latest
ms "strata backup of one file (at $SCALE_EVENTS events)" "$STRATA" --config "$SCONF" -q backup; big_ms=$ms
SREPO1="$WORK/scale-repo1"
rm -rf "$SREPO1"
sed "s|^repository = .*|repository = \"$SREPO1\"|" "$SCONF" > "$WORK/scale1.toml"
"$STRATA" --config "$WORK/scale1.toml" -q backup
ms "strata backup of one file (at 1 event)" "$STRATA" --config "$WORK/scale1.toml" -q backup; small_ms=$ms
overhead_ms=$(( big_ms > small_ms ? big_ms - small_ms : 0 ))
printf '%-44s %8d ms\n' "per-run overhead of $SCALE_EVENTS events" "$overhead_ms"
for row in "list:$list_ms" "list --pitr:$pitr_ms" "mount to first listing:$first_ms" "ls of a month:$month_ms" "per-run overhead of backup:$overhead_ms"; do
    goal "scale: ${row%%:*} at $SCALE_EVENTS events" "${row##*:} ms" "-" "-" "< 50 ms" "$(at_most "${row##*:}" 50)"
done
