//! Bad input: a clear one-line error, a non-zero exit, nothing marked complete.

use crate::support::{files_source, shell_source, Scratch};

fn one_line_error(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    err
}

#[test]
fn an_unknown_key_is_refused_with_file_line_and_key() {
    let s = Scratch::new();
    s.write_config(
        "[[source]]\nkind = \"files\"\ninclude = [\"/etc/hostname\"]\nexclude_regexp = [\"x\"]\n",
    );
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    let want = format!("{}: line 6: key `exclude_regexp`", s.config().display());
    assert!(err.contains(&want), "{err}");
    assert!(
        !s.repo().exists(),
        "a bad config must not touch the repository"
    );
}

#[test]
fn a_wrong_type_is_refused_with_file_line_and_key() {
    let s = Scratch::new();
    s.write_config("workers = \"four\"\n");
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("line 3: key `workers`"), "{err}");
}

#[test]
fn a_missing_config_file_says_how_to_point_at_one() {
    let s = Scratch::new();
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(
        err.contains("--config") && err.contains("STRATA_CONFIG"),
        "{err}"
    );
}

#[test]
fn a_missing_include_path_fails_the_event_and_names_the_path() {
    let s = Scratch::new();
    let missing = s.path().join("no-such-dir");
    s.write_config(&files_source("f", &[&missing]));
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let evs = s.events();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].status(), "failed");
    assert!(!s.repo().join(&evs[0].file).exists());
}

#[test]
fn a_failing_command_makes_the_event_partial_keeping_the_other_sources_and_its_stderr() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"f").unwrap();
    let cfg = format!(
        "{}{}",
        files_source("f", &[&src]),
        shell_source(
            "dump",
            "echo partial; echo 'dump: connection refused' >&2; exit 3",
            "dump.sql"
        )
    );
    s.write_config(&cfg);
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("source 'dump'") && err.contains("exit status: 3") && err.contains("partial"),
        "{err}"
    );
    let ev = &s.events()[0];
    assert_eq!(ev.status(), "partial");
    assert!(ev.error.as_deref().unwrap_or("").contains("source 'dump'"));
    assert!(
        s.repo().join(&ev.file).exists(),
        "a partial event keeps its archive"
    );
    // The source that worked is readable.
    let f = crate::support::member_of("f", &src.join("f"));
    s.cmd(&["cat", "latest", &f]).assert().code(0).stdout("f");
    let err_file = std::fs::read_to_string(s.repo().join(&ev.file).with_extension("err")).unwrap();
    assert!(err_file.contains("dump: connection refused"), "{err_file}");
    assert!(err_file.contains("error: source 'dump'"), "{err_file}");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.repo().join(&ev.file).with_extension("meta")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["status"], "partial");
    assert!(meta["failed_sources"][0]
        .as_str()
        .unwrap()
        .contains("source 'dump'"));
    let show = s.cmd(&["show", "1", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["event"]["status"], "partial");
    assert!(v["event"]["bytes"].as_u64().unwrap() > 0);
    s.cmd(&["verify", "--all"]).assert().code(0);
}

#[test]
fn an_event_whose_only_source_fails_is_failed_and_keeps_no_archive() {
    let s = Scratch::new();
    s.write_config(&shell_source("dump", "echo x; exit 3", "dump.sql"));
    s.cmd(&["backup"]).assert().code(2);
    let ev = &s.events()[0];
    assert_eq!(ev.status(), "failed");
    assert!(!s.repo().join(&ev.file).exists());
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.repo().join(&ev.file).with_extension("meta")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["status"], "failed");
    assert_eq!(meta["bytes"], 0);
    s.cmd(&["cat", "1", "dump/dump.sql"]).assert().code(2);
    s.cmd(&["verify", "--all"]).assert().code(0);
}

#[test]
fn help_describes_every_argument_and_names_latest() {
    for cmd in ["show", "cat", "restore", "diff", "verify", "mount", "list"] {
        let out = crate::support::strata()
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        // Every argument and option line carries a description after its name.
        let bare: Vec<&str> = help
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                (t.starts_with('<') || t.starts_with('-') || t.starts_with("["))
                    && !t.contains("  ")
            })
            .collect();
        assert!(bare.is_empty(), "{cmd}: undocumented {bare:?}\n{help}");
        if cmd != "list" && cmd != "mount" {
            assert!(help.contains("latest~N"), "{cmd}: {help}");
        }
    }
}
