//! `strata reindex` rebuilds the same catalog from the archives alone.

use crate::support::{files_source, shell_source, tree, Scratch};

fn listing(s: &Scratch) -> (serde_json::Value, Vec<serde_json::Value>) {
    let out = s.cmd(&["list", "--json"]).output().unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shows = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let id = e["id"].to_string();
            let out = s.cmd(&["show", &id, "--json"]).output().unwrap();
            assert!(out.status.success());
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    (list, shows)
}

#[test]
fn reindex_after_deleting_the_catalog_gives_back_the_same_events_and_members() {
    let s = Scratch::new();
    let src = s.path().join("src");
    tree::odd_tree(&src, 3 << 20);
    let cfg = format!(
        "{}{}",
        files_source("f", &[&src]),
        shell_source("c", "echo hi", "hi.txt")
    );
    s.write_config(&cfg);
    s.cmd(&["backup"]).assert().code(0);
    std::fs::write(src.join("new"), b"changed").unwrap();
    s.cmd(&["backup"]).assert().code(0);
    let before = listing(&s);
    let frames_before = s.catalog().members_with_frames(2).unwrap();

    for f in [
        "catalog.sqlite3",
        "catalog.sqlite3-wal",
        "catalog.sqlite3-shm",
    ] {
        let _ = std::fs::remove_file(s.repo().join(f));
    }
    s.cmd(&["list"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("strata reindex"));
    s.cmd(&["reindex"]).assert().code(0);
    assert_eq!(listing(&s), before);
    assert_eq!(s.catalog().members_with_frames(2).unwrap(), frames_before);
    s.cmd(&["verify", "--all"]).assert().code(0);
}
