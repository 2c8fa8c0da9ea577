//! `strata binlog --follow` against a private MariaDB with `log_bin`: small events chain
//! end to end through a SIGKILL of the follower and a restart of the server, and
//! `strata load --until` (a time, a position, a GTID) rebuilds exactly the state of
//! each chosen moment, one of them inside a transaction.

use crate::mysql::{fingerprint_as, fresh_db, load_args, second, source};
use crate::support::mariadb::MariaDb;
use crate::support::Scratch;
use std::time::{Duration, Instant};

/// Waits into the next second, returns it as local time (what `--until` takes), and
/// waits past it: nothing written around the call carries that second.
fn moment() -> String {
    let now = chrono::Local::now;
    let next = 1_000_000 - now().timestamp_subsec_micros() as u64;
    std::thread::sleep(Duration::from_micros(next + 200_000));
    let m = now().format("%Y-%m-%d %H:%M:%S").to_string();
    std::thread::sleep(Duration::from_millis(1100));
    m
}

/// `FILE:POS` of the server now.
fn position(db: &MariaDb) -> String {
    let row = db.root_sql("SHOW MASTER STATUS").unwrap();
    let mut cols = row.split('\t');
    format!("{}:{}", cols.next().unwrap(), cols.next().unwrap())
}

/// The follower's newest recorded position, once it equals `want` (within 60 s).
fn wait_for_capture(s: &Scratch, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = s
            .events()
            .into_iter()
            .filter(|e| e.is_readable())
            .filter_map(|e| e.info.get("db.binlog_to").cloned())
            .next_back();
        if last.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the follower did not capture up to {want} (last: {last:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `strata load 1 NAME --rename NAME=TARGET <stop...>` into `into`, which must succeed.
pub(crate) fn load_until(s: &Scratch, into: &MariaDb, name: &str, target: &str, stop: &[&str]) {
    let mut args = vec![
        "load".to_string(),
        "1".into(),
        name.into(),
        "--rename".into(),
        format!("{name}={target}"),
    ];
    args.extend(stop.iter().map(|a| a.to_string()));
    args.extend(load_args(s, into));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.cmd(&refs).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "load {stop:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn binlog_follow_survives_sigkill_and_a_server_restart_and_load_stops_at_each_moment() {
    let Some(into) = second() else { return };
    let mut db = match MariaDb::start() {
        Ok(d) => d,
        Err(e) => {
            crate::support::skip(&format!("MariaDB cannot start: {e}"));
            return;
        }
    };
    let name = fresh_db("follow");
    db.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
         INSERT INTO `{name}`.t VALUES (1, 'base'), (2, 'base'), (3, 'base');"
    ))
    .unwrap();
    let s = Scratch::new();
    s.write_config(&source(
        &s,
        &db,
        &[&name],
        "binlogs = true\nbinlog_interval = \"1s\"",
    ));
    s.cmd(&["backup"]).assert().code(0);
    let mut follower = s.spawn(&["binlog", "--follow"]);
    let sql = |db: &MariaDb, q: &str| db.load(Some(&name), q.as_bytes()).unwrap();

    // t1: inserts.
    sql(&db, "INSERT INTO t VALUES (4, 'one'), (5, 'one');");
    let ref1 = fingerprint_as(&db, &name);
    let at1 = moment();

    // The follower is killed outright, and started again.
    follower.kill().unwrap();
    follower.wait().unwrap();
    let mut follower = s.spawn(&["binlog", "--follow"]);

    // t2: updates and deletes.
    sql(
        &db,
        "UPDATE t SET v = 'two' WHERE id < 3; DELETE FROM t WHERE id = 5;",
    );
    let ref2 = fingerprint_as(&db, &name);
    let gtid2 = db.root_sql("SELECT @@gtid_binlog_pos").unwrap();
    let at2 = moment();

    // The server restarts under the follower.
    db.restart().unwrap();

    // A transaction that spans seconds; a moment inside it sees none of it.
    let next = 1_000_000 - chrono::Local::now().timestamp_subsec_micros() as u64;
    std::thread::sleep(Duration::from_micros(next + 100_000));
    let inside = (chrono::Local::now() + chrono::Duration::seconds(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    sql(
        &db,
        "START TRANSACTION; INSERT INTO t VALUES (6, 'three'); DO SLEEP(2.2); UPDATE t SET v = 'three' WHERE id = 4; COMMIT;",
    );
    let ref3 = fingerprint_as(&db, &name);
    let pos3 = position(&db);

    // t3: the mistake.
    sql(&db, "DROP TABLE t;");
    wait_for_capture(&s, &position(&db));
    unsafe { libc::kill(follower.id() as i32, libc::SIGTERM) };
    let status = follower.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a signalled follower exits 0");

    // One chain: each event starts where the one before it stopped.
    let events: Vec<_> = s.events().into_iter().filter(|e| e.is_readable()).collect();
    assert!(
        events.len() >= 4,
        "small events were made: {}",
        events.len()
    );
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].info["db.binlog_from"], pair[0].info["db.binlog_to"],
            "event {} continues event {}",
            pair[1].id, pair[0].id
        );
    }
    s.cmd(&["list", "--pitr"]).assert().code(0);
    // The small events fold into one row of `strata list`, and none can be loaded alone.
    let list = String::from_utf8(s.cmd(&["list"]).output().unwrap().stdout).unwrap();
    let last = events.last().unwrap().id;
    assert!(list.lines().any(|l| l.contains(" binlog x")), "{list}");
    let mut alone = vec!["load".to_string(), last.to_string(), name.clone()];
    alone.extend(load_args(&s, into));
    let refs: Vec<&str> = alone.iter().map(String::as_str).collect();
    s.cmd(&refs)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("binary logs only"));

    for (target, stop, want) in [
        ("a1", vec!["--until", at1.as_str()], &ref1),
        ("a2", vec!["--until", at2.as_str()], &ref2),
        ("in", vec!["--until", inside.as_str()], &ref2),
        ("p3", vec!["--until-position", pos3.as_str()], &ref3),
        ("g2", vec!["--until-gtid", gtid2.trim()], &ref2),
    ] {
        let target = format!("{name}_{target}");
        load_until(&s, into, &name, &target, &stop);
        assert_eq!(&fingerprint_as(into, &target), want, "state at {stop:?}");
    }
}

#[test]
fn binlog_events_get_the_same_notifier_metrics_and_retention_as_backups() {
    let Some(db) = crate::support::mariadb::shared() else {
        return;
    };
    let name = crate::mysql::fresh_db("finish");
    db.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY)"
    ))
    .unwrap();
    let s = Scratch::new();
    let told = s.path().join("told.txt");
    let metrics = s.path().join("strata.prom");
    let config = |retention: &str| {
        s.write_config(&format!(
            "notify_command = \"cat >> {}\"\nnotify_on_success = true\nmetrics_file = {:?}\n{retention}{}",
            told.display(),
            metrics.display().to_string(),
            source(&s, db, &[&name], "binlogs = true")
        ))
    };
    config("");
    for _ in 0..3 {
        s.cmd(&["backup"]).assert().code(0);
    }
    // Retention set now: the first binlog event applies it.
    config("[retention]\nkeep_last = 2\n");
    std::fs::remove_file(&metrics).unwrap();
    for i in 0..3 {
        db.root_sql(&format!("INSERT INTO `{name}`.t VALUES ({i})"))
            .unwrap();
        let out = s.cmd(&["binlog"]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        s.events().iter().all(|e| e.id != 1),
        "retention did not run after the binlog events"
    );
    let text = std::fs::read_to_string(&told).unwrap();
    assert_eq!(
        text.matches("strata binlog on testhost: complete").count(),
        3,
        "{text}"
    );
    let prom = std::fs::read_to_string(&metrics).expect("binlog wrote the metrics file");
    assert!(
        prom.contains("strata_last_run_exit_code{host=\"testhost\"} 0"),
        "{prom}"
    );
}
