#!/usr/bin/env python3
"""Generates a ~1 GB tree of mixed files for the backup benchmark: logs and text
(compressible), random binaries (incompressible), many small config-like files, and
a few big semi-compressible files. Deterministic for a given seed."""
import os, random, sys

root, total_mb = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024
rng = random.Random(42)
words = [b"select", b"from", b"where", b"user", b"error", b"GET", b"/api/v1/items", b"200",
         b"404", b"timeout", b"connection", b"mysql", b"backup", b"INFO", b"WARN", b"2026-11-21"]

def text(n):
    out, size = [], 0
    while size < n:
        line = b" ".join(rng.choice(words) for _ in range(rng.randint(5, 14))) + b" %d\n" % rng.randint(0, 10**9)
        out.append(line)
        size += len(line)
    return b"".join(out)[:n]

def semi(n):
    chunk = text(1 << 20)
    out = bytearray()
    while len(out) < n:
        out += os.urandom(256 << 10) + chunk[: 768 << 10]
    return bytes(out[:n])

budget = total_mb << 20
plan = [("logs", 150, lambda: text(rng.randint(1, 3) << 20)),
        ("bin", 20, lambda: os.urandom(10 << 20)),
        ("conf", 5000, lambda: text(rng.randint(2, 16) << 10)),
        ("big", 3, lambda: semi(100 << 20))]
written = 0
for d, count, make in plan:
    os.makedirs(os.path.join(root, d), exist_ok=True)
    for i in range(count):
        data = make()
        with open(os.path.join(root, d, "f%05d" % i), "wb") as f:
            f.write(data)
        written += len(data)
fill = 0
os.makedirs(os.path.join(root, "fill"), exist_ok=True)
while written < budget:
    data = semi(min(50 << 20, budget - written))
    with open(os.path.join(root, "fill", "f%03d" % fill), "wb") as f:
        f.write(data)
    written += len(data)
    fill += 1
print("generated %.0f MiB in %s" % (written / 2**20, root))
