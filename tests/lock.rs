//! A second backup while one runs exits at once with a clear message.

use crate::support::{shell_source, Scratch};
use std::time::{Duration, Instant};

#[test]
fn a_second_backup_exits_at_once_while_one_runs() {
    let s = Scratch::new();
    s.write_config(&shell_source("slow", "sleep 30", "out"));
    let mut first = s.spawn_backup();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.repo().join("catalog.sqlite3").exists() || s.events().is_empty() {
        assert!(Instant::now() < deadline, "first backup never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    s.cmd(&["backup"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains(
            "another strata backup is running",
        ));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second run waited"
    );
    first.kill().unwrap();
    first.wait().unwrap();
}
