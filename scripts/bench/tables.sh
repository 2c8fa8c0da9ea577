# Sourced by the MySQL benchmarks: the bench database's tables, the same in each.
# bench_tables DB EVENTS ORDERS BLOBS SMALL SMALL_ROWS: SQL on stdout that creates DB
# with three big tables (EVENTS, ORDERS, BLOBS rows) and SMALL small ones.
bench_tables() {
    local db=$1 n1=$2 n2=$3 n3=$4 small=$5 rows=$6
    cat <<SQL
CREATE DATABASE $db CHARACTER SET utf8mb4;
USE $db;
CREATE TABLE events (id BIGINT PRIMARY KEY, user_id INT, kind VARCHAR(20), payload VARCHAR(120),
                     score DOUBLE, at DATETIME(3), INDEX(user_id));
INSERT INTO events SELECT seq, seq % 100000, ELT(1 + seq % 4, 'view', 'click', 'buy', 'leave'),
       CONCAT('payload ', MD5(seq), ' ', seq % 977), seq / 13, '2026-01-01' + INTERVAL seq SECOND
FROM seq_1_to_$n1;
CREATE TABLE orders (id INT PRIMARY KEY, customer INT, amount DECIMAL(12,2), note TEXT, ts TIMESTAMP);
INSERT INTO orders SELECT seq, seq % 50000, (seq % 100000) / 100, IF(seq % 3 = 0, CONCAT('note ', SHA1(seq)), NULL),
       '2025-01-01' + INTERVAL seq SECOND FROM seq_1_to_$n2;
CREATE TABLE blobs (id INT PRIMARY KEY, data BLOB, f FLOAT);
INSERT INTO blobs SELECT seq, UNHEX(CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512), MD5(seq))), seq / 7 FROM seq_1_to_$n3;
SQL
    for i in $(seq 1 "$small"); do
        echo "CREATE TABLE small_$i (id INT PRIMARY KEY, name VARCHAR(40), v INT);
              INSERT INTO small_$i SELECT seq, CONCAT('name ', seq), seq * $i FROM seq_1_to_$rows;"
    done
}
