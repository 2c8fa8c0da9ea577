#!/usr/bin/env bash
# The main job end to end on a fresh Debian machine: installs what is missing, builds,
# makes sample data (a tree of files and a SQLite database dumped by a command
# source), backs it up twice with a change in between, lists, shows, restores, checks
# and compares the two backups. Leaves everything under $DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

ensure_packages zstd sqlite3 tar fuse3
ensure_cargo
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build"
cargo build --release --quiet
STRATA="$PWD/target/release/strata"

DEMO_DIR="${DEMO_DIR:-/tmp/strata-demo}"
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/site/etc/app" "$DEMO_DIR/site/www/static"
cd "$DEMO_DIR"

step "sample data in $DEMO_DIR/site and $DEMO_DIR/app.db"
printf 'listen 8080\nworkers 4\n' > site/etc/app/app.conf
printf '<h1>hello</h1>\n' > site/www/index.html
for i in $(seq 1 200); do echo "line $i of a log nobody reads"; done > site/www/static/log.txt
head -c 3000000 /dev/urandom > site/www/static/blob.bin
ln -s app.conf site/etc/app/current.conf
sqlite3 app.db "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);
                INSERT INTO users(name) VALUES ('ada'), ('grace'), ('linus');"

cat > strata.toml <<TOML
repository = "$DEMO_DIR/repo"
compression_level = 3
frame_size = "1MiB"

[[source]]
name = "site"
kind = "files"
include = ["$DEMO_DIR/site"]
exclude_regex = ['\.swp$']

[[source]]
name = "appdb"
kind = "command"
command = ["sqlite3", "$DEMO_DIR/app.db", ".dump"]
output = "app.sql"
TOML
export STRATA_CONFIG="$DEMO_DIR/strata.toml"
cat strata.toml

step "strata backup (first)"
"$STRATA" -v backup

step "a change: a user added, the config edited"
sqlite3 app.db "INSERT INTO users(name) VALUES ('barbara');"
echo 'workers 8' >> site/etc/app/app.conf

step "strata backup (second)"
"$STRATA" -v backup

step "strata list"
"$STRATA" list

step "strata show 2"
"$STRATA" show 2

step "the repository"
find repo -type f | sort

step "strata cat 2 appdb/app.sql"
"$STRATA" cat 2 appdb/app.sql

step "strata restore 1 --to restored (the first backup)"
"$STRATA" restore 1 --to restored
ls -l "restored/site$DEMO_DIR/site/etc/app"
cmp "restored/site$DEMO_DIR/site/www/static/blob.bin" site/www/static/blob.bin && echo "blob.bin: identical"

step "what changed between 1 and 2 (diff of the members)"
diff <("$STRATA" cat 1 appdb/app.sql) <("$STRATA" cat 2 appdb/app.sql) || true
diff <("$STRATA" cat 1 "site$DEMO_DIR/site/etc/app/app.conf") <("$STRATA" cat 2 "site$DEMO_DIR/site/etc/app/app.conf") || true

step "no strata needed: tar, zstd and sha256sum restore everything"
archive=$(ls repo/*/*/*_1.tar)
(cd "$(dirname "$archive")" && sha256sum -c "$(basename "$archive").sha256")
mkdir plain && tar -xf "$archive" -C plain
zstd -q -d -c plain/appdb/app.sql.zst | tail -3

step "strata mount: every backup as a read-only tree"
mkdir -p mnt
"$STRATA" mount mnt &
MOUNT_PID=$!
trap 'kill $MOUNT_PID 2>/dev/null; wait $MOUNT_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -e mnt/latest ] && break; sleep 0.1; done
ls -l mnt mnt/latest/
find mnt -maxdepth 4 | sort
echo "-- restore by cp from the first backup:"
cp -a "$(ls -d mnt/*/*/1)/appdb/app.sql" restored-app.sql
cat restored-app.sql
echo "-- diff between the two mounted backups:"
diff -r "$(ls -d mnt/*/*/1)" "$(ls -d mnt/*/*/2)" || true
kill $MOUNT_PID; wait $MOUNT_PID || true
trap - EXIT

step "strata verify --all"
"$STRATA" -v verify --all
echo
echo "demo done: everything is under $DEMO_DIR"
