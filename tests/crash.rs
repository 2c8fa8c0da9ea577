//! A backup killed with SIGKILL at any point leaves no event marked complete that is
//! not, and the next run completes and removes the leftovers.

use crate::support::{files_source, shell_source, tree, Scratch};
use std::time::{Duration, Instant};

/// Every complete event has its archive, and the archive matches its recorded hash; an
/// event that failed or was found interrupted has none. (A run killed after its rename
/// is still marked running with its archive there, until the next run cleans up; a run
/// killed before it named its archive has no file name at all.)
fn assert_consistent(s: &Scratch) {
    for ev in s.events() {
        if ev.file.is_empty() {
            assert!(
                !ev.is_readable(),
                "event {} complete without an archive name",
                ev.id
            );
            continue;
        }
        let tar = s.repo().join(&ev.file);
        if ev.is_readable() {
            assert!(
                tar.exists(),
                "event {} complete but {} missing",
                ev.id,
                ev.file
            );
            let sha = strata::archive::writer::sha256_file(&tar).unwrap();
            assert_eq!(Some(sha), ev.sha256, "event {}: archive hash", ev.id);
        } else if ev.completed != strata::model::RUNNING {
            assert!(
                !tar.exists(),
                "event {} is {} but its archive exists",
                ev.id,
                ev.status()
            );
        }
    }
}

fn partials(s: &Scratch) -> usize {
    walkdir::WalkDir::new(s.repo())
        .into_iter()
        .flatten()
        .filter(|e| e.path().to_string_lossy().ends_with(".partial"))
        .count()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_backup_killed_mid_stream_is_marked_interrupted_by_the_next_run() {
    let s = Scratch::new();
    s.write_config(&shell_source(
        "slow",
        "head -c 3000000 /dev/zero; sleep 60",
        "out",
    ));
    let mut child = s.spawn_backup();
    wait_for("the partial archive", || {
        partials(&s) == 1 && s.repo().join("catalog.sqlite3").exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let evs = s.events();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].completed, strata::model::RUNNING);

    s.write_config(&shell_source("quick", "echo ok", "out"));
    s.cmd(&["backup"]).assert().code(0);
    let evs = s.events();
    assert_eq!(evs[0].status(), "interrupted");
    assert!(evs[1].is_readable());
    assert_eq!(partials(&s), 0, "leftover .partial not removed");
    assert_consistent(&s);
}

/// The status a crash at `point` ends in, by the next backup or by a `reindex` run
/// first (then a backup): both orders must agree.
fn outcome_after_crash(point: &str, reindex_first: bool) -> (String, bool) {
    let s = Scratch::new();
    s.write_config(&shell_source("c", "echo data", "out"));
    let out = s
        .cmd(&["backup"])
        .env("STRATA_CRASH_AT", point)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "{point}: not killed");
    assert!(
        s.events().iter().all(|e| !e.is_readable()),
        "{point}: event marked complete before its catalog commit"
    );
    if reindex_first {
        s.cmd(&["reindex"]).assert().code(0);
    }
    s.cmd(&["backup"]).assert().code(0);
    let evs = s.events();
    assert_eq!(evs.len(), 2, "{point}");
    assert!(evs[1].is_readable(), "{point}");
    assert_eq!(evs[1].id, 2, "{point}: an id was reused");
    assert_consistent(&s);
    s.cmd(&["verify", "--all"]).assert().code(0);
    let kept = s.repo().join(&evs[0].file).exists();
    (evs[0].status().to_string(), kept)
}

#[test]
fn a_crash_at_each_step_of_finishing_ends_the_same_whether_reindex_or_backup_comes_next() {
    // Killed before its archive existed: interrupted, nothing kept.
    assert_eq!(
        outcome_after_crash("before-archive", false),
        ("interrupted".to_string(), false)
    );
    // Killed once its archive was durable: the next run completes it from the archive,
    // and a reindex first says the same; never complete in one order and gone in another.
    for point in ["after-rename", "before-catalog"] {
        for reindex_first in [false, true] {
            assert_eq!(
                outcome_after_crash(point, reindex_first),
                ("complete".to_string(), true),
                "{point}, reindex first: {reindex_first}"
            );
        }
    }
}

#[test]
fn kills_at_many_moments_never_break_the_repository() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..20 {
        tree::big_file(&src.join(format!("f{i}")), 1 << 20, i);
    }
    s.write_config(&files_source("f", &[&src]));
    for delay_ms in [5u64, 30, 80, 150, 300, 600] {
        let mut child = s.spawn_backup();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        if s.repo().join("catalog.sqlite3").exists() {
            // Dead runs may still be marked running here; never complete without data.
            assert_consistent(&s);
        }
    }
    s.cmd(&["backup"]).assert().code(0);
    assert_consistent(&s);
    assert_eq!(partials(&s), 0);
    assert!(s
        .events()
        .iter()
        .all(|e| e.completed != strata::model::RUNNING));
    s.cmd(&["verify", "--all"]).assert().code(0);
}
