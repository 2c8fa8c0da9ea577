//! `strata diff` follows diff(1): 0 same, 1 different, 2 trouble; one member's content
//! is compared as `diff -u` would.

use crate::support::{files_source, member_of, Scratch};

#[test]
fn diff_names_added_removed_and_changed_members_with_diff_exit_codes() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("kept"), b"same").unwrap();
    std::fs::write(src.join("edited"), b"v1").unwrap();
    std::fs::write(src.join("gone"), b"bye").unwrap();
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(0);
    std::fs::write(src.join("edited"), b"version 2").unwrap();
    std::fs::remove_file(src.join("gone")).unwrap();
    std::fs::write(src.join("new"), b"hi").unwrap();
    crate::support::tree::set_mtime(&src.join("kept"), 1_000_000_000);
    s.cmd(&["backup"]).assert().code(0);

    let out = s.cmd(&["diff", "1", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let want = [
        format!("M {}  (2 B -> 9 B)", member_of("f", &src.join("edited"))),
        format!("- {}", member_of("f", &src.join("gone"))),
        format!("m {}", member_of("f", &src.join("kept"))),
        format!("+ {}", member_of("f", &src.join("new"))),
    ];
    for w in &want {
        assert!(text.lines().any(|l| l == w), "missing {w:?} in:\n{text}");
    }
    s.cmd(&["diff", "1", "1"]).assert().code(0).stdout("");
    // One member: the unified diff of its content, which patch(1) applies.
    let new = member_of("f", &src.join("new"));
    s.cmd(&["diff", "1", "2", &new])
        .assert()
        .code(1)
        .stdout(format!(
        "--- /dev/null\n+++ b/{new}\tevent 2\n@@ -0,0 +1 @@\n+hi\n\\ No newline at end of file\n"
    ));
    let edited = member_of("f", &src.join("edited"));
    s.cmd(&["diff", "1", "2", &edited]).assert().code(1).stdout(format!(
        "--- a/{edited}\tevent 1\n+++ b/{edited}\tevent 2\n@@ -1 +1 @@\n-v1\n\\ No newline at end of file\n+version 2\n\\ No newline at end of file\n"
    ));
    let kept = member_of("f", &src.join("kept"));
    s.cmd(&["diff", "1", "2", &kept])
        .assert()
        .code(0)
        .stdout("");
    // A directory prefix still lists the members that changed under it.
    let dir = member_of("f", &src);
    let out = s.cmd(&["diff", "1", "2", &dir]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("+ {new}")));
    s.cmd(&["diff", "1", "99"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no event 99"));
}
