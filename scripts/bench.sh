#!/usr/bin/env bash
# Benchmarks, each against its peers in the same run, on the same data. Prints times,
# ratios and peak memory. Not a test: numbers depend on the machine.
#   backup: strata backup of a ~1 GB tree vs `tar -c | zstd -T0` (same level).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_packages zstd tar time python3
ensure_cargo
cargo build --release --quiet
STRATA="$PWD/target/release/strata"
WORK="${BENCH_DIR:-/var/tmp/strata-bench}"
SIZE_MB="${BENCH_SIZE_MB:-1024}"
RUNS="${BENCH_RUNS:-2}"
mkdir -p "$WORK"

TREE="$WORK/tree-$SIZE_MB"
if [ ! -f "$TREE/.done" ]; then
    rm -rf "$TREE"
    python3 scripts/bench/gen_tree.py "$TREE" "$SIZE_MB"
    touch "$TREE/.done"
fi
du -sh --apparent-size "$TREE"

# measure NAME CMD...: best wall time of $RUNS runs and the peak RSS, into $t and $rss.
measure() {
    local best="" peak=0 name=$1; shift
    for _ in $(seq "$RUNS"); do
        [ -n "${BEFORE:-}" ] && eval "$BEFORE"
        cat "$TREE"/*/* > /dev/null   # same warm page cache for every contender
        /usr/bin/time -f '%e %M' -o "$WORK/time.out" "$@" > /dev/null
        read -r secs kb < "$WORK/time.out"
        if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
        [ "$kb" -gt "$peak" ] && peak=$kb
    done
    t=$best; rss=$((peak / 1024))
    printf '%-34s %8.2f s  %6d MiB peak RSS\n' "$name" "$t" "$rss"
}

LEVEL=3
echo
echo "== backup of $SIZE_MB MiB, zstd level $LEVEL, $(nproc) cores, best of $RUNS"
cat > "$WORK/strata.toml" <<TOML
repository = "$WORK/repo"
compression_level = $LEVEL
[[source]]
name = "tree"
kind = "files"
include = ["$TREE"]
TOML
BEFORE="rm -rf '$WORK/repo'" measure "strata backup" "$STRATA" --config "$WORK/strata.toml" -q backup
t_strata=$t
strata_size=$(du -b "$WORK"/repo/*/*/*.tar | awk '{s+=$1} END {print s}')
BEFORE="" measure "tar -c | zstd -T0 -$LEVEL" sh -c "tar -C '$TREE' -cf - . | zstd -q -T0 -$LEVEL -o '$WORK/peer.tar.zst' -f"
t_tar=$t
peer_size=$(stat -c %s "$WORK/peer.tar.zst")
echo
printf 'archive size: strata %d MiB, tar|zstd %d MiB\n' $((strata_size >> 20)) $((peer_size >> 20))
awk -v a="$t_strata" -v b="$t_tar" 'BEGIN { printf "ratio strata / (tar|zstd -T0): %.2f  (below 1: strata is faster)\n", a / b }'
