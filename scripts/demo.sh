#!/usr/bin/env bash
# The main job end to end on a fresh Debian machine: installs what is missing, builds,
# starts a private MariaDB with sample data, backs it up (with a directory of config
# files) twice with a change in between, lists, mounts, restores a table with cp into
# the server, and compares the two backups. Leaves everything under $DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

ensure_packages "${BUILD_PACKAGES[@]}" mariadb-server mariadb-client fuse3 zstd tar python3
ensure_cargo
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build"
cargo build --release --quiet
STRATA="$PWD/target/release/strata"

DEMO_DIR="${DEMO_DIR:-/tmp/strata-demo}"
if [ -f "$DEMO_DIR/mysql/mysqld.pid" ]; then kill "$(cat "$DEMO_DIR/mysql/mysqld.pid")" 2>/dev/null || true; sleep 1; fi
if mountpoint -q "$DEMO_DIR/mnt" 2>/dev/null; then fusermount3 -u "$DEMO_DIR/mnt" || true; fi
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/mysql" "$DEMO_DIR/site/etc/app"
cd "$DEMO_DIR"

step "a private MariaDB on a free port (not the system instance)"
PORT=$(free_port)
start_mariadb "$DEMO_DIR/mysql" "$PORT"
MOUNT_PID=""
cleanup() {
    [ -n "$MOUNT_PID" ] && kill "$MOUNT_PID" 2>/dev/null && wait "$MOUNT_PID" 2>/dev/null
    kill "$SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT
sql() { mariadb --no-defaults --socket="$SOCK" -uroot --default-character-set=utf8mb4 "$@"; }
echo "MariaDB on 127.0.0.1:$PORT"

step "sample data: database shop"
sql <<'SQL'
CREATE DATABASE shop CHARACTER SET utf8mb4;
USE shop;
CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100), email VARCHAR(100), since DATE);
CREATE TABLE products (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100), price DECIMAL(10,2), weight FLOAT);
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT, product_id INT, qty INT,
                     at TIMESTAMP(3), note TEXT);
INSERT INTO customers (name, email, since) SELECT CONCAT('customer ', seq), CONCAT('c', seq, '@example.org'),
       '2020-01-01' + INTERVAL seq DAY FROM seq_1_to_2000;
INSERT INTO products (name, price, weight) VALUES ('café crème', 3.20, 0.25), ('thé vert 🍵', 2.90, 0.1),
       ('croissant', 1.10, 0.07);
INSERT INTO orders (customer_id, product_id, qty, at, note)
       SELECT seq % 2000 + 1, seq % 3 + 1, seq % 5 + 1, '2026-01-01' + INTERVAL seq MINUTE,
              IF(seq % 10 = 0, 'a note with a \'quote\' and a\nnewline', NULL) FROM seq_1_to_20000;
CREATE VIEW revenue AS SELECT p.name, SUM(o.qty * p.price) AS total FROM orders o JOIN products p ON p.id = o.product_id GROUP BY p.name;
CREATE USER backup@'%' IDENTIFIED BY 'demo-password';
GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER, REPLICATION CLIENT, PROCESS ON *.* TO backup@'%';
GRANT SELECT ON mysql.* TO backup@'%';
SQL
sql -e "SELECT COUNT(*) AS customers FROM shop.customers; SELECT COUNT(*) AS orders FROM shop.orders"
printf 'listen 8080\nworkers 4\n' > site/etc/app/app.conf
printf 'demo-password\n' > mysql.pw && chmod 600 mysql.pw

cat > strata.toml <<TOML
repository = "$DEMO_DIR/repo"
compression_level = 1

[[source]]
name = "db"
kind = "mysql"
host = "127.0.0.1"
port = $PORT
user = "backup"
password_file = "$DEMO_DIR/mysql.pw"
databases = ["shop"]
schema_dir = "$DEMO_DIR/schema"

[[source]]
name = "site"
kind = "files"
include = ["$DEMO_DIR/site"]
TOML
export STRATA_CONFIG="$DEMO_DIR/strata.toml"
cat strata.toml

step "strata backup (first)"
"$STRATA" -v backup

step "a change: an order added, a price changed, a config edited"
sql shop -e "INSERT INTO orders (customer_id, product_id, qty, at) VALUES (42, 2, 3, NOW(3)); UPDATE products SET price = 3.40 WHERE id = 1;"
echo 'workers 8' >> site/etc/app/app.conf

step "strata backup (second)"
"$STRATA" -v backup

step "strata list"
"$STRATA" list

step "strata show 2"
"$STRATA" show 2

step "the schema directory (for git)"
find schema -type f | sort
cat schema/*/shop/products.sql

step "strata mount mnt"
mkdir -p mnt
"$STRATA" mount mnt &
MOUNT_PID=$!
for _ in $(seq 100); do [ -e mnt/latest ] && break; sleep 0.1; done
ls -l mnt mnt/latest/ mnt/latest/db mnt/latest/db/shop

step "restore a table with cp: products from the first backup, into the server"
FIRST=$(ls -d mnt/*/*/1)
cp "$FIRST/db/shop/products.sql" products.sql
sql shop < products.sql
sql shop -e "SELECT id, name, price FROM products"

step "compare the two backups"
diff "$FIRST/db/shop/products.sql" mnt/latest/db/shop/products.sql || true
diff "$FIRST/db/shop/orders.sql" mnt/latest/db/shop/orders.sql || true
diff -r "$FIRST/site" mnt/latest/site || true
echo "whole database file: $(ls -l mnt/latest/db/shop.sql)"

kill "$MOUNT_PID"; wait "$MOUNT_PID" || true; MOUNT_PID=""

step "strata verify --all"
"$STRATA" -v verify --all
echo
echo "demo done: everything is under $DEMO_DIR"
