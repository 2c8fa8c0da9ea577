# Sourced by scripts/bench.sh: loading a dump into a server, in one run on the same
# private MariaDB: `strata load --threads 2` of a strata event vs `myloader -t 2` of a
# mydumper dump of the same rows vs `mysql < dump.sql` (mysqldump). Each loads into a
# fresh database; rows/s and MB/s of SQL are printed. Then the catch-up of a point in
# time recovery: seconds for `strata load --until` to replay the binlogs of a burst of
# writes (BENCH_LOAD_WRITES transactions, about an hour of a busy shop) on top.
# Goal: strata load faster than myloader.
LDIR="$WORK/load-mysql"
LPORT=$(free_port)
LSCALE="${BENCH_LOAD_SCALE:-1}"   # 1: about 150 MiB of SQL
WRITES="${BENCH_LOAD_WRITES:-20000}"
rm -rf "$LDIR" "$WORK/load-repo" "$WORK/load-mydumper"
start_mariadb "$LDIR" "$LPORT" --innodb-buffer-pool-size=1G --innodb-flush-log-at-trx-commit=2
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null' EXIT
lsql() { mariadb --no-defaults --socket="$SOCK" -uroot "$@"; }
. scripts/bench/tables.sh
bench_tables src $((700000 * LSCALE)) $((400000 * LSCALE)) $((150000 * LSCALE)) 20 $((5000 * LSCALE)) | lsql
lsql -e "CREATE USER IF NOT EXISTS bench@'%' IDENTIFIED BY 'bench-pw'; GRANT ALL ON *.* TO bench@'%';"
rows=$(lsql -N -e "SELECT SUM(c) FROM (SELECT COUNT(*) c FROM src.events UNION ALL SELECT COUNT(*) FROM src.orders
       UNION ALL SELECT COUNT(*) FROM src.blobs UNION ALL SELECT $((20 * 5000 * LSCALE))) t")
echo "bench-pw" > "$WORK/load.pw"; chmod 600 "$WORK/load.pw"
cat > "$WORK/load.toml" <<TOML
repository = "$WORK/load-repo"
[[source]]
name = "db"
kind = "mysql"
host = "127.0.0.1"
port = $LPORT
user = "bench"
password_file = "$WORK/load.pw"
databases = ["src"]
binlogs = true
TOML
"$STRATA" --config "$WORK/load.toml" -q backup
sql_bytes=$(sqlite3 "$WORK/load-repo/catalog.sqlite3" "SELECT SUM(size) FROM members WHERE event_id = 1")
export MYSQL_PWD=bench-pw
mydumper -h 127.0.0.1 -P "$LPORT" -u bench -t 2 -B src -o "$WORK/load-mydumper" --trx-consistency-only
mysqldump --no-defaults -h 127.0.0.1 -P "$LPORT" -u bench --single-transaction --databases src \
    | sed 's/`src`/`dump_src`/g' > "$WORK/load-dump.sql"
unset MYSQL_PWD
echo
echo "== load of $rows rows, $((sql_bytes >> 20)) MiB of SQL, into the same server ($(nproc) cores), best of $RUNS"
fresh() { lsql -e "DROP DATABASE IF EXISTS \`$1\`"; }
BEFORE="fresh strata_src" measure "strata load --threads 2" \
    "$STRATA" --config "$WORK/load.toml" load 1 src --rename src=strata_src --threads 2 \
    --to "127.0.0.1:$LPORT" --user bench --password-file "$WORK/load.pw"
t_strata=$t
if command -v myloader > /dev/null; then
    BEFORE="fresh myl_src" measure "myloader -t 2" \
        env MYSQL_PWD=bench-pw myloader -h 127.0.0.1 -P "$LPORT" -u bench -t 2 -d "$WORK/load-mydumper" -s src -B myl_src
    t_myl=$t
fi
# Like the others, not written to the binary log (the catch-up below replays it).
BEFORE="fresh dump_src" measure "mysql < dump.sql (mysqldump)" \
    sh -c "mariadb --no-defaults --socket='$SOCK' -uroot --init-command='SET sql_log_bin = 0' < '$WORK/load-dump.sql'"
t_mysql=$t
for pair in "strata load:$t_strata" "myloader:${t_myl:-}" "mysql <:$t_mysql"; do
    secs=${pair##*:}
    [ -n "$secs" ] || continue
    awk -v n="${pair%%:*}" -v s="$secs" -v r="$rows" -v b="$sql_bytes" \
        'BEGIN { printf "%-20s %10.0f rows/s %8.1f MB/s of SQL\n", n, r / s, b / 1e6 / s }'
done
lsql -N -e "CHECKSUM TABLE src.events, strata_src.events, src.blobs, strata_src.blobs" | awk '{print "checksum", $0}'
if [ -n "${t_myl:-}" ]; then
    goal "load (strata load --threads 2)" "$t_strata s" "myloader -t 2: $t_myl s; mysql < dump: $t_mysql s" \
        "$(ratio "$t_strata" "$t_myl")" "< 1.00 x myloader" "$(at_most "$(ratio "$t_strata" "$t_myl")" 0.99)"
fi

# Catch-up: a burst of writes after the event, captured by `strata binlog`, replayed.
lsql src -e "CREATE TABLE IF NOT EXISTS ticks (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(3), v INT)"
# Row-based by default, as the issue measured it; BENCH_BINLOG_FORMAT=STATEMENT or MIXED
# for the others.
BINLOG_FORMAT="${BENCH_BINLOG_FORMAT:-ROW}"
python3 - "$WRITES" "$BINLOG_FORMAT" <<'PY' | lsql src
import sys
n = int(sys.argv[1])
print(f"SET SESSION binlog_format = {sys.argv[2]};")
for i in range(n):
    print(f"BEGIN; INSERT INTO ticks (at, v) VALUES (NOW(3), {i}); "
          f"UPDATE orders SET amount = amount + 1 WHERE id = {1 + i * 7 % 400000}; "
          f"DELETE FROM small_1 WHERE id = {1 + i % 5000}; COMMIT;")
PY
"$STRATA" --config "$WORK/load.toml" -q binlog
until_t=$(date -d '+2 seconds' '+%Y-%m-%d %H:%M:%S')
sleep 3
"$STRATA" --config "$WORK/load.toml" -q binlog || true
binlog_bytes=$(sqlite3 "$WORK/load-repo/catalog.sqlite3" "SELECT SUM(size) FROM members WHERE kind = 'binlog'")
fresh pitr_src
a=$(date +%s%N)
"$STRATA" --config "$WORK/load.toml" -v load 1 src --rename src=pitr_src --threads 2 --until "$until_t" \
    --to "127.0.0.1:$LPORT" --user bench --password-file "$WORK/load.pw" > /dev/null 2> "$WORK/pitr.log"
b=$(date +%s%N)
t_pitr=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
# The replay's own time, as strata logs it at -v.
t_replay=$(sed -n 's/.*replayed [0-9]* statements in \([0-9.]*\) s.*/\1/p' "$WORK/pitr.log")
grep 'replayed [0-9]* statements' "$WORK/pitr.log" | sed 's/^.*replayed/strata: replayed/'
printf 'catch-up: %d transactions of 3 statements (%d MiB of %s binlog) replayed in %s s (load --until took %s s in all)\n' \
    "$WRITES" $((binlog_bytes >> 20)) "$BINLOG_FORMAT" "$t_replay" "$t_pitr"
lsql -N -e "SELECT COUNT(*) FROM pitr_src.ticks" | awk -v n="$WRITES" '{print "replayed rows:", $1, "of", n}'
# The peer: the same captured binlogs through `mariadb-binlog | mariadb`, on top of the
# same load of event 1.
fresh peer_src
"$STRATA" --config "$WORK/load.toml" load 1 src --rename src=peer_src --threads 2 \
    --to "127.0.0.1:$LPORT" --user bench --password-file "$WORK/load.pw" > /dev/null
rm -rf "$WORK/peer-binlogs" && mkdir -p "$WORK/peer-binlogs"
sqlite3 -separator ' ' "$WORK/load-repo/catalog.sqlite3" \
    "SELECT event_id, path FROM members WHERE kind = 'binlog' ORDER BY event_id, path" |
    while read -r id path; do
        "$STRATA" --config "$WORK/load.toml" cat "$id" "$path" > "$WORK/peer-binlogs/$(printf %06d "$id")-${path##*/}"
    done
a=$(date +%s%N)
mariadb-binlog --no-defaults --skip-gtid-strict-mode --stop-datetime="$until_t" --rewrite-db='src->peer_src' \
    "$WORK"/peer-binlogs/* | lsql peer_src
b=$(date +%s%N)
t_peer=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
awk -v n="$WRITES" -v s="$t_replay" -v p="$t_peer" 'BEGIN {
    printf "replay: strata %.0f transactions/s, mariadb-binlog | mariadb %.0f transactions/s (%.1fx)\n", n / s, n / p, p / s }'
for t in ticks orders small_1; do
    a=$(lsql -N -e "CHECKSUM TABLE pitr_src.$t" | awk '{print $2}')
    b=$(lsql -N -e "CHECKSUM TABLE peer_src.$t" | awk '{print $2}')
    [ "$a" = "$b" ] || { echo "replay differs from mariadb-binlog | mariadb on $t ($a vs $b)" >&2; exit 1; }
done
echo "checksums of ticks, orders, small_1 equal to the peer's"
speed=$(awk -v s="$t_replay" -v p="$t_peer" 'BEGIN { printf "%.1f", p / s }')
goal "binlog replay ($WRITES $BINLOG_FORMAT transactions)" "$t_replay s" "mariadb-binlog | mariadb: $t_peer s" \
    "${speed}x faster" ">= 10x faster" "$(awk -v x="$speed" 'BEGIN { print (x >= 10) ? "yes" : "NO" }')"
kill "$SERVER_PID"; wait "$SERVER_PID" 2> /dev/null || true
trap - EXIT
