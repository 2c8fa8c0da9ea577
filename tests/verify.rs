//! `strata verify` and every read path catch damage and name the member and frame.

use crate::support::{files_source, member_of, tree, Scratch};

#[test]
fn verify_catches_a_flipped_byte_and_names_member_and_frame() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    tree::big_file(&src.join("big"), 3 << 20, 1);
    std::fs::write(src.join("small"), b"untouched").unwrap();
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    s.cmd(&["verify", "1"]).assert().code(0);

    let big = member_of("f", &src.join("big"));
    s.damage_frame(&big, 1);

    let out = s.cmd(&["verify", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("member {big}: frame 1")), "{err}");
    assert!(
        err.contains("SHA-256 differs"),
        "archive hash not reported: {err}"
    );
    assert!(
        !err.contains("small"),
        "an intact member was reported: {err}"
    );

    // cat fails on the bad member with the same naming, and still serves the good one.
    s.cmd(&["cat", "1", &big])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("frame 1"));
    s.cmd(&["cat", "1", &member_of("f", &src.join("small"))])
        .assert()
        .code(0)
        .stdout("untouched");
}

#[test]
fn verify_all_checks_every_complete_event() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("x"), b"x").unwrap();
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    s.cmd(&["backup"]).assert().code(0);
    let out = s.cmd(&["verify", "--all", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["repository"].as_array().unwrap().len(), 0);
    let v = &v["events"];
    let ids: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(v.as_array().unwrap().iter().all(|e| e["ok"] == true));
}
