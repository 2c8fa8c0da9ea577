//! The FUSE mount, for real: listings, `cp -a`, random reads, concurrent readers, new
//! events while mounted, corruption, read-only, clean and stale unmounts.

use crate::support::mount::{self, wait_until, Mounted};
use crate::support::{files_source, member_of, shell_source, tree, Scratch};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A repository with two events of a small tree and one multi-frame file.
fn two_events() -> (Scratch, PathBuf) {
    let s = Scratch::new();
    let src = s.path().join("src");
    tree::odd_tree(&src, 6 << 20);
    let cfg = format!(
        "{}{}",
        files_source("files", &[&src]),
        shell_source("cmd", "seq 1 1000", "seq.txt")
    );
    s.write_config(&cfg);
    s.cmd(&["backup"]).assert().code(0);
    std::fs::write(src.join("added later"), b"second event only\n").unwrap();
    s.cmd(&["backup"]).assert().code(0);
    (s, src)
}

fn event_dir(s: &Scratch, mnt: &Path, id: i64) -> PathBuf {
    let ev = s.catalog().event(id).unwrap().unwrap();
    mnt.join(&ev.file[..7]).join(id.to_string())
}

#[test]
fn the_tree_lists_events_and_cp_a_gives_back_the_originals() {
    if !mount::available() {
        return;
    }
    let (s, src) = two_events();
    let mnt = s.path().join("mnt");
    let m = Mounted::new(&s.config(), &mnt);

    let latest = std::fs::read_link(mnt.join("latest")).unwrap();
    let e2 = event_dir(&s, &mnt, 2);
    assert_eq!(mnt.join(&latest), e2);
    let e1 = event_dir(&s, &mnt, 1);
    let mut ids: Vec<String> = std::fs::read_dir(e1.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["1", "2"]);

    // Exact sizes before any read, as ls -l and stat show them.
    let big = e2.join(member_of("files", &src.join("big.bin")));
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 6 << 20);
    assert_eq!(std::fs::metadata(&big).unwrap().mtime(), 1_500_000_000);
    let out = Command::new("find").arg(&mnt).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("added later"));
    assert!(Command::new("ls")
        .arg("-lR")
        .arg(&mnt)
        .output()
        .unwrap()
        .status
        .success());

    // cp -a of an event: the originals, and the same as strata restore.
    let copy = s.path().join("copy");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&e2)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success());
    let copied_src = copy.join("files").join(src.strip_prefix("/").unwrap());
    for e in walkdir::WalkDir::new(&src) {
        let p = e.unwrap().into_path();
        let c = copied_src.join(p.strip_prefix(&src).unwrap());
        let (a, b) = (
            std::fs::symlink_metadata(&p).unwrap(),
            std::fs::symlink_metadata(&c).unwrap(),
        );
        assert_eq!(a.file_type(), b.file_type(), "{p:?}");
        if a.is_file() {
            assert!(
                std::fs::read(&p).unwrap() == std::fs::read(&c).unwrap(),
                "{p:?}"
            );
            assert_eq!(a.mode() & 0o7777, b.mode() & 0o7777, "{p:?}");
            assert_eq!(a.mtime(), b.mtime(), "{p:?}");
        } else if a.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(&p).unwrap(),
                std::fs::read_link(&c).unwrap()
            );
        }
    }
    // Every file equals strata cat of its member.
    for mem in s
        .catalog()
        .members(2)
        .unwrap()
        .iter()
        .filter(|m| m.kind.has_content())
    {
        let out = s.cmd(&["cat", "2", &mem.path]).output().unwrap();
        assert!(
            std::fs::read(e2.join(&mem.path)).unwrap() == out.stdout,
            "{}",
            mem.path
        );
    }
    assert_eq!(
        std::fs::read(e2.join("cmd/seq.txt")).unwrap(),
        Command::new("seq")
            .args(["1", "1000"])
            .output()
            .unwrap()
            .stdout
    );
    drop(m);
}

#[test]
fn random_preads_of_a_multi_frame_member_return_the_right_bytes() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    tree::big_file(&src.join("big"), (5 << 20) + 12345, 77);
    s.write_config(&format!(
        "frame_size = \"256KiB\"\n{}",
        files_source("f", &[&src])
    ));
    s.cmd(&["backup"]).assert().code(0);
    let want = std::fs::read(src.join("big")).unwrap();
    let mnt = s.path().join("mnt");
    let _m = Mounted::new(&s.config(), &mnt);
    let f =
        std::fs::File::open(event_dir(&s, &mnt, 1).join(member_of("f", &src.join("big")))).unwrap();
    let mut x: u64 = 12345;
    for _ in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = x % want.len() as u64;
        let len = (x >> 40) as usize % 300_000 + 1;
        let mut buf = vec![0u8; len];
        let n = f.read_at(&mut buf, off).unwrap();
        let end = (off as usize + len).min(want.len());
        assert_eq!(n, end - off as usize, "short read at {off}");
        assert!(
            buf[..n] == want[off as usize..end],
            "bytes differ at {off}+{len}"
        );
    }
    // Reading exactly at a frame boundary and at the end.
    let mut b = [0u8; 10];
    assert_eq!(f.read_at(&mut b, (256 << 10) - 5).unwrap(), 10);
    assert_eq!(&b[..], &want[(256 << 10) - 5..(256 << 10) + 5]);
    assert_eq!(f.read_at(&mut b, want.len() as u64).unwrap(), 0);
    // A sequential read of the whole file (read-ahead ramping up) gives every byte.
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut &f, &mut all).unwrap();
    assert!(all == want, "sequential read differs");
    // As root, strata widened the kernel's read-ahead on the mount's own device.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(&mnt).unwrap().dev();
        let (major, minor) = (libc::major(dev), libc::minor(dev));
        let ra = std::fs::read_to_string(format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb"));
        assert_eq!(ra.unwrap().trim(), "4096");
    }
}

#[test]
fn eight_concurrent_readers_of_different_and_same_files_get_correct_bytes() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..4 {
        tree::big_file(&src.join(format!("f{i}")), 3 << 20, i + 1);
    }
    s.write_config(&format!(
        "frame_size = \"128KiB\"\n{}",
        files_source("f", &[&src])
    ));
    s.cmd(&["backup"]).assert().code(0);
    let mnt = s.path().join("mnt");
    let _m = Mounted::new(&s.config(), &mnt);
    let dir = event_dir(&s, &mnt, 1);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            // readers 0-3 read f0..f3; readers 4-7 all read f0
            let name = format!("f{}", if t < 4 { t } else { 0 });
            let path = dir.join(member_of("f", &src.join(&name)));
            let want_path = src.join(&name);
            std::thread::spawn(move || {
                let want = std::fs::read(want_path).unwrap();
                for _ in 0..3 {
                    let got = std::fs::read(&path).unwrap();
                    assert!(got == want, "{path:?}: wrong bytes");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a reader failed");
    }
}

#[test]
fn a_new_event_appears_while_mounted() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    s.write_config(&shell_source("c", "echo one", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let mnt = s.path().join("mnt");
    let _m = Mounted::new(&s.config(), &mnt);
    let e1 = event_dir(&s, &mnt, 1);
    assert!(e1.exists());
    assert!(!e1.parent().unwrap().join("2").exists());
    s.write_config(&shell_source("c", "echo two", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let e2 = event_dir(&s, &mnt, 2);
    wait_until("latest to move to event 2", || {
        std::fs::read_link(mnt.join("latest"))
            .map(|l| mnt.join(l))
            .ok()
            == Some(e2.clone())
    });
    assert_eq!(std::fs::read(e2.join("c/out")).unwrap(), b"two\n");
    assert_eq!(std::fs::read(mnt.join("latest/c/out")).unwrap(), b"two\n");
}

#[test]
fn a_flipped_byte_gives_eio_on_that_file_only() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    tree::big_file(&src.join("bad"), 2 << 20, 3);
    std::fs::write(src.join("good"), b"still fine\n").unwrap();
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    let bad = member_of("f", &src.join("bad"));
    s.damage_frame(&bad, 1);

    let mnt = s.path().join("mnt");
    let _m = Mounted::new(&s.config(), &mnt);
    let dir = event_dir(&s, &mnt, 1);
    let e = std::fs::read(dir.join(&bad)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    // The first frame is intact and still reads.
    let fh = std::fs::File::open(dir.join(&bad)).unwrap();
    let mut head = vec![0u8; 4096];
    fh.read_exact_at(&mut head, 0).unwrap();
    assert!(head == std::fs::read(src.join("bad")).unwrap()[..4096]);
    assert_eq!(
        std::fs::read(dir.join(member_of("f", &src.join("good")))).unwrap(),
        b"still fine\n"
    );
}

/// A repository with one tiny event, mounted; `None` when FUSE is missing.
fn one_event_mounted() -> Option<(Scratch, PathBuf, Mounted)> {
    if !mount::available() {
        return None;
    }
    let s = Scratch::new();
    s.write_config(&shell_source("c", "echo x", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let mnt = s.path().join("mnt");
    let m = Mounted::new(&s.config(), &mnt);
    Some((s, mnt, m))
}

#[test]
fn writes_are_refused_and_sigterm_unmounts_cleanly() {
    let Some((_s, mnt, mut m)) = one_event_mounted() else {
        return;
    };
    let f = mnt.join("latest/c/out");
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    let e = std::fs::write(mnt.join("latest/c/new"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    let e = std::fs::remove_file(&f).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    assert_eq!(m.stop(), Some(0));
    assert!(!mount::is_mounted(&mnt), "still mounted after SIGTERM");
}

#[test]
fn a_stale_mountpoint_is_reported_with_the_command_that_clears_it() {
    let Some((s, mnt, mut m)) = one_event_mounted() else {
        return;
    };
    m.kill();
    let out = s.cmd(&["mount"]).arg(&mnt).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("fusermount3 -u {}", mnt.display())),
        "{err}"
    );
    assert!(Command::new("fusermount3")
        .arg("-u")
        .arg(&mnt)
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_deleted_archive_fails_only_its_own_event() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    s.write_config(&shell_source("c", "echo one", "out"));
    s.cmd(&["backup"]).assert().code(0);
    s.write_config(&shell_source("c", "echo two", "out"));
    s.cmd(&["backup"]).assert().code(0);
    std::fs::remove_file(s.repo().join(&s.events()[0].file)).unwrap();
    let mnt = s.path().join("mnt");
    let _m = Mounted::new(&s.config(), &mnt);
    let e = std::fs::read(event_dir(&s, &mnt, 1).join("c/out")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert_eq!(
        std::fs::read(event_dir(&s, &mnt, 2).join("c/out")).unwrap(),
        b"two\n"
    );
    assert_eq!(std::fs::read(mnt.join("latest/c/out")).unwrap(), b"two\n");
}

#[test]
fn the_mount_follows_a_catalog_rebuilt_by_reindex_without_a_remount() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    s.write_config(&shell_source("c", "echo one", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let mnt = s.path().join("mnt");
    let _m = Mounted::new(&s.config(), &mnt);
    assert_eq!(std::fs::read(mnt.join("latest/c/out")).unwrap(), b"one\n");
    std::fs::remove_file(s.repo().join("catalog.sqlite3")).unwrap();
    s.cmd(&["reindex"]).assert().code(0);
    s.write_config(&shell_source("c", "echo two", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let e2 = event_dir(&s, &mnt, 2);
    wait_until("event 2 to appear after the reindex", || e2.exists());
    assert_eq!(std::fs::read(e2.join("c/out")).unwrap(), b"two\n");
    assert_eq!(
        std::fs::read(event_dir(&s, &mnt, 1).join("c/out")).unwrap(),
        b"one\n"
    );
}

#[test]
fn strata_itself_refuses_writes_when_the_kernel_would_let_them_through() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    s.write_config(&shell_source("c", "echo x", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let mnt = s.path().join("mnt");
    let _m = Mounted::with_env(
        &s.config(),
        &mnt,
        &[],
        &[("STRATA_TEST_MOUNT_WITHOUT_RO", "1")],
    );
    let f = mnt.join("latest/c/out");
    let erofs = |r: std::io::Result<()>, what: &str| {
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EROFS), "{what}");
    };
    erofs(
        std::fs::OpenOptions::new().write(true).open(&f).map(|_| ()),
        "open for writing",
    );
    erofs(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&f)
            .map(|_| ()),
        "open for appending",
    );
    erofs(std::fs::write(mnt.join("latest/c/new"), b"x"), "create");
    erofs(std::fs::remove_file(&f), "unlink");
    erofs(std::fs::create_dir(mnt.join("latest/c/d")), "mkdir");
    erofs(std::fs::rename(&f, mnt.join("latest/c/moved")), "rename");
    erofs(
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o777)),
        "chmod",
    );
    erofs(
        std::os::unix::fs::symlink("out", mnt.join("latest/c/l")),
        "symlink",
    );
    assert_eq!(std::fs::read(&f).unwrap(), b"x\n", "the file changed");
}

#[test]
fn other_users_see_the_mount_only_with_allow_other() {
    if !mount::available() {
        return;
    }
    if unsafe { libc::geteuid() } != 0 {
        crate::support::skip("switching to another user needs root");
        return;
    }
    let s = Scratch::new();
    crate::support::tree::chmod(s.path(), 0o755);
    s.write_config(&shell_source("c", "echo x", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let as_nobody = |path: &std::path::Path| {
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "ls"])
            .arg(path)
            .output()
            .unwrap()
    };
    let mnt = s.path().join("mnt");
    {
        let _m = Mounted::new(&s.config(), &mnt);
        let out = as_nobody(&mnt.join("latest/c"));
        assert!(!out.status.success(), "another user listed a private mount");
    }
    let _m = Mounted::with_args(&s.config(), &mnt, &["--allow-other"]);
    let out = as_nobody(&mnt.join("latest/c"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "out");
}

/// Peak resident memory of process `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[test]
fn frames_bigger_than_the_cache_are_served_right_without_growing_memory() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // 768 MiB cut into the biggest frames a reader accepts (64 MiB), mounted with an
    // 8 MiB cache: no frame fits, each read decodes its frame and lets it go.
    let file = src.join("sparse");
    let f = std::fs::File::create(&file).unwrap();
    f.set_len(768 << 20).unwrap();
    f.write_all_at(b"needle", 500 << 20).unwrap();
    drop(f);
    s.write_config(&format!(
        "frame_size = \"64MiB\"\n{}",
        files_source("f", &[&src])
    ));
    s.cmd(&["backup"]).assert().code(0);
    let mnt = s.path().join("mnt");
    let m = Mounted::new(&s.config(), &mnt);
    let path = mnt.join("latest").join(member_of("f", &file));
    let fh = std::fs::File::open(&path).unwrap();
    let mut buf = [0u8; 6];
    for i in 0..24u64 {
        let at = i * (32 << 20) + 12345;
        fh.read_exact_at(&mut buf, at).unwrap();
        assert_eq!(buf, [0u8; 6], "offset {at}");
    }
    fh.read_exact_at(&mut buf, 500 << 20).unwrap();
    assert_eq!(&buf, b"needle");
    let peak = peak_rss_mib(m.pid());
    assert!(
        peak < 400,
        "the mount peaked at {peak} MiB with an 8 MiB cache"
    );
}

#[test]
fn a_mount_tells_systemd_it_is_ready_once_it_serves_and_that_it_stops() {
    if !mount::available() {
        return;
    }
    let (s, _) = two_events();
    let sock_path = s.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mnt = s.path().join("mnt");
    let mut m = Mounted::with_env(
        &s.config(),
        &mnt,
        &[],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("READY=1 from the mount");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.starts_with("READY=1\n"), "{msg}");
    // Ready means serving: the tree is there.
    assert!(mnt.join("latest").exists());
    assert_eq!(m.stop(), Some(0));
    let n = sock.recv(&mut buf).expect("STOPPING=1 from the mount");
    assert_eq!(&buf[..n], b"STOPPING=1");
}
