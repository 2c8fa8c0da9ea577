//! What an administrator watches: the Prometheus metrics file after a success and
//! after a failure (parsed by `prometheus_client`'s own parser), the listing's columns,
//! and `config check`.

use crate::support::{files_source, shell_source, Scratch};
use std::collections::BTreeMap;

/// Every sample of a text-format file, as `name{k="v",...}` -> value, parsed by the
/// reference Python client; `None` when it is not installed (a skip, a failure in CI).
fn parse_metrics(text: &str) -> Option<BTreeMap<String, f64>> {
    const PARSE: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out["%s{%s}" % (s.name, labels)] = s.value
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    use std::io::Write;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named") {
            crate::support::skip(
                "prometheus_client is not installed (pip install prometheus_client)",
            );
            return None;
        }
        panic!("the metrics file does not parse: {err}\n{text}");
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn the_metrics_file_says_how_the_last_run_went_after_success_and_failure() {
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a"), "x".repeat(5000)).unwrap();
    let prom = s.path().join("strata.prom");
    let cfg = |script: &str| {
        format!(
            "metrics_file = {:?}\n{}{}",
            prom.display().to_string(),
            files_source("f", &[&d]),
            shell_source("c", script, "out.txt")
        )
    };
    s.write_config(&cfg("echo hello"));
    s.cmd(&["backup"]).assert().code(0);
    let Some(m) = parse_metrics(&std::fs::read_to_string(&prom).unwrap()) else {
        return;
    };
    let ev = s.events().pop().unwrap();
    let h = "host=\"testhost\"";
    assert_eq!(m[&format!("strata_last_run_exit_code{{{h}}}")], 0.0);
    assert_eq!(m[&format!("strata_last_run_success{{{h}}}")], 1.0);
    assert_eq!(
        m[&format!("strata_last_success_timestamp_seconds{{{h}}}")],
        ev.end_time.unwrap() as f64
    );
    assert_eq!(
        m[&format!("strata_last_run_bytes_out{{{h}}}")],
        ev.bytes as f64
    );
    assert_eq!(
        m[&format!("strata_last_run_members{{{h}}}")],
        s.catalog().members(ev.id).unwrap().len() as f64
    );
    assert_eq!(m[&format!("strata_source_bytes{{{h},source=\"c\"}}")], 6.0);
    assert_eq!(m[&format!("strata_source_failed{{{h},source=\"f\"}}")], 0.0);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A failing source: the run is partial, the last success stays the first event's.
    s.write_config(&cfg("echo oops >&2; exit 3"));
    s.cmd(&["backup"]).assert().code(2);
    let m = parse_metrics(&std::fs::read_to_string(&prom).unwrap()).unwrap();
    assert_eq!(m[&format!("strata_last_run_exit_code{{{h}}}")], 2.0);
    assert_eq!(m[&format!("strata_last_run_success{{{h}}}")], 0.0);
    assert_eq!(m[&format!("strata_source_failed{{{h},source=\"c\"}}")], 1.0);
    assert_eq!(m[&format!("strata_source_failed{{{h},source=\"f\"}}")], 0.0);
    let newest = s.catalog().latest_complete().unwrap().unwrap();
    assert_eq!(
        m[&format!("strata_last_success_timestamp_seconds{{{h}}}")],
        newest.end_time.unwrap() as f64
    );
    let left: Vec<_> = std::fs::read_dir(s.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "no temporary file is left: {left:?}");
}

#[test]
fn list_shows_ratio_and_warnings_and_config_check_validates() {
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a"), "compressible ".repeat(100_000)).unwrap();
    s.write_config(&files_source("f", &[&d]));
    s.cmd(&["backup"]).assert().code(0);
    let out = s.cmd(&["list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "DATE", "STATUS", "SIZE", "DURATION", "RATIO", "WARN", "WHERE"]
    );
    let out = s.cmd(&["list", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v[0];
    assert_eq!(e["members"], 2);
    assert_eq!(e["uncompressed_bytes"], 1_300_000);
    assert!(e["ratio"].as_f64().unwrap() > 10.0, "{e}");
    assert_eq!(e["warnings"], 0);

    let out = s.cmd(&["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sources: f"));
    std::fs::write(
        s.config(),
        "repository = \"/r\"\n[retention]\nkeep_dayly = 3\n",
    )
    .unwrap();
    let out = s.cmd(&["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3: key `keep_dayly`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn backup_dry_run_lists_what_would_be_backed_up_and_writes_nothing() {
    let Some(db) = crate::support::mariadb::shared() else {
        return;
    };
    let name = format!("dryrun_{}", std::process::id());
    db.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY); INSERT INTO `{name}`.t VALUES (1),(2),(3); CREATE VIEW `{name}`.v AS SELECT 1"
    ))
    .unwrap();
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a"), "12345").unwrap();
    std::fs::write(d.join("b"), "123").unwrap();
    let pw = s.path().join("pw");
    std::fs::write(&pw, crate::support::mariadb::PASSWORD).unwrap();
    let mysql = |port: u16| {
        format!(
            "[[source]]\nname = \"db\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{}\"\npassword_file = {:?}\ndatabases = [\"{name}\"]\n",
            crate::support::mariadb::USER,
            pw.display().to_string()
        )
    };
    s.write_config(&format!(
        "{}{}{}",
        files_source("f", &[&d]),
        mysql(db.port),
        shell_source("c", "echo hi", "hi.txt")
    ));
    let out = s.cmd(&["backup", "--dry-run"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{}: 2 files, 8 bytes", d.display())),
        "{text}"
    );
    assert!(text.contains(&format!("db/{name}/t.sql: ~")), "{text}");
    assert!(text.contains(&format!("db/{name}/v.sql: view")), "{text}");
    assert!(
        text.contains("c/hi.txt: the output of sh -c \"echo hi\""),
        "{text}"
    );
    assert!(!s.repo().exists(), "a dry run writes nothing");

    s.write_config(&format!("{}{}", files_source("f", &[&d]), mysql(1)));
    let out = s.cmd(&["backup", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!s.repo().exists());
    db.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
}
