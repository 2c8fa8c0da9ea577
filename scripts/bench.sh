#!/usr/bin/env bash
# Benchmarks, each against its peers in the same run, on the same data. Prints times,
# ratios and peak memory. Not a test: numbers depend on the machine.
#   scripts/bench.sh [files] [mysql] [mount] [remote] [scale] [load]   (default: all)
#   files: strata backup of a ~1 GB tree vs `tar -c | zstd -T0` (same level)
#   mysql: strata backup of ~1 GB of rows vs mysqldump | zstd and mydumper
#   mount: reads through `strata mount` vs zstd -d, borg mount, restic mount, ratarmount
#   remote: upload to a loopback S3 server vs `aws s3 cp`; one table of a remote-only event
#   scale: list, list --pitr and the mount on a catalog of 100,000 events (goal < 50 ms)
#   load: strata load --threads 2 vs myloader -t 2 vs mysql <; binlog replay of an hour
# BENCH_DIR (default /var/tmp/strata-bench) keeps generated data between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_packages "${BUILD_PACKAGES[@]}" zstd tar time python3 sqlite3 curl mariadb-server mariadb-client mydumper borgbackup python3-llfuse restic fuse3 bsdextrautils python3-venv age
ensure_cargo
cargo build --release --quiet
STRATA="$PWD/target/release/strata"
WORK="${BENCH_DIR:-/var/tmp/strata-bench}"
RUNS="${BENCH_RUNS:-2}"
mkdir -p "$WORK"
SECTIONS="${*:-files mysql mount remote scale load}"
# Each section adds its goal rows here; they are printed together at the end.
export BENCH_SUMMARY="$WORK/summary.tsv"
: > "$BENCH_SUMMARY"

# goal WORK STRATA PEERS RATIO GOAL MET: one row of the closing summary (tab-separated).
goal() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$BENCH_SUMMARY"
}

# ratio A B: A / B to two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# at_most X LIMIT: "yes" when X <= LIMIT.
at_most() {
    awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "yes" : "NO" }'
}

# measure NAME CMD...: best wall time of $RUNS runs into $t, peak RSS (MiB) into $rss.
# $BEFORE runs before each run (not timed), $WARM too (to warm caches alike).
measure() {
    local best="" peak=0 name=$1; shift
    for _ in $(seq "$RUNS"); do
        [ -n "${BEFORE:-}" ] && eval "$BEFORE"
        [ -n "${WARM:-}" ] && eval "$WARM"
        /usr/bin/time -f '%e %M' -o "$WORK/time.out" "$@" > /dev/null
        read -r secs kb < "$WORK/time.out"
        if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
        [ "$kb" -gt "$peak" ] && peak=$kb
    done
    t=$best; rss=$((peak / 1024))
    printf '%-44s %8.2f s  %6d MiB peak RSS\n' "$name" "$t" "$rss"
}

# ensure_tree: the generated ~1 GB tree of mixed files in $TREE (kept between runs).
ensure_tree() {
    SIZE_MB="${BENCH_SIZE_MB:-1024}"
    TREE="$WORK/tree-$SIZE_MB"
    if [ ! -f "$TREE/.done" ]; then
        rm -rf "$TREE"
        python3 scripts/bench/gen_tree.py "$TREE" "$SIZE_MB"
        touch "$TREE/.done"
    fi
}

for section in $SECTIONS; do
    case "$section" in
        files) . scripts/bench/files.sh ;;
        mysql) . scripts/bench/mysql.sh ;;
        mount)
            # ratarmount comes from PyPI, in a venv of its own.
            [ -x /opt/strata-bench-venv/bin/ratarmount ] ||
                { python3 -m venv /opt/strata-bench-venv && /opt/strata-bench-venv/bin/pip install --quiet ratarmount; } ||
                echo "ratarmount could not be installed: its rows are left out" >&2
            python3 scripts/bench/mount.py "$STRATA" "$WORK" ;;
        remote) . scripts/bench/remote.sh ;;
        scale) . scripts/bench/scale.sh ;;
        load) . scripts/bench/load.sh ;;
        *) echo "unknown section $section (files, mysql, mount, remote, scale, load)" >&2; exit 2 ;;
    esac
done

if [ -s "$BENCH_SUMMARY" ]; then
    echo
    echo "== goals (this run, $(nproc) cores; ratios are strata / the reference in the goal)"
    { printf 'WORK\tSTRATA\tPEERS\tRATIO\tGOAL\tMET\n'; cat "$BENCH_SUMMARY"; } | column -t -s $'\t'
fi
