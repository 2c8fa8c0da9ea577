//! Backup then restore, by strata and by plain tar + zstd + sha256sum: every byte and
//! every recorded attribute comes back.

use crate::support::{files_source, member_of, tree, Scratch};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// Compares two trees: names, kinds, bytes, symlink targets; with `meta`, mode and mtime.
fn assert_same_tree(a: &Path, b: &Path, meta: bool) {
    let list = |root: &Path| -> Vec<_> {
        walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap().path().strip_prefix(root).unwrap().to_path_buf())
            .collect()
    };
    let (la, lb) = (list(a), list(b));
    assert_eq!(la, lb, "different file lists");
    for rel in la.iter().filter(|r| !r.as_os_str().is_empty()) {
        let (pa, pb) = (a.join(rel), b.join(rel));
        let (ma, mb) = (
            std::fs::symlink_metadata(&pa).unwrap(),
            std::fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{rel:?}: kind");
        if ma.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(&pa).unwrap(),
                std::fs::read_link(&pb).unwrap(),
                "{rel:?}: target"
            );
        } else if ma.is_file() {
            assert!(
                std::fs::read(&pa).unwrap() == std::fs::read(&pb).unwrap(),
                "{rel:?}: bytes differ"
            );
        }
        if meta && !ma.file_type().is_symlink() {
            assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "{rel:?}: mode");
            assert_eq!(ma.mtime(), mb.mtime(), "{rel:?}: mtime");
        }
        if meta {
            assert_eq!((ma.uid(), ma.gid()), (mb.uid(), mb.gid()), "{rel:?}: owner");
        }
    }
}

#[test]
fn an_odd_tree_round_trips_through_restore_and_through_plain_tar_and_zstd() {
    let s = Scratch::new();
    let src = s.path().join("src");
    tree::odd_tree(&src, 110 << 20);
    s.write_config(&files_source("files", &[&src]));
    s.cmd(&["backup"]).assert().code(0);

    // The big file is cut into many frames.
    let cat = s.catalog();
    let big = cat
        .member(1, &member_of("files", &src.join("big.bin")))
        .unwrap()
        .unwrap();
    assert_eq!(big.size, 110 << 20);
    assert_eq!(
        big.frames.len() as u64,
        (110 << 20) / strata::config::DEFAULT_FRAME_SIZE
    );

    // strata restore: bytes and metadata.
    let out = s.path().join("restored");
    s.cmd(&["restore", "1", "--to"]).arg(&out).assert().code(0);
    let restored_src = out.join("files").join(src.strip_prefix("/").unwrap());
    assert_same_tree(&src, &restored_src, true);

    // Plain tools: sha256sum -c on the sidecar, tar -xf, zstd -d of every member.
    let ev = &s.events()[0];
    let tar_path = s.repo().join(&ev.file);
    let ok = Command::new("sha256sum")
        .arg("-c")
        .arg(tar_path.with_extension("tar.sha256"))
        .current_dir(tar_path.parent().unwrap())
        .status()
        .unwrap();
    assert!(ok.success(), "sha256sum -c failed");
    let plain = s.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(&tar_path)
        .current_dir(&plain)
        .status()
        .unwrap();
    assert!(ok.success(), "tar -xf failed");
    for e in walkdir::WalkDir::new(&plain) {
        let p = e.unwrap().into_path();
        if p.extension().is_some_and(|x| x == "zst") && p.is_file() {
            let ok = Command::new("zstd")
                .args(["-q", "-d", "--rm"])
                .arg(&p)
                .status()
                .unwrap();
            assert!(ok.success(), "zstd -d {p:?}");
        }
    }
    // A 255-byte name has no room for `.zst`: it is stored under its own name.
    let long = plain
        .join("files")
        .join(src.strip_prefix("/").unwrap())
        .join("n".repeat(255));
    let ok = Command::new("sh")
        .arg("-c")
        .arg("zstd -q -d -c \"$1\" > \"$2\" && mv \"$2\" \"$1\"")
        .arg("sh")
        .arg(&long)
        .arg(s.path().join("long.tmp"))
        .status()
        .unwrap();
    assert!(ok.success(), "zstd -d of the long name");
    std::fs::remove_file(plain.join("strata-manifest.json")).unwrap();
    let plain_src = plain.join("files").join(src.strip_prefix("/").unwrap());
    assert_same_tree(&src, &plain_src, false);
}

#[test]
fn restore_of_one_path_writes_only_that_member_and_refuses_nothing_else() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("a/one"), b"1").unwrap();
    std::fs::write(src.join("two"), b"2").unwrap();
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    let out = s.path().join("out");
    let want = member_of("f", &src.join("a"));
    s.cmd(&["restore", "1", &want, "--to"])
        .arg(&out)
        .assert()
        .code(0);
    let base = out.join("f").join(src.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(base.join("a/one")).unwrap(), b"1");
    assert!(!base.join("two").exists());
    // An unknown path is an error that says how to list members.
    s.cmd(&["restore", "1", "f/no/such", "--to"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("strata show 1"));
}

#[test]
fn restore_refuses_to_write_through_a_symlink_planted_in_the_target() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/file"), b"x").unwrap();
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    let out = s.path().join("out");
    let outside = s.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let base = out.join("f").join(src.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::symlink(&outside, base.join("d")).unwrap();
    let file = member_of("f", &src.join("d/file"));
    s.cmd(&["restore", "1", &file, "--to"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("symlink"));
    assert!(
        !outside.join("file").exists(),
        "wrote outside the restore directory"
    );
    // A whole restore replaces the planted link by the recorded directory.
    s.cmd(&["restore", "1", "--to"]).arg(&out).assert().code(0);
    assert!(std::fs::symlink_metadata(base.join("d")).unwrap().is_dir());
    assert!(
        !outside.join("file").exists(),
        "wrote outside the restore directory"
    );
}

#[test]
fn cat_streams_a_member_and_a_closed_pipe_is_not_an_error() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    tree::big_file(&src.join("big"), 5 << 20, 9);
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    let m = member_of("f", &src.join("big"));
    let out = s.cmd(&["cat", "1", &m]).output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout == std::fs::read(src.join("big")).unwrap());
    let bin = assert_cmd::cargo::cargo_bin("strata");
    let sh = format!(
        "set -o pipefail; {:?} --config {:?} cat 1 {:?} | head -c 10 >/dev/null",
        bin,
        s.config(),
        m
    );
    let st = Command::new("bash").args(["-c", &sh]).status().unwrap();
    assert!(st.success(), "cat into a closed pipe failed");
}
