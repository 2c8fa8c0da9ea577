//! Reads work from any repository: a read-only bind mount of a sound one, a full disk,
//! and they say exactly what is wrong with an unreadable catalog or a repository path
//! that is a file. A catalog whose rows are nonsense panics nothing and removes nothing
//! outside the repository. These need root (bind mounts, tmpfs, another user).

use crate::support::{files_source, member_of, mount, stderr_of, Scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> bool {
    let me = Command::new("id").arg("-u").output().unwrap();
    let ok = String::from_utf8_lossy(&me.stdout).trim() == "0";
    if !ok {
        crate::support::skip("needs root (bind mounts, tmpfs, switching users)");
    }
    ok
}

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(out.status.success(), "{cmd}: {out:?}");
}

/// Unmounts `dir` when dropped.
struct Mnt(PathBuf);

impl Drop for Mnt {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A repository with one event of `data/` (two files), and the member of `a.txt`.
fn repo_with_an_event(s: &Scratch, repo: &Path) -> (String, Vec<u8>) {
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.txt"), b"alpha\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(d.join("b.bin"), &big).unwrap();
    write_config(s, repo, &files_source("f", &[&d]));
    s.cmd(&["backup"]).assert().code(0);
    (member_of("f", &d.join("a.txt")), b"alpha\n".to_vec())
}

fn write_config(s: &Scratch, repo: &Path, extra: &str) {
    std::fs::write(
        s.config(),
        format!(
            "repository = {:?}\nhost = \"testhost\"\n{extra}\n",
            repo.display().to_string()
        ),
    )
    .unwrap();
}

/// Every read command works on `repo`, through `-R` and through a mount.
fn reads_work(s: &Scratch, repo: &Path, member: &str, bytes: &[u8]) {
    let r = repo.to_string_lossy().to_string();
    for args in [
        vec!["-R", &r, "list"],
        vec!["-R", &r, "show", "latest"],
        vec!["-R", &r, "verify", "latest"],
        vec!["-R", &r, "diff", "latest", "latest"],
    ] {
        let out = s.cmd(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
    }
    let out = s
        .cmd(&["-R", &r, "cat", "latest", member])
        .output()
        .unwrap();
    assert_eq!(out.stdout, bytes, "{}", stderr_of(&out));
    let out = s.cmd(&["-R", &r, "verify", "--all"]).output().unwrap();
    assert!(
        !stderr_of(&out).contains("catalog"),
        "verify --all: {}",
        stderr_of(&out)
    );
    if mount::available() {
        let cfg = s.path().join("read.toml");
        std::fs::write(&cfg, format!("repository = {:?}\nhost = \"testhost\"\n", r)).unwrap();
        let m = mount::Mounted::new(&cfg, &s.path().join("mnt"));
        let got = std::fs::read(m.dir.join("latest").join(member)).unwrap();
        assert_eq!(got, bytes);
    }
}

#[test]
fn every_read_works_on_a_read_only_bind_mount_of_a_repository() {
    if !root() {
        return;
    }
    let s = Scratch::new();
    let (member, bytes) = repo_with_an_event(&s, &s.repo());
    let ro = s.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    sh(&format!(
        "mount --bind {} {}",
        s.repo().display(),
        ro.display()
    ));
    let _m = Mnt(ro.clone());
    sh(&format!("mount -o remount,bind,ro {}", ro.display()));
    reads_work(&s, &ro, &member, &bytes);
    // A write says the filesystem is read-only, in one line.
    let out = s
        .cmd(&["-R", &ro.to_string_lossy(), "forget", "1"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(err.contains("read-only"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn reads_work_on_a_full_disk_and_a_backup_says_the_disk_is_full() {
    if !root() {
        return;
    }
    let s = Scratch::new();
    let disk = s.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    sh(&format!(
        "mount -t tmpfs -o size=8m tmpfs {}",
        disk.display()
    ));
    let _m = Mnt(disk.clone());
    let repo = disk.join("repo");
    let (member, bytes) = repo_with_an_event(&s, &repo);
    // Fill the disk to the last block.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", disk.join("filler").display()))
        .output();
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=512"])
        .arg(format!("of={}", disk.join("filler2").display()))
        .output();
    reads_work(&s, &repo, &member, &bytes);
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(err.contains("disk is full"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    // Nothing was lost: the event is still there and whole.
    std::fs::remove_file(disk.join("filler")).unwrap();
    let out = s.cmd(&["cat", "1", &member]).output().unwrap();
    assert_eq!(out.stdout, bytes);
}

#[test]
fn an_unreadable_catalog_or_a_repository_that_is_a_file_is_named_as_such() {
    if !root() {
        return;
    }
    let s = Scratch::new();
    let (_, _) = repo_with_an_event(&s, &s.repo());
    // Another user, who cannot read the owner-only repository.
    let strata = assert_cmd::cargo::cargo_bin("strata");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&strata)
        .arg("-R")
        .arg(s.repo())
        .arg("list")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        !err.contains("holds no catalog") && !err.contains("os error"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let file = s.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = s
        .cmd(&["-R", &file.to_string_lossy(), "list"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(
        err.contains("is a file, not a repository directory"),
        "{err}"
    );

    let out = s
        .cmd(&["-R", &s.path().join("nowhere").to_string_lossy(), "list"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr_of(&out).contains("no repository at"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn nonsense_in_the_catalog_panics_nothing_and_removes_nothing_outside_the_repository() {
    let s = Scratch::new();
    let (member, _) = repo_with_an_event(&s, &s.repo());
    let outside = s.path().join("precious.tar");
    std::fs::write(&outside, b"keep me").unwrap();
    std::fs::write(s.path().join("precious.meta"), b"keep me too").unwrap();
    let db = s.repo().join("catalog.sqlite3");
    let weird = [
        String::new(),
        "x".into(),
        "é".into(),
        "2026/11/éé".into(),
        "../precious.tar".into(),
        outside.to_string_lossy().to_string(),
    ];
    for _ in &weird {
        s.cmd(&["backup"]).assert().code(0);
    }
    for (i, file) in weird.iter().enumerate() {
        // Event 1 keeps an odd row; each round gives one more event an odd row, as a
        // finished event and then as a run that died (cleanup's case).
        let id = i as i64 + 2;
        set_file(&db, 1, file);
        set_file(&db, id, file);
        let running = format!("UPDATE events SET completed = {} WHERE id = {id}", -999);
        let id = id.to_string();
        for args in [
            vec!["list"],
            vec!["show", "1"],
            vec!["cat", "1", &member],
            vec!["verify", "--all"],
            vec!["diff", "1", &id],
            vec!["prune", "--keep-last", "1", "--dry-run"],
            vec!["forget", &id],
            vec!["backup"],
        ] {
            if args[0] == "backup" {
                sql(&db, &running);
            }
            let out = s.cmd(&args).output().unwrap();
            let err = stderr_of(&out);
            assert!(
                !err.contains("panicked") && out.status.code() != Some(101),
                "file {file:?} ({i}), {args:?}: {err}"
            );
        }
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep me");
    }
    let out = s.cmd(&["prune", "--keep-last", "1"]).output().unwrap();
    assert!(!stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep me");
    assert_eq!(
        std::fs::read(s.path().join("precious.meta")).unwrap(),
        b"keep me too"
    );
}

fn sql(db: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Sets event `id`'s `file` to `file` with the sqlite3 CLI.
fn set_file(db: &Path, id: i64, file: &str) {
    sql(
        db,
        &format!(
            "UPDATE events SET file = '{}' WHERE id = {id};",
            file.replace('\'', "''")
        ),
    );
}

/// Turns the one event of `s` into `n` events (catalog rows copied, archives hard
/// links), as a repository that ran for years would hold.
fn many_events(s: &Scratch, n: i64) -> Vec<strata::model::Event> {
    let ev = s.events().pop().unwrap();
    let db = s.repo().join("catalog.sqlite3");
    sql(
        &db,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO events (id, host, start_time, end_time, completed, bytes, file, sha256, error, warnings, info, binlog_only)
             SELECT i, host, start_time + i, end_time + i, completed, bytes, replace(file, '_1.tar', '_' || i || '.tar'), sha256, error, warnings, info, binlog_only
             FROM events, n WHERE events.id = 1;
             INSERT INTO members (event_id, path, source, kind, tar_offset, compressed_size, size, sha256, blake3, mode, mtime, uid, gid, link_target)
             SELECT e.id, m.path, m.source, m.kind, m.tar_offset, m.compressed_size, m.size, m.sha256, m.blake3, m.mode, m.mtime, m.uid, m.gid, m.link_target
             FROM members m, events e WHERE m.event_id = 1 AND e.id > 1;
             INSERT INTO frames (member_id, idx, offset, compressed_size, uoffset, size)
             SELECT m2.id, f.idx, f.offset, f.compressed_size, f.uoffset, f.size
             FROM frames f JOIN members m1 ON f.member_id = m1.id AND m1.event_id = 1
             JOIN members m2 ON m2.path = m1.path AND m2.event_id > 1;
             UPDATE counters SET value = {n} WHERE name = 'last_event_id';"
        ),
    );
    let tar = s.repo().join(&ev.file);
    for i in 2..=n {
        let name = ev.file.replace("_1.tar", &format!("_{i}.tar"));
        std::fs::hard_link(&tar, s.repo().join(name)).unwrap();
    }
    // Event 1's own archive a file of its own again (one link, like any archive).
    let copy = tar.with_extension("copy");
    std::fs::copy(&tar, &copy).unwrap();
    std::fs::rename(&copy, &tar).unwrap();
    s.events()
}

fn open_fds(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn one_mount_reads_two_thousand_archives_with_few_descriptors_and_lets_pruned_ones_go() {
    if !mount::available() {
        return;
    }
    let s = Scratch::new();
    let (member, bytes) = repo_with_an_event(&s, &s.repo());
    let events = many_events(&s, 2000);
    assert_eq!(events.len(), 2000);
    let m = mount::Mounted::new(&s.config(), &s.path().join("mnt"));
    // Far fewer descriptors than archives: the mount must not keep each one open.
    let limit = Command::new("prlimit")
        .arg(format!("--pid={}", m.pid()))
        .arg("--nofile=256:256")
        .status()
        .unwrap();
    assert!(limit.success());
    for ev in &events {
        let dir = format!("{}/{}", &ev.file[..7], ev.id);
        let got = std::fs::read(m.dir.join(dir).join(&member))
            .unwrap_or_else(|e| panic!("event {}: {e}", ev.id));
        assert_eq!(got, bytes, "event {}", ev.id);
    }
    let held = open_fds(m.pid());
    assert!(held.len() < 200, "{} descriptors open", held.len());
    // A forgotten event's archive is let go: its space comes back while mounted.
    let first = &events[0];
    let dir = format!("{}/{}", &first.file[..7], first.id);
    let other = member.replace("a.txt", "b.bin");
    std::fs::read(m.dir.join(dir).join(&other)).unwrap();
    assert!(open_fds(m.pid()).iter().any(|p| p.ends_with(&first.file)));
    s.cmd(&["forget", "1"]).assert().code(0);
    let ev = &events[5];
    let dir = format!("{}/{}", &ev.file[..7], ev.id);
    std::fs::read(m.dir.join(dir).join(&other)).unwrap();
    let deleted: Vec<String> = open_fds(m.pid())
        .into_iter()
        .filter(|p| p.contains("(deleted)"))
        .collect();
    assert!(deleted.is_empty(), "{deleted:?}");
}

/// Every path under `dir` with its bytes (files) and modification time.
fn tree(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>, std::time::SystemTime)> {
    let mut v: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(|e| {
            let md = e.metadata().unwrap();
            let bytes = md.is_file().then(|| std::fs::read(e.path()).unwrap());
            (e.path().to_path_buf(), bytes, md.modified().unwrap())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn a_dry_run_changes_nothing_and_verify_reports_an_interrupted_removal() {
    let s = Scratch::new();
    repo_with_an_event(&s, &s.repo());
    s.cmd(&["backup"]).assert().code(0);
    s.cmd(&["backup"]).assert().code(0);
    // Event 1's removal was cut short: marked deleting, its archive gone, the rest there.
    let ev = s.events().remove(0);
    sql(
        &s.repo().join("catalog.sqlite3"),
        "UPDATE events SET completed = 4 WHERE id = 1",
    );
    std::fs::remove_file(s.repo().join(&ev.file)).unwrap();
    let before = tree(s.path());
    for args in [
        vec!["prune", "--keep-last", "1", "--dry-run"],
        vec!["forget", "2", "--dry-run"],
    ] {
        let out = s.cmd(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
        let after = tree(s.path());
        let changed: Vec<_> = after
            .iter()
            .filter(|a| !before.contains(a))
            .map(|a| a.0.clone())
            .chain(
                before
                    .iter()
                    .filter(|b| !after.contains(b))
                    .map(|b| b.0.clone()),
            )
            .collect();
        assert!(changed.is_empty(), "{args:?} changed {changed:?}");
    }
    let out = s.cmd(&["verify", "--all"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    assert!(
        text.contains("event 1: its removal was interrupted"),
        "{text}"
    );
    // The next real run finishes it, and verify is content again.
    s.cmd(&["prune", "--keep-last", "5"]).assert().code(0);
    s.cmd(&["verify", "--all"]).assert().code(0);
}

#[test]
fn an_empty_repository_path_or_a_config_without_sources_is_refused() {
    let s = Scratch::new();
    std::fs::write(s.config(), "repository = \"\"\n").unwrap();
    let out = s.cmd(&["config", "check"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr_of(&out).contains("key `repository`"),
        "{}",
        stderr_of(&out)
    );
    s.write_config("");
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr_of(&out).contains("names no [[source]]"),
        "{}",
        stderr_of(&out)
    );
    assert!(!s.repo().join("catalog.sqlite3").exists());
    let out = s.cmd(&["verify", "--remote"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr_of(&out).contains("no [[target]]"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_metrics_file_that_cannot_be_written_makes_the_backup_exit_1() {
    let s = Scratch::new();
    let d = s.path().join("d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("x"), b"x").unwrap();
    let blocked = s.path().join("metrics-is-a-dir");
    std::fs::create_dir_all(&blocked).unwrap();
    s.write_config(&format!(
        "metrics_file = {:?}\n{}",
        blocked.display().to_string(),
        files_source("f", &[&d])
    ));
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("metrics_file"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(s.events().len(), 1);
}
