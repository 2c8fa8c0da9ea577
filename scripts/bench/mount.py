#!/usr/bin/env python3
"""Mount benchmark, run by scripts/bench.sh: reads of a ~600 MB table dump through
`strata mount`, against the limit (`zstd -d` of the same bytes) and the peers' mounts
of the same file (borg mount, restic mount, ratarmount), all in one run; then listing
cost as the catalog grows to 1,000 events, and the mount's peak RSS.
Usage: mount.py STRATA WORKDIR"""
import os, random, shutil, signal, statistics, subprocess, sys, tarfile, time

STRATA, WORK = sys.argv[1], sys.argv[2]
B = os.path.join(WORK, "mount")
SRC = os.path.join(B, "src")
TABLE = os.path.join(SRC, "orders.sql")
SIZE = int(os.environ.get("BENCH_MOUNT_MB", "600")) << 20
VENV = "/opt/strata-bench-venv"
RUNS = int(os.environ.get("BENCH_RUNS", "2"))
# `strata mount`'s default --cache-size, in MiB.
CACHE_MIB = 128
ENV = dict(os.environ, RESTIC_PASSWORD="bench", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes")


def sh(*args, **kw):
    return subprocess.run(args, check=True, env=ENV, **kw)


def generate():
    if os.path.exists(TABLE) and os.path.getsize(TABLE) == SIZE:
        return
    os.makedirs(SRC, exist_ok=True)
    rnd = random.Random(7)
    with open(TABLE, "wb") as f:
        written, i = 0, 0
        while written < SIZE:
            rows = []
            for _ in range(5000):
                i += 1
                rows.append(b"(%d,%d,'%s',%d.%02d,'2026-%02d-%02d %02d:%02d:%02d','%s')" % (
                    i, rnd.randrange(100000), os.urandom(6).hex().encode(), rnd.randrange(10000),
                    rnd.randrange(100), 1 + i % 12, 1 + i % 28, i % 24, i % 60, (i * 7) % 60,
                    rnd.choice([b"shipped", b"pending", b"cancelled", b"returned"])))
            chunk = b"INSERT INTO `orders` VALUES\n" + b",\n".join(rows) + b";\n"
            chunk = chunk[: SIZE - written]
            f.write(chunk)
            written += len(chunk)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def timed_read(path, bufsize=1 << 20):
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(bufsize):
            pass
    return time.perf_counter() - t


def wait_for(path, proc=None, timeout=600):
    t = time.perf_counter()
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"mount exited: {proc.returncode}")
        if time.perf_counter() - t > timeout:
            raise RuntimeError(f"timed out waiting for {path}")
        time.sleep(0.01)
    return time.perf_counter() - t


class Mount:
    """A FUSE mount in a child process, unmounted on exit."""

    def __init__(self, argv, mnt, ready):
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(os.path.join(mnt, ready), self.proc)
        self.ready = time.perf_counter() - self.t0

    def hwm_mib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM"):
                        return int(line.split()[1]) // 1024
        except OSError:
            return None

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
        subprocess.run(["fusermount", "-u", self.mnt], stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def preads(path, offsets, budget=20.0):
    """p50 and p99 latency (ms) of 4 KiB preads, stopping after `budget` seconds for
    slow contenders (the count of samples is returned too)."""
    lat = []
    fd = os.open(path, os.O_RDONLY)
    start = time.perf_counter()
    try:
        for off in offsets:
            t = time.perf_counter()
            os.pread(fd, 4096, off)
            lat.append((time.perf_counter() - t) * 1000)
            if time.perf_counter() - start > budget:
                break
    finally:
        os.close(fd)
    lat.sort()
    return lat[len(lat) // 2], lat[max(0, int(len(lat) * 0.99) - 1)], len(lat)


def strata_repo(name, settings=""):
    """A repository holding the table, backed up once with `settings`; its config."""
    repo = os.path.join(B, name)
    cfg = os.path.join(B, name + ".toml")
    with open(cfg, "w") as f:
        f.write(f'repository = "{repo}"\nhost = "bench"\n{settings}'
                f'[[source]]\nname = "db"\nkind = "files"\ninclude = ["{SRC}"]\n')
    if not os.path.isdir(repo):
        sh(STRATA, "--config", cfg, "-q", "backup")
    return repo, cfg


def goal(*cells):
    """A row of the closing summary of scripts/bench.sh."""
    if os.environ.get("BENCH_SUMMARY"):
        with open(os.environ["BENCH_SUMMARY"], "a") as f:
            f.write("\t".join(str(c) for c in cells) + "\n")


def main():
    sys.stdout.reconfigure(line_buffering=True)
    generate()
    # The default settings (the repository is named for the default frame size).
    default_repo, cfg = strata_repo("strata-repo-256k-default")
    limit_file = os.path.join(B, "orders-default.sql.zst")
    if not os.path.exists(limit_file):
        # the limit: the member's own frames, as `zstd -d` sees them
        tar = [os.path.join(dp, n) for dp, _, ns in os.walk(default_repo) for n in ns if n.endswith(".tar")][0]
        with tarfile.open(tar) as t:
            name = [m for m in t.getnames() if m.endswith("orders.sql.zst")][0]
            with t.extractfile(name) as src, open(limit_file, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    # The same file with 1 MiB frames: the random-access trade-off of frame_size.
    _, big_cfg = strata_repo("strata-repo-1m", 'frame_size = "1MiB"\n')
    if not os.path.isdir(os.path.join(B, "borg")) and shutil.which("borg"):
        sh("borg", "init", "--encryption=none", os.path.join(B, "borg"))
        sh("borg", "create", "--compression", "zstd,3", os.path.join(B, "borg") + "::a", SRC)
    if not os.path.isdir(os.path.join(B, "restic")) and shutil.which("restic"):
        sh("restic", "init", "--repository-version", "2", "--repo", os.path.join(B, "restic"), stdout=subprocess.DEVNULL)
        sh("restic", "backup", "--compression", "auto", "--repo", os.path.join(B, "restic"), SRC, stdout=subprocess.DEVNULL)
    # Many frames (pzstd), so that ratarmount's indexed_zstd can seek.
    tarzst = os.path.join(B, "src-pzstd.tar.zst")
    if not os.path.exists(tarzst):
        sh("sh", "-c", f"tar -C '{SRC}' -cf - orders.sql | pzstd -q -3 -p 2 -o '{tarzst}'")

    rel = SRC.lstrip("/") + "/orders.sql"
    contenders = [("strata mount", [STRATA, "--config", cfg, "mount", os.path.join(B, "m-strata")],
                   os.path.join(B, "m-strata"), "latest/db/" + rel),
                  ("strata mount, frame_size 1MiB", [STRATA, "--config", big_cfg, "mount", os.path.join(B, "m-strata-1m")],
                   os.path.join(B, "m-strata-1m"), "latest/db/" + rel)]
    if shutil.which("borg"):
        contenders.append(("borg mount", ["borg", "mount", "-f", os.path.join(B, "borg") + "::a", os.path.join(B, "m-borg")],
                           os.path.join(B, "m-borg"), rel))
    if shutil.which("restic"):
        contenders.append(("restic mount", ["restic", "mount", "--repo", os.path.join(B, "restic"), os.path.join(B, "m-restic")],
                           os.path.join(B, "m-restic"), "snapshots/latest/" + rel))
    if os.path.exists(os.path.join(VENV, "bin", "ratarmount")):
        contenders.append(("ratarmount (.tar.zst)", [os.path.join(VENV, "bin", "ratarmount"), "-f", tarzst, os.path.join(B, "m-ratar")],
                           os.path.join(B, "m-ratar"), "orders.sql"))

    only = os.environ.get("BENCH_MOUNT_ONLY")
    if only:
        contenders = [c for c in contenders if c[0].startswith(only)]
    print(f"\n== mount: reads of a {SIZE >> 20} MiB table dump, {os.cpu_count()} cores, "
          f"cold sequential best of {RUNS}")
    limit = None
    for _ in range(RUNS):
        drop_caches()
        t0 = time.perf_counter()
        subprocess.run(["zstd", "-q", "-d", "-c", limit_file], stdout=subprocess.DEVNULL, check=True)
        limit = min(limit or 1e9, time.perf_counter() - t0)
    print(f"{'zstd -d -c (the limit, cold)':44s} {limit:8.2f} s  {SIZE / limit / 2**20:7.0f} MiB/s")
    rng = random.Random(1)
    offsets = [rng.randrange(0, SIZE - 4096) for _ in range(300)]
    results = {}
    for name, argv, mnt, path in contenders:
        try:
            m = Mount(argv, mnt, path)
        except Exception as e:
            print(f"{name}: skipped ({e})")
            continue
        try:
            target = os.path.join(mnt, path)
            # Cold sequential: best of RUNS, each on a fresh mount with dropped caches.
            drop_caches()
            cold = timed_read(target)
            warm = timed_read(target)
            for _ in range(RUNS - 1):
                m.close()
                m = Mount(argv, mnt, path)
                drop_caches()
                cold = min(cold, timed_read(target))
            m.close()
            m = Mount(argv, mnt, path)
            drop_caches()
            p50c, p99c, nc = preads(target, offsets)
            p50w, p99w, nw = preads(target, offsets[:nc])
            hwm = m.hwm_mib()
            results[name] = (cold, p50c, p99c, hwm)
            print(f"{name + ' cold sequential':44s} {cold:8.2f} s  {SIZE / cold / 2**20:7.0f} MiB/s  ({cold / limit:.2f} x zstd -d)")
            print(f"{name + ' warm re-read':44s} {warm:8.2f} s  {SIZE / warm / 2**20:7.0f} MiB/s")
            print(f"{name + ' random 4 KiB pread, cold':44s} p50 {p50c:7.3f} ms  p99 {p99c:7.3f} ms  ({nc} reads)")
            print(f"{name + ' random 4 KiB pread, cached':44s} p50 {p50w:7.3f} ms  p99 {p99w:7.3f} ms  ({nw} reads)")
            if hwm is not None:
                print(f"{name + ' peak RSS':44s} {hwm:8d} MiB")
        finally:
            m.close()
    if "strata mount" in results:
        s, p50, p99, hwm = results["strata mount"]
        peers = {n: r for n, r in results.items() if n != "strata mount"}
        others = [r[1] for n, r in peers.items() if not n.startswith("strata")]
        for name, r in peers.items():
            print(f"ratio strata / {name} (cold sequential): {s / r[0]:.2f}  (below 1: strata is faster)")
        print(f"ratio strata / zstd -d (cold sequential): {s / limit:.2f}  (goal: at most 0.9)")
        goal("mount: cold sequential cat", f"{s:.2f} s",
             "; ".join([f"zstd -d {limit:.2f} s"] + [f"{n} {r[0]:.2f} s" for n, r in peers.items()]),
             f"{s / limit:.2f}", "<= 0.90 x zstd -d", "yes" if s / limit <= 0.9 else "NO")
        goal("mount: cold random 4 KiB pread p50 / p99", f"{p50:.2f} / {p99:.2f} ms",
             "; ".join(f"{n} {r[1]:.2f} / {r[2]:.2f} ms" for n, r in peers.items()),
             f"{p50 / min(others or [p50]):.2f} (p50 / best peer)", "p50 < 1 ms, p99 < 3 ms",
             "yes" if p50 < 1 and p99 < 3 else "NO")
        if hwm is not None:
            budget = CACHE_MIB + 64
            goal("mount: peak RSS", f"{hwm} MiB (cache {CACHE_MIB} MiB)",
                 "; ".join(f"{n} {r[3]} MiB" for n, r in peers.items() if r[3] is not None),
                 f"{hwm / budget:.2f}", f"<= cache + 64 MiB ({budget})", "yes" if hwm <= budget else "NO")

    if os.environ.get("BENCH_MOUNT_SKIP_LISTING"):
        return
    # Listing cost as events accumulate.
    print("\n== mount: listing as the catalog grows (tiny events)")
    lrepo = os.path.join(B, "list-repo")
    shutil.rmtree(lrepo, ignore_errors=True)
    lcfg = os.path.join(B, "list.toml")
    with open(lcfg, "w") as f:
        f.write(f'repository = "{lrepo}"\nhost = "bench"\n[[source]]\nname = "c"\nkind = "command"\ncommand = ["echo", "row"]\noutput = "t.sql"\n')
    have = 0
    for target in (10, 100, 1000):
        while have < target:
            subprocess.run([STRATA, "--config", lcfg, "-q", "backup"], check=True)
            have += 1
        mnt = os.path.join(B, "m-list")
        os.makedirs(mnt, exist_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen([STRATA, "--config", lcfg, "mount", mnt])
        wait_for(os.path.join(mnt, "latest", "c", "t.sql"), proc)
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        subprocess.run(["ls", "-R", mnt], stdout=subprocess.DEVNULL, check=True)
        lsr = time.perf_counter() - t1
        t2 = time.perf_counter()
        os.listdir(os.path.dirname(os.path.realpath(os.path.join(mnt, "latest"))))
        month = time.perf_counter() - t2
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = [int(l.split()[1]) // 1024 for l in f if l.startswith("VmHWM")][0]
        subprocess.run(["fusermount3", "-u", mnt])
        proc.wait()
        print(f"{target:5d} events: mount to first file {first * 1000:7.1f} ms, ls of a month {month * 1000:6.2f} ms, "
              f"ls -R {lsr * 1000:8.1f} ms ({lsr / target * 1000:.3f} ms/event), peak RSS {hwm} MiB")


if __name__ == "__main__":
    main()
