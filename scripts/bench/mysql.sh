#!/usr/bin/env bash
# Benchmark: dumping about 1.2 GB of SQL rows (three big tables and a hundred small ones) from a
# private MariaDB, in one run: strata backup (compressed, hashed, catalogued) vs
# mysqldump --single-transaction | zstd, and mydumper unchunked and chunked
# (uncompressed). Prints times, ratios and peak memory. Sourced by scripts/bench.sh.
set -euo pipefail

. scripts/bench/tables.sh
MDIR="$WORK/mysql"
PORT=$(free_port)
ROWS_SCALE="${BENCH_MYSQL_SCALE:-2}"   # 1 = about 600 MiB of SQL text
[ -f "$MDIR/.loaded-$ROWS_SCALE" ] || rm -rf "$MDIR"
start_mariadb "$MDIR" "$PORT" --innodb-buffer-pool-size=2G
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null' EXIT
sql() { mariadb --no-defaults --socket="$SOCK" -uroot "$@"; }

if [ ! -f "$MDIR/.loaded-$ROWS_SCALE" ]; then
    echo "loading rows at scale $ROWS_SCALE (once; kept in $MDIR)"
    bench_tables bench $((3000000 * ROWS_SCALE)) $((2000000 * ROWS_SCALE)) $((800000 * ROWS_SCALE)) \
        100 $((5000 * ROWS_SCALE)) | sql
    sql -e "ANALYZE TABLE bench.events, bench.orders, bench.blobs" >/dev/null
    touch "$MDIR/.loaded-$ROWS_SCALE"
fi
sql -e "CREATE USER IF NOT EXISTS bench@'%' IDENTIFIED BY 'bench-pw'; GRANT ALL ON *.* TO bench@'%';"
sql -N -e "SELECT CONCAT(ROUND(SUM(DATA_LENGTH)/1048576), ' MiB of InnoDB data in ', COUNT(*), ' tables') FROM information_schema.TABLES WHERE TABLE_SCHEMA='bench'"
export MYSQL_PWD=bench-pw
cat > "$WORK/mysql.toml" <<TOML
repository = "$WORK/mysql-repo"
[[source]]
name = "db"
kind = "mysql"
host = "127.0.0.1"
port = $PORT
user = "bench"
databases = ["bench"]
TOML

echo
echo "== MySQL dump of database bench ($(nproc) cores, server on the same machine), best of $RUNS"
# Every contender starts with the tables in the buffer pool.
WARM="sql -e 'CHECKSUM TABLE bench.events, bench.orders, bench.blobs' >/dev/null"
BEFORE="rm -rf '$WORK/mysql-repo'" measure "strata backup (default level 1, hashed)" "$STRATA" --config "$WORK/mysql.toml" -q backup
t_strata=$t; m_strata=$rss
sql_bytes=$("$STRATA" --config "$WORK/mysql.toml" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["bytes"])')
sed 's/^repository = .*/&\ncompression_level = 3/' "$WORK/mysql.toml" > "$WORK/mysql-3.toml"
BEFORE="rm -rf '$WORK/mysql-repo'" measure "strata backup, compression_level = 3" "$STRATA" --config "$WORK/mysql-3.toml" -q backup
t_strata3=$t
BEFORE="" measure "mysqldump --single-transaction | zstd" sh -c \
    "mysqldump --no-defaults -h127.0.0.1 -P$PORT -ubench --single-transaction --skip-lock-tables bench | zstd -q -T0 -3 > '$WORK/mysqldump.sql.zst'"
t_mysqldump=$t
if command -v mydumper >/dev/null; then
    BEFORE="rm -rf '$WORK/mydumper'" measure "mydumper -t $(nproc) (unchunked)" \
        mydumper -h 127.0.0.1 -P "$PORT" -u bench -t "$(nproc)" -B bench -o "$WORK/mydumper" --trx-consistency-only
    t_myd=$t
    BEFORE="rm -rf '$WORK/mydumper'" measure "mydumper -t $(nproc) -r 500000 (chunked)" \
        mydumper -h 127.0.0.1 -P "$PORT" -u bench -t "$(nproc)" -r 500000 -B bench -o "$WORK/mydumper" --trx-consistency-only
    t_myd_chunked=$t
    myd_bytes=$(du -sb "$WORK/mydumper" | cut -f1)
    best_myd=$(awk -v a="$t_myd" -v b="$t_myd_chunked" 'BEGIN{print (a<b)?a:b}')
else
    best_myd=""
fi
# More connections on one big table (cut in primary-key ranges, hashed in order): the
# `threads` 1 -> 2 row. Only `events` (about 55% of the rows) is dumped.
sed 's/^databases = .*/&\nignore = ["bench.orders", "bench.blobs", "bench.small_*"]/' "$WORK/mysql.toml" > "$WORK/mysql-big2.toml"
sed 's/^databases = .*/&\nthreads = 1/' "$WORK/mysql-big2.toml" > "$WORK/mysql-big1.toml"
BEFORE="rm -rf '$WORK/mysql-repo'" measure "strata backup of table events, threads = 1" "$STRATA" --config "$WORK/mysql-big1.toml" -q backup
t_big1=$t
BEFORE="rm -rf '$WORK/mysql-repo'" measure "strata backup of table events, threads = 2" "$STRATA" --config "$WORK/mysql-big2.toml" -q backup
t_big2=$t
echo
printf 'output: strata %d MiB archive; mydumper %s MiB uncompressed\n' $((sql_bytes >> 20)) "${myd_bytes:+$((myd_bytes >> 20))}"
awk -v a="$t_strata" -v b="$t_mysqldump" 'BEGIN { printf "ratio strata / (mysqldump|zstd): %.2f\n", a / b }'
[ -n "$best_myd" ] && awk -v a="$t_strata" -v b="$best_myd" 'BEGIN { printf "ratio strata / best mydumper (uncompressed): %.2f  (below 1: strata is faster)\n", a / b }'
[ -n "$best_myd" ] && awk -v a="$t_strata3" -v b="$best_myd" 'BEGIN { printf "ratio strata level 3 / best mydumper (uncompressed): %.2f\n", a / b }'
echo "strata peak RSS: $m_strata MiB"
awk -v a="$t_big2" -v b="$t_big1" 'BEGIN { printf "ratio threads 2 / threads 1 (one big table): %.2f  (goal: at most 1)\n", a / b }'
if [ -n "$best_myd" ]; then
    goal "dump (level 1, hashed, archive)" "$t_strata s" \
        "mydumper -t $(nproc) uncompressed: $t_myd s, chunked $t_myd_chunked s; mysqldump|zstd: $t_mysqldump s" \
        "$(ratio "$t_strata" "$best_myd")" "<= 0.80 x best mydumper" "$(at_most "$(ratio "$t_strata" "$best_myd")" 0.80)"
fi
goal "threads 1 -> 2 (one big table)" "$t_big1 s -> $t_big2 s" "-" "$(ratio "$t_big2" "$t_big1")" "<= 1.00" \
    "$(at_most "$(ratio "$t_big2" "$t_big1")" 1.00)"
WARM=""
kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true; trap - EXIT
