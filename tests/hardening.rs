//! What testing on repositories nobody here wrote found: archives overwritten after a
//! lost catalog, damage `verify` did not see, frame lists that disagree with the
//! archive, `reindex` stopped by one bad file, loose modes, leaked environment,
//! restores that stopped half-way.

use crate::support::{files_source, member_of, shell_source, tree, Scratch};
use std::os::unix::fs::PermissionsExt;

fn sha(p: &std::path::Path) -> String {
    strata::archive::writer::sha256_file(p).unwrap()
}

/// A repository with two events of a files source: a 3 MiB file and a small one.
fn two_events() -> (Scratch, std::path::PathBuf) {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    tree::big_file(&src.join("big"), 3 << 20, 7);
    std::fs::write(src.join("small"), b"small").unwrap();
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    s.cmd(&["backup"]).assert().code(0);
    (s, src)
}

fn sql(s: &Scratch, q: &str) {
    let c = rusqlite::Connection::open(s.repo().join("catalog.sqlite3")).unwrap();
    c.execute_batch(q).unwrap();
}

#[test]
fn a_lost_or_emptied_catalog_never_lets_a_backup_reuse_an_id_or_replace_an_archive() {
    for how in ["deleted", "emptied"] {
        let (s, _) = two_events();
        let files: Vec<_> = s.events().iter().map(|e| s.repo().join(&e.file)).collect();
        let before: Vec<String> = files.iter().map(|f| sha(f)).collect();
        let cat = s.repo().join("catalog.sqlite3");
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", cat.display()));
        }
        if how == "deleted" {
            std::fs::remove_file(&cat).unwrap();
        } else {
            std::fs::write(&cat, b"").unwrap();
        }
        let out = s.cmd(&["backup"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{how}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not in the catalog") && err.contains("strata reindex"),
            "{how}: {err}"
        );
        assert_eq!(
            files.iter().map(|f| sha(f)).collect::<Vec<_>>(),
            before,
            "{how}"
        );
        s.cmd(&["verify", "--all"]).assert().code(1);

        s.cmd(&["reindex"]).assert().code(0);
        s.cmd(&["backup"]).assert().code(0);
        let ids: Vec<i64> = s.events().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![1, 2, 3], "{how}");
        assert_eq!(
            files.iter().map(|f| sha(f)).collect::<Vec<_>>(),
            before,
            "{how}"
        );
        s.cmd(&["verify", "--all"]).assert().code(0);
    }
}

#[test]
fn the_final_rename_never_replaces_an_existing_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"new").unwrap();
    std::fs::write(&b, b"old").unwrap();
    assert!(strata::archive::writer::rename_noreplace(&a, &b).is_err());
    assert_eq!(std::fs::read(&b).unwrap(), b"old");
    std::fs::remove_file(&b).unwrap();
    strata::archive::writer::rename_noreplace(&a, &b).unwrap();
    assert_eq!(std::fs::read(&b).unwrap(), b"new");
}

#[test]
fn verify_all_finds_damaged_sidecars_orphans_missing_archives_and_a_damaged_catalog() {
    let (s, _) = two_events();
    s.cmd(&["verify", "--all"]).assert().code(0);
    let tar = s.repo().join(&s.events()[0].file);
    // Every byte of every sidecar matters.
    for ext in ["meta", "err", "tar.sha256"] {
        let p = tar.with_extension(ext);
        let orig = std::fs::read(&p).unwrap();
        for at in [0, orig.len() / 2, orig.len().saturating_sub(2)] {
            if orig.is_empty() {
                break;
            }
            let mut bad = orig.clone();
            bad[at] ^= 0x01;
            std::fs::write(&p, &bad).unwrap();
            let out = s.cmd(&["verify", "--all"]).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(1),
                "{ext} byte {at} flipped went unnoticed"
            );
        }
        std::fs::write(&p, &orig).unwrap();
    }
    s.cmd(&["verify", "--all"]).assert().code(0);
    // An archive the catalog does not know.
    let stray = tar.with_file_name("otherhost_2020-01-01_99.tar");
    std::fs::copy(&tar, &stray).unwrap();
    let out = s.cmd(&["verify", "--all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("orphan"));
    std::fs::remove_file(&stray).unwrap();
    // An event whose archive is gone.
    let moved = s.path().join("moved.tar");
    std::fs::rename(&tar, &moved).unwrap();
    let out = s.cmd(&["verify", "--all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
    std::fs::rename(&moved, &tar).unwrap();
    s.cmd(&["verify", "--all"]).assert().code(0);
    // A damaged catalog is never called clean.
    let cat = s.repo().join("catalog.sqlite3");
    let mut bytes = std::fs::read(&cat).unwrap();
    // The end of page 2, the `events` table's root, where SQLite keeps its rows (the
    // middle of the file may be a page's unused space, which no check can miss).
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    for b in &mut bytes[2 * page - 64..2 * page] {
        *b ^= 0x5a;
    }
    std::fs::write(&cat, &bytes).unwrap();
    let out = s.cmd(&["verify", "--all"]).output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(0),
        "a damaged catalog was called clean"
    );
}

#[test]
fn frames_moved_in_the_catalog_are_refused_by_cat_restore_verify_and_the_vfs() {
    let (s, src) = two_events();
    let big = member_of("f", &src.join("big"));
    let m = s.catalog().member(2, &big).unwrap().unwrap();
    assert!(m.frames.len() >= 3);
    let mid = m.frames[1].compressed_size;
    // Swap the first two frames' places: each frame is valid, the order is wrong.
    sql(
        &s,
        &format!(
            "UPDATE frames SET offset = CASE idx WHEN 0 THEN {mid} WHEN 1 THEN 0 END
             WHERE idx IN (0, 1) AND member_id = (SELECT id FROM members WHERE event_id = 2 AND path = '{big}')"
        ),
    );
    let out = s.cmd(&["cat", "2", &big]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("seek table"));
    let to = s.path().join("r");
    let out = s
        .cmd(&["restore", "2", "--to", to.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&big));
    let restored_big = to.join(big.trim_start_matches('/'));
    assert!(!restored_big.exists(), "a wrong file was left behind");
    let small = to.join(member_of("f", &src.join("small")));
    assert_eq!(
        std::fs::read(&small).unwrap(),
        b"small",
        "the sound member was not restored"
    );
    s.cmd(&["verify", "2"]).assert().code(1);

    // The vfs refuses too, without FUSE in between.
    let vfs = strata::vfs::Vfs::new(
        s.catalog(),
        Box::new(strata::store::local::LocalStore::new(s.repo())),
        strata::vfs::Options {
            cache_bytes: 1 << 24,
            readahead: 1 << 20,
            threads: 1,
        },
    );
    let ev = &s.events()[1];
    let path = format!("{}/{}/{big}", &ev.file[..7], ev.id);
    let root = strata::vfs::inode::encode(strata::vfs::inode::Ino::Root);
    let ino = path
        .split('/')
        .fold(root, |at, name| vfs.lookup(at, name).unwrap().ino);
    let fh = vfs.open(ino).unwrap();
    assert_eq!(vfs.read(ino, fh, 0, 4096).err(), Some(libc::EIO));
}

#[test]
fn a_frame_claiming_gigabytes_is_refused_before_anything_is_allocated() {
    let (s, src) = two_events();
    let big = member_of("f", &src.join("big"));
    sql(
        &s,
        &format!(
            "UPDATE frames SET size = 3000000000 WHERE idx = 0 AND member_id = (SELECT id FROM members WHERE event_id = 2 AND path = '{big}');
             UPDATE members SET size = size + 3000000000 WHERE event_id = 2 AND path = '{big}'"
        ),
    );
    let out = s.cmd(&["cat", "2", &big]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn reindex_rebuilds_every_sound_archive_and_lists_the_ones_it_skipped() {
    let (s, _) = two_events();
    let evs = s.events();
    let first = s.repo().join(&evs[0].file);
    let dir = first.parent().unwrap().to_path_buf();
    // A truncated copy, an unrelated tar, a duplicate of event 1 under another name.
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(
        dir.join("testhost_2026-01-01_7.tar"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    std::process::Command::new("tar")
        .args([
            "-cf",
            dir.join("notes.tar").to_str().unwrap(),
            "-C",
            s.path().to_str().unwrap(),
            "strata.toml",
        ])
        .status()
        .unwrap();
    std::fs::copy(&first, dir.join("copy_2026-01-01_1.tar")).unwrap();
    let out = s.cmd(&["reindex"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for skipped in [
        "testhost_2026-01-01_7.tar",
        "notes.tar",
        "copy_2026-01-01_1.tar",
    ] {
        assert!(err.contains(skipped), "{skipped} not listed: {err}");
    }
    let ids: Vec<i64> = s.events().iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![1, 2]);
    s.cmd(&["cat", "1", &member_of("f", &s.path().join("src/small"))])
        .assert()
        .code(0)
        .stdout("small");
    // Archives it could not read block backups (they may hold ids) until moved away;
    // an unrelated `notes.tar` does not.
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("move out"));
    for f in ["testhost_2026-01-01_7.tar", "copy_2026-01-01_1.tar"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    s.cmd(&["backup"]).assert().code(0);
    assert_eq!(
        s.events().last().unwrap().id,
        8,
        "ids must pass the skipped archive's 7"
    );
}

#[test]
fn everything_strata_writes_is_owner_only_whatever_the_umask() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("secret"), b"s3cret").unwrap();
    s.write_config(&files_source("f", &[&src]));
    let bin = assert_cmd::cargo::cargo_bin("strata");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec {} --config {} backup",
            bin.display(),
            s.config().display()
        ))
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    for e in walkdir::WalkDir::new(s.repo()) {
        let e = e.unwrap();
        let mode = e.metadata().unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "{} is {:o}",
            e.path().display(),
            mode & 0o777
        );
    }
    s.cmd(&["verify", "--all"]).assert().code(0);
    // Another user reads nothing, whatever tar and zstd they try.
    if unsafe { libc::geteuid() } != 0 {
        crate::support::skip("reading as another user needs root");
    } else {
        std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let tar = s.repo().join(&s.events()[0].file);
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(&tar)
            .output()
            .unwrap();
        assert!(!out.status.success(), "another user read the archive");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    }
    // A repository with loose modes is reported.
    std::fs::set_permissions(s.repo(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = s.cmd(&["verify", "--all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("other users"));
}

#[test]
fn commands_and_notifiers_never_see_strata_s_secrets() {
    let s = Scratch::new();
    s.write_config(&shell_source("e", "env", "env.txt"));
    s.cmd(&["backup"])
        .env("MYSQL_PWD", "hunter2-secret")
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret")
        .assert()
        .code(0);
    let out = s.cmd(&["cat", "latest", "e/env.txt"]).output().unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.contains("PATH="), "{env}");
    assert!(
        !env.contains("hunter2") && !env.contains("aws-secret"),
        "{env}"
    );
}

#[test]
fn events_are_named_by_id_latest_or_latest_tilde_n_and_json_times_are_rfc3339() {
    let s = Scratch::new();
    s.write_config(&shell_source("c", "date +%N", "out"));
    for _ in 0..3 {
        s.cmd(&["backup"]).assert().code(0);
    }
    let cat = |r: &str| s.cmd(&["cat", r, "c/out"]).output().unwrap().stdout;
    assert_eq!(cat("latest"), cat("3"));
    assert_eq!(cat("latest~2"), cat("1"));
    s.cmd(&["cat", "latest~3", "c/out"]).assert().code(2);
    s.cmd(&["cat", "newest", "c/out"]).assert().code(2);
    let out = s.cmd(&["list", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = v[0]["start_time"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.repo().join(&s.events()[0].file).with_extension("meta")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["start_time"], v[0]["start_time"]);
}

#[test]
fn mount_refuses_a_non_empty_directory() {
    let s = Scratch::new();
    s.write_config(&shell_source("c", "echo x", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let mp = s.path().join("mnt");
    std::fs::create_dir_all(&mp).unwrap();
    std::fs::write(mp.join("keep"), b"k").unwrap();
    let out = s.cmd(&["mount", mp.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(std::fs::read(mp.join("keep")).unwrap(), b"k");
}

#[test]
fn the_manifest_is_found_from_the_end_of_the_archive_without_walking_the_headers() {
    let (s, _) = two_events();
    let tar = s.repo().join(&s.events()[0].file);
    let before = strata::archive::scan::read_manifest(&tar).unwrap();
    assert_eq!(before.writer.as_ref().unwrap().frame_size, 256 << 10);
    // Break the first tar header: a walk stops there, the locator does not need it.
    let mut bytes = std::fs::read(&tar).unwrap();
    bytes[148..156].copy_from_slice(b"0000000\0");
    std::fs::write(&tar, &bytes).unwrap();
    assert!(strata::archive::scan::read(&tar).is_err());
    let after = strata::archive::scan::read_manifest(&tar).unwrap();
    assert_eq!(after.members, before.members);
    assert_eq!(after.event.id, 1);
    // And the archive is still a plain tar that tar(1) lists up to the manifest.
    let tar2 = s.repo().join(&s.events()[1].file);
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar2)
        .output()
        .unwrap();
    assert!(out.status.success());
    let names = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        names.lines().last(),
        Some("strata-manifest.json"),
        "{names}"
    );
}
