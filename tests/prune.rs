//! `strata prune` and `forget`: restic's calendar rules on a synthetic two-year
//! calendar, crash safety at every step of a removal, and a mount that watches events
//! vanish while one of their files is open.

use crate::support::mount::{self, wait_until, Mounted};
use crate::support::{files_source, member_of, strata, Scratch};
use chrono::{Datelike, Local, TimeZone};
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use strata::model::{Event, COMPLETE, FAILED};

/// 400 events over two years, irregularly spaced (several a day at times, none for
/// days at others), each with small files where its archive and sidecars would be.
fn calendar(repo: &Path) -> Vec<(i64, i64)> {
    std::fs::create_dir_all(repo).unwrap();
    let mut cat = strata::catalog::Catalog::open(repo).unwrap();
    let mut t = Local
        .with_ymd_and_hms(2024, 11, 1, 2, 30, 0)
        .unwrap()
        .timestamp();
    let mut x: u64 = 12345;
    let mut out = Vec::new();
    for id in 1..=400i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // 1 h to ~87 h apart: 400 events span about two years.
        t += 3600 * (1 + (x >> 33) as i64 % 87);
        let file = strata::ops::layout::archive_name("cal", t, id);
        let ev = Event {
            id,
            host: "cal".into(),
            start_time: t,
            end_time: Some(t + 60),
            completed: if id % 97 == 0 { FAILED } else { COMPLETE },
            bytes: 1,
            file: file.clone(),
            sha256: None,
            error: None,
            warnings: 0,
            info: Default::default(),
        };
        cat.insert_event(&ev, &[]).unwrap();
        let p = repo.join(&file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        for ext in ["tar", "meta", "err", "tar.sha256"] {
            std::fs::write(p.with_extension(ext), b"x").unwrap();
        }
        out.push((id, t));
    }
    out
}

/// The oracle: restic's rules written out plainly, over (id, time), complete only.
fn expected(events: &[(i64, i64)], failed: &BTreeSet<i64>, flags: &[(&str, u32)]) -> BTreeSet<i64> {
    let mut complete: Vec<(i64, i64)> = events
        .iter()
        .copied()
        .filter(|(id, _)| !failed.contains(id))
        .collect();
    complete.sort_by_key(|e| std::cmp::Reverse(e.1));
    let mut keep = BTreeSet::new();
    for &(rule, n) in flags {
        let key = |t: i64| {
            let d = Local.timestamp_opt(t, 0).unwrap();
            match rule {
                "hourly" => d.format("%Y-%m-%d %H").to_string(),
                "daily" => d.format("%Y-%m-%d").to_string(),
                "weekly" => format!("{}-{}", d.iso_week().year(), d.iso_week().week()),
                "monthly" => d.format("%Y-%m").to_string(),
                "yearly" => d.format("%Y").to_string(),
                _ => unreachable!(),
            }
        };
        if rule == "last" {
            keep.extend(complete.iter().take(n as usize).map(|e| e.0));
            continue;
        }
        let mut seen = Vec::new();
        for &(id, t) in &complete {
            let k = key(t);
            if !seen.contains(&k) {
                if seen.len() == n as usize {
                    break;
                }
                seen.push(k);
                keep.insert(id);
            }
        }
    }
    keep
}

fn kept_by_dry_run(repo: &Path, args: &[&str]) -> BTreeSet<i64> {
    let out = strata()
        .arg("-R")
        .arg(repo)
        .args(["prune", "--dry-run", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn each_policy_on_a_two_year_calendar_keeps_exactly_what_restic_would() {
    let s = Scratch::new();
    let events = calendar(&s.repo());
    let failed: BTreeSet<i64> = events
        .iter()
        .map(|e| e.0)
        .filter(|id| id % 97 == 0)
        .collect();
    let newest = events
        .iter()
        .map(|e| e.0)
        .filter(|id| !failed.contains(id))
        .max()
        .unwrap();
    let with_failed_newer = |mut k: BTreeSet<i64>| {
        k.extend(failed.iter().filter(|&&id| id > newest));
        k
    };
    for (flags, args) in [
        (vec![("last", 10)], vec!["--keep-last", "10"]),
        (vec![("hourly", 30)], vec!["--keep-hourly", "30"]),
        (vec![("daily", 45)], vec!["--keep-daily", "45"]),
        (vec![("weekly", 20)], vec!["--keep-weekly", "20"]),
        (vec![("monthly", 18)], vec!["--keep-monthly", "18"]),
        (vec![("yearly", 5)], vec!["--keep-yearly", "5"]),
        (
            vec![
                ("last", 3),
                ("daily", 7),
                ("weekly", 4),
                ("monthly", 12),
                ("yearly", 3),
            ],
            vec![
                "--keep-last",
                "3",
                "--keep-daily",
                "7",
                "--keep-weekly",
                "4",
                "--keep-monthly",
                "12",
                "--keep-yearly",
                "3",
            ],
        ),
    ] {
        let want = with_failed_newer(expected(&events, &failed, &flags));
        assert_eq!(kept_by_dry_run(&s.repo(), &args), want, "{args:?}");
    }
    // --keep-within: everything up to 40 days before the newest event.
    let newest_t = events
        .iter()
        .filter(|e| !failed.contains(&e.0))
        .map(|e| e.1)
        .max()
        .unwrap();
    let since = Local
        .timestamp_opt(newest_t, 0)
        .unwrap()
        .checked_sub_months(chrono::Months::new(1))
        .unwrap()
        - chrono::Duration::days(10);
    let want: BTreeSet<i64> = events
        .iter()
        .filter(|(id, t)| !failed.contains(id) && *t >= since.timestamp())
        .map(|e| e.0)
        .collect();
    assert_eq!(
        kept_by_dry_run(&s.repo(), &["--keep-within", "1m10d"]),
        with_failed_newer(want)
    );

    // A dry run changed nothing.
    assert_eq!(s.catalog().events().unwrap().len(), 400);
    // An empty policy is refused.
    let out = strata()
        .arg("-R")
        .arg(s.repo())
        .arg("prune")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no retention policy"));

    // The real thing: rows and files of exactly the others go.
    let args = ["--keep-daily", "7", "--keep-monthly", "6"];
    let keep = kept_by_dry_run(&s.repo(), &args);
    strata()
        .arg("-R")
        .arg(s.repo())
        .arg("prune")
        .args(args)
        .assert()
        .code(0);
    let left: BTreeSet<i64> = s.catalog().events().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(left, keep);
    for (id, t) in &events {
        let tar = s
            .repo()
            .join(strata::ops::layout::archive_name("cal", *t, *id));
        for ext in ["tar", "meta", "err", "tar.sha256"] {
            assert_eq!(
                tar.with_extension(ext).exists(),
                keep.contains(id),
                "event {id} .{ext}"
            );
        }
    }
}

/// A repository of `n` small events made by real backups.
fn repository_of(n: usize) -> Scratch {
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    s.write_config(&files_source("f", &[&d]));
    for i in 0..n {
        std::fs::write(d.join("n.txt"), format!("version {i}\n").repeat(1000)).unwrap();
        s.cmd(&["backup"]).assert().code(0);
    }
    s
}

#[test]
fn a_prune_killed_at_any_step_is_finished_by_the_next_one() {
    let template = repository_of(6);
    // 4 events go, 7 steps each (mark, 5 files, row): points 1..=28.
    for point in 1..=28 {
        let s = Scratch::new();
        let ok = std::process::Command::new("cp")
            .arg("-a")
            .arg(template.repo())
            .arg(s.repo())
            .status()
            .unwrap();
        assert!(ok.success());
        let out = strata()
            .arg("-R")
            .arg(s.repo())
            .args(["prune", "--keep-last", "2"])
            .env("STRATA_CRASH_AT", format!("prune:{point}"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "point {point} was reached"
        );
        // Whatever is half-removed is not served.
        let listed = strata()
            .arg("-R")
            .arg(s.repo())
            .args(["list", "--json"])
            .output()
            .unwrap();
        let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        for e in listed.as_array().unwrap() {
            if e["status"] == "complete" {
                assert!(
                    s.repo().join(e["file"].as_str().unwrap()).exists(),
                    "point {point}: {e}"
                );
            }
        }
        strata()
            .arg("-R")
            .arg(s.repo())
            .args(["prune", "--keep-last", "2"])
            .assert()
            .code(0);
        let ids: Vec<i64> = s.catalog().events().unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![5, 6], "point {point}");
        strata()
            .arg("-R")
            .arg(s.repo())
            .args(["verify", "--all"])
            .assert()
            .code(0);
    }
}

#[test]
fn forget_removes_the_named_events_and_a_backup_finishes_an_interrupted_removal() {
    let s = repository_of(3);
    s.cmd(&["forget", "--dry-run", "2"]).assert().code(0);
    assert_eq!(s.events().len(), 3);
    s.cmd(&["forget", "2"]).assert().code(0);
    let ids: Vec<i64> = s.events().iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![1, 3]);
    s.cmd(&["forget", "9"]).assert().code(2);
    // Killed right after marking event 1: the next backup finishes it.
    let out = s
        .cmd(&["forget", "1"])
        .env("STRATA_CRASH_AT", "prune:1")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    assert_eq!(s.events()[0].status(), "deleting");
    s.cmd(&["backup"]).assert().code(0);
    let ids: Vec<i64> = s.events().iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![3, 4]);
    s.cmd(&["verify", "--all"]).assert().code(0);
}

#[test]
fn retention_in_the_config_runs_after_each_backup() {
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    s.write_config(&format!(
        "{}\n[retention]\nkeep_last = 2\n",
        files_source("f", &[&d])
    ));
    for i in 0..4 {
        std::fs::write(d.join("n"), format!("{i}")).unwrap();
        let out = s.cmd(&["backup"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "silent from cron"
        );
    }
    let ids: Vec<i64> = s.events().iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![3, 4]);
    s.write_config(&format!("{}\n[retention]\n", files_source("f", &[&d])));
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key `retention`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_mount_sees_pruned_events_vanish_and_an_open_file_keeps_its_bytes() {
    if !mount::available() {
        return;
    }
    let s = repository_of(3);
    let d = s.path().join("data");
    let first = s.events()[0].clone();
    let m = Mounted::new(&s.config(), &s.path().join("mnt"));
    let month = first.file[..7].to_string();
    let dir = m.dir.join(&month).join("1");
    let path = dir.join(member_of("f", &d.join("n.txt")));
    let want = "version 0\n".repeat(1000).into_bytes();
    let f = std::fs::File::open(&path).unwrap();
    let mut head = vec![0u8; 10];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut head, 0).unwrap();
    assert_eq!(head, &want[..10]);
    s.cmd(&["prune", "--keep-last", "1"]).assert().code(0);
    wait_until("event 1 to vanish", || !dir.exists());
    // The open file reads on, right bytes or an error, never wrong ones.
    let mut rest = vec![0u8; want.len()];
    match std::os::unix::fs::FileExt::read_exact_at(&f, &mut rest, 0) {
        Ok(()) => assert_eq!(rest, want),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}"),
    }
    assert!(std::fs::File::open(&path).is_err());
}

#[test]
fn a_mysql_backup_killed_mid_dump_leaves_no_spool_after_the_next_run() {
    let Some(db) = crate::support::mariadb::shared() else {
        return;
    };
    let name = format!("spool_{}", std::process::id());
    db.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB; \
         INSERT INTO `{name}`.t SELECT seq, REPEAT('spool', 30) FROM `{name}`.seq_1_to_300000"
    ))
    .unwrap();
    let s = Scratch::new();
    let pw = s.path().join("pw");
    std::fs::write(&pw, crate::support::mariadb::PASSWORD).unwrap();
    s.write_config(&format!(
        "[[source]]\nname = \"db\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\npassword_file = {:?}\ndatabases = [\"{name}\"]\nchunk_rows = 5000\nthreads = 2\n",
        db.port,
        crate::support::mariadb::USER,
        pw.display().to_string()
    ));
    let spools = |repo: &Path| -> Vec<String> {
        std::fs::read_dir(repo)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(".spool-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut child = s.spawn_backup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while spools(&s.repo()).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before it spooled"
        );
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !spools(&s.repo()).is_empty(),
        "killed mid-dump, the spool is left"
    );
    s.cmd(&["backup"]).assert().code(0);
    assert!(spools(&s.repo()).is_empty(), "{:?}", spools(&s.repo()));
    let statuses: Vec<&str> = s.events().iter().map(|e| e.status()).collect();
    assert_eq!(statuses, ["interrupted", "complete"]);
    s.cmd(&["verify", "--all"]).assert().code(0);
    db.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
}
