# Benchmark: strata backup of a generated ~1 GB tree of mixed files vs
# `tar -c | zstd -T0` at the same level. Sourced by scripts/bench.sh.
ensure_tree
LEVEL=3
echo
echo "== backup of a $SIZE_MB MiB tree, zstd level $LEVEL, $(nproc) cores, best of $RUNS"
cat > "$WORK/files.toml" <<TOML
repository = "$WORK/files-repo"
compression_level = $LEVEL
[[source]]
name = "tree"
kind = "files"
include = ["$TREE"]
TOML
WARM="cat '$TREE'/*/* > /dev/null"
BEFORE="rm -rf '$WORK/files-repo'" measure "strata backup (hashed, catalogued, fsynced)" "$STRATA" --config "$WORK/files.toml" -q backup
t_strata=$t
strata_size=$(du -b "$WORK"/files-repo/*/*/*.tar | awk '{s+=$1} END {print s}')
BEFORE="" measure "tar -c | zstd -T0 -$LEVEL" sh -c "tar -C '$TREE' -cf - . | zstd -q -T0 -$LEVEL -o '$WORK/peer.tar.zst' -f"
t_tar=$t
peer_size=$(stat -c %s "$WORK/peer.tar.zst")
WARM=""
echo
printf 'archive size: strata %d MiB, tar|zstd %d MiB\n' $((strata_size >> 20)) $((peer_size >> 20))
awk -v a="$t_strata" -v b="$t_tar" 'BEGIN { printf "ratio strata / (tar|zstd -T0): %.2f  (below 1: strata is faster)\n", a / b }'
