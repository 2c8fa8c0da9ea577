//! The MySQL/MariaDB source against a real server: every type round-trips into a
//! second fresh server, the snapshot is consistent, categories and the schema
//! directory behave, and failures fail the event with a clear message.

use crate::support::mariadb::{self, MariaDb};
use crate::support::Scratch;
use std::sync::OnceLock;

static DB_SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A fresh database name on the shared server, unique within the run.
pub(crate) fn fresh_db(prefix: &str) -> String {
    let n = DB_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}_{}_{n}", std::process::id())
}

/// Database `name` on `server`, utf8mb4, holding the type corpus.
pub(crate) fn corpus_db(server: &MariaDb, name: &str) {
    server
        .root_sql(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        .unwrap();
    server
        .load(Some(name), include_bytes!("fixtures/corpus.sql"))
        .unwrap();
}

/// A mysql source over `db` on `server`, with the password in a file.
pub(crate) fn source(s: &Scratch, server: &MariaDb, dbs: &[&str], extra: &str) -> String {
    let pw = s.path().join("mysql.pw");
    std::fs::write(&pw, format!("{}\n", mariadb::PASSWORD)).unwrap();
    let list: Vec<String> = dbs.iter().map(|d| format!("{d:?}")).collect();
    format!(
        "[[source]]\nname = \"db\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\npassword_file = {:?}\ndatabases = [{}]\n{extra}\n",
        server.port,
        mariadb::USER,
        pw.display().to_string(),
        list.join(", ")
    )
}

fn cat(s: &Scratch, id: i64, path: &str) -> Vec<u8> {
    let out = s.cmd(&["cat", &id.to_string(), path]).output().unwrap();
    assert!(
        out.status.success(),
        "cat {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every member of event `id` in whole-database order (`.database.sql`, each table,
/// `.objects.sql`), as `(member, bytes)`.
fn members_in_load_order(s: &Scratch, id: i64) -> Vec<(strata::model::Member, Vec<u8>)> {
    use strata::model::MemberKind;
    let members = s.catalog().members(id).unwrap();
    let mut out = Vec::new();
    for kind in [MemberKind::Database, MemberKind::Table, MemberKind::Objects] {
        for m in members.iter().filter(|m| m.kind == kind) {
            out.push((m.clone(), cat(s, id, &m.path)));
        }
    }
    out
}

/// The whole-database SQL of event `id`, joined from its members.
fn whole_database(s: &Scratch, id: i64) -> Vec<u8> {
    members_in_load_order(s, id)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect()
}

/// A second server for restores, started once per run.
pub(crate) fn second() -> Option<&'static MariaDb> {
    static S: OnceLock<Result<MariaDb, String>> = OnceLock::new();
    crate::support::service(S.get_or_init(MariaDb::start), "a second MariaDB")
}

#[test]
fn every_type_round_trips_into_a_fresh_server_table_by_table_and_whole() {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("fidelity");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    ))
    .unwrap();
    db1.load(Some(&name), include_bytes!("fixtures/corpus.sql"))
        .unwrap();
    let s = Scratch::new();
    s.write_config(&source(
        &s,
        db1,
        &[&name],
        "chunk_rows = 500\ninsert_bytes = 4096\nthreads = 3",
    ));
    s.cmd(&["backup"]).assert().code(0);

    let members = s.catalog().members(1).unwrap();
    let tables: Vec<&str> = members
        .iter()
        .filter(|m| m.kind == strata::model::MemberKind::Table)
        .map(|m| m.path.as_str())
        .collect();
    assert!(
        tables.contains(&format!("db/{name}/tablé ☃.sql").as_str()),
        "{tables:?}"
    );
    assert!(
        !tables.iter().any(|t| t.ends_with("/a_on_b.sql")),
        "views are objects, not tables"
    );
    let ev = &s.events()[0];
    assert!(
        ev.info.contains_key("db.gtid") || ev.info.contains_key("db.binlog_file"),
        "{:?}",
        ev.info
    );

    // The big table was dumped in ranges and joined: one INSERT row per line.
    let big = String::from_utf8(cat(&s, 1, &format!("db/{name}/big.sql"))).unwrap();
    assert_eq!(big.lines().filter(|l| l.starts_with('(')).count(), 3000);
    assert_eq!(big.matches("CREATE TABLE").count(), 1);
    assert!(big.trim_end().ends_with("*/;"));
    // Its ranges were hashed in order by the workers that dumped them: the recorded
    // hashes are those of the joined bytes, and verify agrees.
    let m = members
        .iter()
        .find(|m| m.path.ends_with("/big.sql"))
        .unwrap();
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(big.as_bytes()));
    assert_eq!(m.sha256.as_deref(), Some(sha.as_str()));
    let b3 = blake3::hash(big.as_bytes()).to_hex().to_string();
    assert_eq!(m.blake3.as_deref(), Some(b3.as_str()));
    s.cmd(&["verify", "1"]).assert().code(0);

    // Whole database: .database.sql + every table + .objects.sql.
    let mut whole = cat(&s, 1, &format!("db/{name}/.database.sql"));
    for t in &tables {
        whole.extend(cat(&s, 1, t));
    }
    whole.extend(cat(&s, 1, &format!("db/{name}/.objects.sql")));
    db2.load(None, &whole).unwrap();
    let want = db1.fingerprint(&name);
    assert_eq!(db2.fingerprint(&name), want);
    assert!(want.len() >= 14, "{want:?}");

    // Each table restores alone into an existing database.
    let routines = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ";
    assert_eq!(
        db2.root_sql(&format!("{routines}'{name}'")).unwrap().trim(),
        "2"
    );
    assert_eq!(
        db2.root_sql(&format!(
            "SELECT tripled FROM `{name}`.a_on_b ORDER BY id LIMIT 1"
        ))
        .unwrap()
        .trim(),
        "30"
    );
    assert_eq!(
        db2.root_sql(&format!("SELECT `{name}`.twice(21)"))
            .unwrap()
            .trim(),
        "42"
    );
    let trig = db2.root_sql(&format!("SELECT ACTION_STATEMENT, SQL_MODE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='{name}'")).unwrap();
    assert!(
        trig.contains("STRICT_TRANS_TABLES"),
        "trigger lost its sql_mode: {trig}"
    );
    for t in &tables {
        let table = t.rsplit('/').next().unwrap().trim_end_matches(".sql");
        db2.root_sql(&format!(
            "SET foreign_key_checks = 0; DROP TABLE `{name}`.`{}`",
            table.replace('`', "``")
        ))
        .unwrap();
        db2.load(Some(&name), &cat(&s, 1, t)).unwrap();
    }
    assert_eq!(db2.fingerprint(&name), want);
    // The sequence continues where it was.
    assert_eq!(
        db2.root_sql(&format!("SELECT NEXTVAL(`{name}`.seq1)"))
            .unwrap()
            .trim(),
        db1.root_sql(&format!("SELECT NEXTVAL(`{name}`.seq1)"))
            .unwrap()
            .trim()
    );
    // Spot checks of the values peers got wrong.
    let q = format!("SELECT HEX(f), HEX(d) FROM `{name}`.nums ORDER BY id");
    assert_eq!(db2.root_sql(&q).unwrap(), db1.root_sql(&q).unwrap());
    let q = format!("SELECT u, i6, HEX(lb), j FROM `{name}`.strs ORDER BY id");
    assert_eq!(db2.root_sql(&q).unwrap(), db1.root_sql(&q).unwrap());
    let emoji = db2
        .root_sql(&format!("SELECT t FROM `{name}`.strs WHERE id = 3"))
        .unwrap();
    assert_eq!(emoji.trim(), "emoji 😀 four bytes 𝄞");
    db2.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
}

#[test]
fn the_snapshot_is_consistent_across_tables_and_connections() {
    let Some(db) = mariadb::shared() else { return };
    let name = fresh_db("consistency");
    db.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.a (id INT AUTO_INCREMENT PRIMARY KEY, v INT);
         CREATE TABLE `{name}`.b (id INT AUTO_INCREMENT PRIMARY KEY, v INT);
         CREATE TABLE `{name}`.filler (id INT PRIMARY KEY, t TEXT);
         INSERT INTO `{name}`.filler SELECT seq, REPEAT('f', 200) FROM `{name}`.seq_1_to_20000;"
    ))
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let socket = db.socket.clone();
        let name = name.clone();
        std::thread::spawn(move || {
            let mut batches = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && batches < 400 {
                let mut sql = String::new();
                for _ in 0..50 {
                    sql += &format!("BEGIN; INSERT INTO `{name}`.a (v) VALUES (1); INSERT INTO `{name}`.b (v) VALUES (1); COMMIT;\n");
                }
                let ok = std::process::Command::new("mariadb")
                    .arg("--no-defaults")
                    .arg(format!("--socket={}", socket.display()))
                    .args(["-uroot", "-e", &sql])
                    .status()
                    .unwrap();
                assert!(ok.success());
                batches += 1;
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let s = Scratch::new();
    s.write_config(&source(&s, db, &[&name], "threads = 3"));
    for run in 1..=3 {
        s.cmd(&["backup"]).assert().code(0);
        let rows = |t: &str| {
            String::from_utf8(cat(&s, run, &format!("db/{name}/{t}.sql")))
                .unwrap()
                .lines()
                .filter(|l| l.starts_with('('))
                .count()
        };
        let (a, b) = (rows("a"), rows("b"));
        assert!(
            a > 0,
            "run {run}: no rows dumped; the writer had not started"
        );
        assert_eq!(
            a, b,
            "run {run}: a has {a} rows, b has {b}: not one snapshot"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
}

#[test]
fn categories_and_the_schema_directory_behave() {
    let Some(db) = mariadb::shared() else { return };
    let name = fresh_db("categories");
    db.root_sql(&format!(
        "CREATE DATABASE `{name}`;
         CREATE TABLE `{name}`.users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(50));
         INSERT INTO `{name}`.users (email) VALUES ('a@example.org'), ('b@example.org');
         CREATE TABLE `{name}`.cache_pages (k VARCHAR(20) PRIMARY KEY, v TEXT);
         INSERT INTO `{name}`.cache_pages VALUES ('home', 'cached html');
         CREATE TABLE `{name}`.tmp_import (id INT);
         INSERT INTO `{name}`.tmp_import VALUES (1);
         CREATE TABLE `{name}`.countries (code CHAR(2) PRIMARY KEY, name VARCHAR(50));
         INSERT INTO `{name}`.countries VALUES ('FR', 'France'), ('DE', 'Germany');"
    ))
    .unwrap();
    let s = Scratch::new();
    let schema = s.path().join("schema");
    let extra = format!(
        "ignore = [\"*.tmp_*\"]\nephemeral = [\"*.cache_*\"]\nglobal = [\"*.countries\"]\nschema_dir = {:?}",
        schema.display().to_string()
    );
    s.write_config(&source(&s, db, &[&name], &extra));
    s.cmd(&["backup"]).assert().code(0);
    let cat_catalog = s.catalog();
    assert!(
        cat_catalog
            .member(1, &format!("db/{name}/tmp_import.sql"))
            .unwrap()
            .is_none(),
        "ignored table dumped"
    );
    let cache = String::from_utf8(cat(&s, 1, &format!("db/{name}/cache_pages.sql"))).unwrap();
    assert!(
        cache.contains("CREATE TABLE") && !cache.contains("INSERT"),
        "{cache}"
    );
    let users = String::from_utf8(cat(&s, 1, &format!("db/{name}/users.sql"))).unwrap();
    assert!(users.contains("'b@example.org'"));

    let dir = schema.join("testhost").join(&name);
    let read = |t: &str| std::fs::read_to_string(dir.join(format!("{t}.sql"))).unwrap();
    let first: Vec<String> = ["users", "cache_pages", "countries"]
        .iter()
        .map(|t| read(t))
        .collect();
    assert!(
        !first[0].contains("INSERT") && !first[0].contains("example.org"),
        "user data in schema_dir"
    );
    assert!(!first[0].contains("AUTO_INCREMENT="), "{}", first[0]);
    assert!(
        first[2].contains("('DE','Germany'),\n('FR','France');"),
        "{}",
        first[2]
    );
    assert!(!dir.join("tmp_import.sql").exists());

    // New user rows (and a bumped AUTO_INCREMENT) change nothing in the schema files.
    db.root_sql(&format!(
        "INSERT INTO `{name}`.users (email) VALUES ('c@example.org')"
    ))
    .unwrap();
    s.cmd(&["backup"]).assert().code(0);
    let second: Vec<String> = ["users", "cache_pages", "countries"]
        .iter()
        .map(|t| read(t))
        .collect();
    assert_eq!(first, second);
    // A schema change shows up, and a dropped table's file goes.
    db.root_sql(&format!(
        "ALTER TABLE `{name}`.users ADD COLUMN age INT; DROP TABLE `{name}`.cache_pages"
    ))
    .unwrap();
    s.cmd(&["backup"]).assert().code(0);
    assert!(read("users").contains("`age` int"));
    assert!(!dir.join("cache_pages.sql").exists());
}

#[test]
fn a_wrong_password_fails_the_event_naming_host_and_port_without_the_secret() {
    let Some(db) = mariadb::shared() else { return };
    let s = Scratch::new();
    s.write_config(&source(&s, db, &["nothing"], ""));
    std::fs::write(s.path().join("mysql.pw"), "wrong-secret-value\n").unwrap();
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{}", db.port)), "{err}");
    assert!(err.contains("Access denied"), "{err}");
    assert!(
        !err.contains("Error {") && !err.contains("i32"),
        "debug output: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let ev = &s.events()[0];
    assert_eq!(ev.status(), "failed");
    for ext in ["err", "meta"] {
        let text = std::fs::read_to_string(s.repo().join(&ev.file).with_extension(ext)).unwrap();
        assert!(!text.contains("wrong-secret-value"), "secret in .{ext}");
    }
    assert!(!err.contains("wrong-secret-value"));
}

#[test]
fn an_unreachable_server_names_host_and_port() {
    let s = Scratch::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    s.write_config(&format!(
        "[[source]]\nname = \"db\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"x\"\n"
    ));
    let out = s.cmd(&["backup"]).env("MYSQL_PWD", "pw").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot connect to MySQL at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(s.events().iter().all(|e| !e.is_readable()));
}

#[test]
fn a_server_killed_mid_dump_fails_the_event() {
    let server = match MariaDb::start() {
        Ok(s) => s,
        Err(e) => {
            crate::support::skip(&format!("MariaDB cannot start: {e}"));
            return;
        }
    };
    server
        .root_sql(
            "CREATE DATABASE victim; CREATE TABLE victim.t (id INT PRIMARY KEY, p TEXT);
             INSERT INTO victim.t SELECT seq, REPEAT(MD5(seq), 20) FROM victim.seq_1_to_300000;",
        )
        .unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, &server, &["victim"], "threads = 1"));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .arg("--config")
        .arg(s.config())
        .arg("backup")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !s.repo().join(".spool-1").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dump never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    server.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{}", server.port)), "{err}");
    let ev = &s.events()[0];
    assert_eq!(ev.status(), "failed");
    assert!(!s.repo().join(&ev.file).exists());
    assert!(!s.repo().join(".spool-1").exists(), "spool left behind");
}

#[test]
fn notify_command_gets_a_summary_on_stdin() {
    let s = Scratch::new();
    let out = s.path().join("notified.txt");
    // By default a clean run notifies no one.
    s.write_config(&format!(
        "notify_command = [\"sh\", \"-c\", \"cat > {}\"]\n{}",
        out.display(),
        crate::support::shell_source("c", "echo hi", "o")
    ));
    s.cmd(&["backup"]).assert().code(0);
    assert!(!out.exists());
    s.write_config(&format!(
        "notify_command = [\"sh\", \"-c\", \"cat > {}\"]\nnotify_on_success = true\n{}",
        out.display(),
        crate::support::shell_source("c", "echo hi", "o")
    ));
    s.cmd(&["backup"]).assert().code(0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("strata backup on testhost: complete\n"),
        "{text}"
    );
    assert!(text.contains("members: 1"), "{text}");
    s.write_config(&format!(
        "notify_command = \"cat > {}\"\n{}",
        out.display(),
        crate::support::shell_source("c", "exit 4", "o")
    ));
    s.cmd(&["backup"]).assert().code(2);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("FAILED") && text.contains("exit status: 4"),
        "{text}"
    );
}

#[test]
fn the_password_comes_from_my_cnf_or_mysql_pwd_when_no_file_is_given() {
    let Some(db) = mariadb::shared() else { return };
    let name = fresh_db("mycnf");
    db.root_sql(&format!("CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY); INSERT INTO `{name}`.t VALUES (7)")).unwrap();
    let s = Scratch::new();
    let cfg = source(&s, db, &[&name], "").replace("password_file", "# password_file");
    s.write_config(&cfg);
    let home = s.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".my.cnf"),
        format!(
            "[mysqldump]\npassword=nope\n[client]\npassword = \"{}\"\n",
            mariadb::PASSWORD
        ),
    )
    .unwrap();
    s.cmd(&["backup"])
        .env("HOME", &home)
        .env_remove("MYSQL_PWD")
        .assert()
        .code(0);
    s.cmd(&["backup"])
        .env("HOME", s.path())
        .env("MYSQL_PWD", mariadb::PASSWORD)
        .assert()
        .code(0);
    let out = String::from_utf8(cat(&s, 2, &format!("db/{name}/t.sql"))).unwrap();
    assert!(out.contains("(7);"), "{out}");
}

#[test]
fn tables_and_whole_databases_restore_from_the_mount() {
    if !crate::support::mount::available() {
        return;
    }
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("mounted");
    corpus_db(db1, &name);
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "chunk_rows = 700"));
    s.cmd(&["backup"]).assert().code(0);
    let mnt = s.path().join("mnt");
    let _m = crate::support::mount::Mounted::new(&s.config(), &mnt);
    let dir = mnt.join("latest").join("db");

    // The virtual whole-database file: sizes exact before reading, then restorable.
    let whole = dir.join(format!("{name}.sql"));
    let parts: u64 = s
        .catalog()
        .members(1)
        .unwrap()
        .iter()
        .filter(|m| m.path.starts_with(&format!("db/{name}/")))
        .map(|m| m.size)
        .sum();
    assert_eq!(std::fs::metadata(&whole).unwrap().len(), parts);
    db2.load(None, &std::fs::read(&whole).unwrap()).unwrap();
    let want = db1.fingerprint(&name);
    assert_eq!(db2.fingerprint(&name), want);

    // One table, by `mysql db < <mnt>/.../table.sql`, into the restored database.
    db2.root_sql(&format!(
        "DROP TABLE `{name}`.big; DROP TABLE `{name}`.strs"
    ))
    .unwrap();
    for t in ["big", "strs"] {
        let f = std::fs::File::open(dir.join(&name).join(format!("{t}.sql"))).unwrap();
        let st = std::process::Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", db2.socket.display()))
            .args(["-uroot", &name])
            .stdin(f)
            .status()
            .unwrap();
        assert!(st.success(), "mariadb < {t}.sql");
    }
    assert_eq!(db2.fingerprint(&name), want);
    db2.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
}

/// `SHOW CREATE` of every view, routine, trigger and event of `db`, with the session
/// state columns the server reports, and the events' schedules.
fn objects_fingerprint(server: &MariaDb, db: &str) -> Vec<String> {
    let list = |q: &str| -> Vec<String> {
        server
            .root_sql(q)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let mut out = Vec::new();
    let kinds = [
        ("VIEW", format!("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{db}' ORDER BY 1")),
        ("FUNCTION", format!("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}' AND ROUTINE_TYPE = 'FUNCTION' ORDER BY 1")),
        ("PROCEDURE", format!("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}' AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY 1")),
        ("TRIGGER", format!("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}' ORDER BY 1")),
        ("EVENT", format!("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{db}' ORDER BY 1")),
    ];
    for (kind, q) in kinds {
        for name in list(&q) {
            let mut shown = server
                .root_sql(&format!("SHOW CREATE {kind} `{db}`.`{name}`"))
                .unwrap();
            if kind == "TRIGGER" {
                // The last column is when the trigger was created: not part of it.
                shown.truncate(shown.trim_end().rfind('\t').unwrap_or(shown.len()));
            }
            out.push(format!("{kind} {name}: {shown}"));
        }
    }
    out.extend(list(&format!(
        "SELECT EVENT_NAME, TIME_ZONE, EXECUTE_AT, STARTS, ENDS, SQL_MODE, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{db}' ORDER BY 1"
    )));
    out
}

#[test]
fn every_kind_of_object_restores_in_one_pass_with_its_session_state() {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("objects");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; USE `{name}`;
         CREATE TABLE t (id INT PRIMARY KEY, v INT);
         INSERT INTO t VALUES (1, 10), (2, 20), (3, 30);
         CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100));
         CREATE VIEW a_base AS SELECT id, v FROM t;
         SET SESSION sql_mode = 'PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION';
         CREATE FUNCTION z_total() RETURNS INT READS SQL DATA RETURN (SELECT SUM(v) FROM a_base);
         CREATE FUNCTION z_label(x INT) RETURNS VARCHAR(50) DETERMINISTIC RETURN 'n=' || x;
         CREATE VIEW b_calls AS SELECT id, z_label(v) AS label, z_total() AS total FROM a_base;
         CREATE VIEW c_top AS SELECT label FROM b_calls WHERE id = 1;
         CREATE SQL SECURITY INVOKER VIEW d_invoker AS SELECT COUNT(*) AS n FROM c_top;
         CREATE PROCEDURE m_add(IN n INT) MODIFIES SQL DATA INSERT INTO t (id, v) VALUES (n, z_total());
         CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW INSERT INTO audit (msg) VALUES (z_label(NEW.v));
         SET SESSION sql_mode = DEFAULT;
         SET time_zone = '+05:00';
         CREATE EVENT ev_at ON SCHEDULE AT '2031-01-01 00:00:00' ON COMPLETION PRESERVE DISABLE DO CALL m_add(100);
         CREATE EVENT ev_every ON SCHEDULE EVERY 1 DAY STARTS '2031-01-01 03:00:00' ENDS '2032-01-01 00:00:00' ON COMPLETION PRESERVE DISABLE DO DELETE FROM audit;"
    ))
    .unwrap();
    let want = objects_fingerprint(db1, &name);
    assert!(want.len() >= 10, "{want:?}");
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], ""));
    s.cmd(&["backup"]).assert().code(0);
    let whole = whole_database(&s, 1);
    // The restoring session is in another zone: schedules must not move.
    let mut restore = b"SET time_zone = '-03:00';\n".to_vec();
    restore.extend(whole);
    db2.load(None, &restore).unwrap();
    assert_eq!(objects_fingerprint(db2, &name), want);
    assert_eq!(db2.fingerprint(&name), db1.fingerprint(&name));
    let q = format!("SELECT label, total FROM `{name}`.b_calls ORDER BY id");
    assert_eq!(db2.root_sql(&q).unwrap(), db1.root_sql(&q).unwrap());
    assert!(db2.root_sql(&q).unwrap().contains("n=10"), "sql_mode lost");
    // The binlog position is in .meta, as documented.
    let ev = &s.events()[0];
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.repo().join(&ev.file).with_extension("meta")).unwrap(),
    )
    .unwrap();
    assert!(meta["info"]["db.binlog_file"].is_string(), "{meta}");
    assert!(meta["info"]["db.binlog_position"].is_string(), "{meta}");
    let show = s.cmd(&["show", "1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("db.binlog_position"));
    db2.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
    db1.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
}

#[test]
fn any_legal_table_name_is_one_safe_member_and_restores() {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = format!("{}.dot", fresh_db("names"));
    let long: String = "é".repeat(64);
    let tables = [
        ".objects",
        ".database",
        "a/b",
        "..",
        ".",
        "with space",
        "back`tick",
        "quo'te\"",
        "50%",
        "x.sql",
        "x",
        long.as_str(),
    ];
    let mut ddl = format!("CREATE DATABASE `{name}`; USE `{name}`;\n");
    for (i, t) in tables.iter().enumerate() {
        let q = t.replace('`', "``");
        ddl += &format!("CREATE TABLE `{q}` (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `{q}` VALUES ({i}, 'row {i}');\n");
    }
    db1.root_sql(&ddl).unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "threads = 2"));
    s.cmd(&["backup"]).assert().code(0);
    let members = s.catalog().members(1).unwrap();
    let table_members: Vec<&strata::model::Member> = members
        .iter()
        .filter(|m| m.kind == strata::model::MemberKind::Table)
        .collect();
    assert_eq!(table_members.len(), tables.len(), "{members:#?}");
    let db_dir = strata::format::names::database(&name);
    for m in &table_members {
        let rest = m.path.strip_prefix(&format!("db/{db_dir}/")).unwrap();
        assert!(!rest.contains('/') && !rest.starts_with('.'), "{}", m.path);
        let t = strata::format::names::decode(rest.strip_suffix(".sql").unwrap()).unwrap();
        assert!(tables.contains(&t.as_str()), "{t}");
    }
    s.cmd(&["verify", "--all"]).assert().code(0);
    // The whole database, from its members, into a fresh server.
    db2.load(None, &whole_database(&s, 1)).unwrap();
    let want = db1.fingerprint(&name);
    assert_eq!(want.len(), tables.len());
    assert_eq!(db2.fingerprint(&name), want);
    // Each table alone.
    for m in &table_members {
        db2.load(Some(&name), &cat(&s, 1, &m.path)).unwrap();
    }
    assert_eq!(db2.fingerprint(&name), want);
    // And through the mount's whole-database file.
    if crate::support::mount::available() {
        db2.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
        let mnt = s.path().join("mnt");
        let _m = crate::support::mount::Mounted::new(&s.config(), &mnt);
        let file = mnt.join("latest/db").join(format!("{db_dir}.sql"));
        db2.load(None, &std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(db2.fingerprint(&name), want);
    }
    db2.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
    db1.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
}

#[test]
fn backups_taken_while_ddl_runs_restore_with_schema_and_data_agreeing() {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("ddl");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; USE `{name}`;
         CREATE TABLE t1 (id INT PRIMARY KEY, v INT);
         INSERT INTO t1 SELECT seq, seq FROM seq_1_to_3000;
         CREATE TABLE t2 (id INT PRIMARY KEY, p TEXT);
         INSERT INTO t2 SELECT seq, REPEAT('p', 300) FROM seq_1_to_3000;
         CREATE VIEW v AS SELECT id, v FROM t1;"
    ))
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ddl = {
        let stop = stop.clone();
        let socket = db1.socket.clone();
        let name = name.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 300 {
                n += 1;
                let sql = format!(
                    "USE `{name}`;
                     ALTER TABLE t1 ADD COLUMN c{n} INT NOT NULL DEFAULT {n};
                     CREATE TABLE x{n} (id INT PRIMARY KEY, v INT); INSERT INTO x{n} VALUES (1, {n});
                     DROP TABLE IF EXISTS x{};
                     CREATE OR REPLACE VIEW v AS SELECT id, c{n} FROM t1;",
                    n - 1
                );
                let ok = std::process::Command::new("mariadb")
                    .arg("--no-defaults")
                    .arg(format!("--socket={}", socket.display()))
                    .args(["-uroot", "-e", &sql])
                    .status()
                    .unwrap();
                assert!(ok.success(), "DDL {n}");
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
            n
        })
    };
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "threads = 2"));
    let mut good = 0;
    for _ in 0..12 {
        let out = s.cmd(&["backup"]).output().unwrap();
        let ev = s.events().last().unwrap().clone();
        match out.status.code() {
            Some(0) => {}
            // A table dropped after the lock can fail the source: loudly, never silently.
            Some(2) => {
                assert_eq!(ev.status(), "failed");
                assert!(String::from_utf8_lossy(&out.stderr).contains("source 'db'"));
                continue;
            }
            other => panic!(
                "backup exit {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        // Restore the whole database: every INSERT must agree with its CREATE TABLE.
        let mut whole = Vec::new();
        let mut rows = Vec::new();
        for (m, sql) in members_in_load_order(&s, ev.id) {
            if m.kind == strata::model::MemberKind::Table {
                let n = sql
                    .split(|b| *b == b'\n')
                    .filter(|l| l.starts_with(b"("))
                    .count();
                let t = m.path.rsplit('/').next().unwrap().trim_end_matches(".sql");
                rows.push((t.to_string(), n));
            }
            whole.extend(sql);
        }
        db2.root_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
            .unwrap();
        db2.load(None, &whole)
            .unwrap_or_else(|e| panic!("event {}: the dump does not restore: {e}", ev.id));
        for (t, n) in &rows {
            let got = db2
                .root_sql(&format!("SELECT COUNT(*) FROM `{name}`.`{t}`"))
                .unwrap();
            assert_eq!(got.trim(), n.to_string(), "event {}: table {t}", ev.id);
        }
        assert!(
            rows.iter().any(|(t, n)| t == "t1" && *n == 3000),
            "{rows:?}"
        );
        db2.root_sql(&format!("SELECT * FROM `{name}`.v LIMIT 1"))
            .unwrap();
        good += 1;
        if good == 3 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let n = ddl.join().unwrap();
    assert!(n > 3, "the DDL thread hardly ran ({n} rounds)");
    assert!(good >= 1, "no backup completed while DDL ran");
    db2.root_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
        .unwrap();
    db1.root_sql(&format!("DROP DATABASE `{name}`")).unwrap();
}

#[test]
fn diff_rows_reports_updated_inserted_and_deleted_rows_by_key() {
    let Some(db1) = mariadb::shared() else { return };
    let name = fresh_db("rowdiff");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`;
         CREATE TABLE `{name}`.pairs (a INT, b VARCHAR(10), v TEXT, PRIMARY KEY (a, b));
         INSERT INTO `{name}`.pairs VALUES (1,'x','one'),(1,'y','two, it''s'),(2,'x','gone'),(3,'z','same');
         CREATE TABLE `{name}`.bag (v INT, w TEXT);
         INSERT INTO `{name}`.bag VALUES (1,'a'),(1,'a'),(2,'b');"
    ))
    .unwrap();
    let s = Scratch::new();
    // Small ranges on two connections: the big table is cut, the diff must not care.
    s.write_config(&source(&s, db1, &[&name], "chunk_rows = 2\nthreads = 2"));
    s.cmd(&["backup"]).assert().code(0);
    db1.root_sql(&format!(
        "UPDATE `{name}`.pairs SET v = 'TWO' WHERE a = 1 AND b = 'y';
         DELETE FROM `{name}`.pairs WHERE a = 2;
         INSERT INTO `{name}`.pairs VALUES (4,'w','new');
         DELETE FROM `{name}`.bag WHERE v = 1 LIMIT 1;
         INSERT INTO `{name}`.bag VALUES (3,'c');"
    ))
    .unwrap();
    s.cmd(&["backup"]).assert().code(0);
    let pairs = format!("db/{name}/pairs.sql");
    let run = |args: &[&str]| {
        let out = s.cmd(args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        (
            out.status.code(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Without --rows: the unified diff of the member's SQL text.
    let (code, text, _) = run(&["diff", "1", "2", &pairs]);
    assert_eq!(code, Some(1));
    assert!(
        text.starts_with(&format!(
            "--- a/{pairs}\tevent 1\n+++ b/{pairs}\tevent 2\n@@ "
        )),
        "{text}"
    );
    assert!(
        text.contains("\n-(2,'x','gone'),\n") && text.contains("\n+(4,'w','new')"),
        "{text}"
    );

    let (code, text, _) = run(&["diff", "1", "2", &pairs, "--rows"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        text,
        "~ (1,'y','two, it\\'s')\n  -> (1,'y','TWO')\n+ (4,'w','new')\n- (2,'x','gone')\n\
         # 1 added, 1 removed, 1 changed (4 -> 4 rows)\n"
    );
    let (_, json, _) = run(&["diff", "1", "2", &pairs, "--rows", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0]["change"], "changed");
    assert_eq!(changes[0]["key"], "1,'y'");
    assert_eq!(changes[1]["new"], "(4,'w','new')");
    assert_eq!(v["stat"]["changed"], 1);
    let (_, stat, _) = run(&["diff", "1", "2", &pairs, "--stat", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stat).unwrap();
    assert_eq!(
        (&v["added"], &v["removed"], &v["changed"], &v["new_rows"]),
        (&1.into(), &1.into(), &1.into(), &4.into())
    );

    // Without a key, rows are matched whole: one copy of (1,'a') went, (3,'c') came.
    let (code, text, _) = run(&["diff", "1", "2", &format!("db/{name}/bag.sql"), "--stat"]);
    assert_eq!(code, Some(1));
    assert_eq!(text, "1 added, 1 removed, 0 changed (3 -> 3 rows)\n");
    let (code, text, _) = run(&["diff", "2", "2", &pairs, "--rows"]);
    assert_eq!(
        (code, text.as_str()),
        (Some(0), "# 0 added, 0 removed, 0 changed (4 -> 4 rows)\n")
    );

    // Not a table, or more than one path: a clear error.
    let (code, _, err) = run(&[
        "diff",
        "1",
        "2",
        &format!("db/{name}/.database.sql"),
        "--rows",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a table dump"), "{err}");
    let (code, _, err) = run(&["diff", "1", "2", &pairs, &pairs, "--rows"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("one table member"), "{err}");
}

/// `FILE:POS` as file and byte offset.
fn position(p: &str) -> (String, usize) {
    let (f, n) = p.rsplit_once(':').unwrap();
    (f.to_string(), n.parse().unwrap())
}

#[test]
fn binlogs_since_the_last_backup_are_captured_byte_for_byte_and_a_gap_is_loud() {
    let Some(db1) = mariadb::shared() else { return };
    let name = fresh_db("binlogs");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;
         INSERT INTO `{name}`.t VALUES (1, 'base');"
    ))
    .unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "binlogs = true"));
    s.cmd(&["backup"]).assert().code(0);
    let first = s.events()[0].clone();
    let at1 = format!(
        "{}:{}",
        first.info["db.binlog_file"], first.info["db.binlog_position"]
    );
    assert_eq!(
        first.info["db.binlog_from"], at1,
        "the first backup captures nothing"
    );

    db1.root_sql(&format!(
        "INSERT INTO `{name}`.t VALUES (2, 'marker-one'); FLUSH BINARY LOGS;
         INSERT INTO `{name}`.t VALUES (3, 'marker-two');"
    ))
    .unwrap();
    s.cmd(&["backup"]).assert().code(0);
    let second = s.events()[1].clone();
    assert_eq!(second.info["db.binlog_from"], at1);
    let at2 = format!(
        "{}:{}",
        second.info["db.binlog_file"], second.info["db.binlog_position"]
    );
    assert_eq!(second.info["db.binlog_to"], at2);
    let (t0, t1): (i64, i64) = (
        second.info["db.binlog_first_time"].parse().unwrap(),
        second.info["db.binlog_last_time"].parse().unwrap(),
    );
    assert!(first.start_time - 5 <= t0 && t0 <= t1 && t1 <= second.end_time.unwrap() + 5);
    let logs: Vec<strata::model::Member> = s
        .catalog()
        .members(second.id)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == strata::model::MemberKind::Binlog)
        .collect();
    assert!(logs.len() >= 2, "the flush rotated the log: {logs:?}");
    let mut text = String::new();
    let (from, to) = (position(&at1), position(&at2));
    for m in &logs {
        let file = m.path.rsplit('/').next().unwrap().to_string();
        let bytes = cat(&s, second.id, &m.path);
        // As the server wrote it: the range the event covers, opened by the file's
        // header (magic and format description event) when it starts within the file.
        // Only the in-use flag of that first event differs while the server still
        // writes the file (it clears the flag in what it sends, and in its own file
        // when it closes it).
        let mut server = std::fs::read(db1.datadir.join(&file)).unwrap();
        if bytes.len() > 21 && bytes[21] & 1 == 0 {
            server[21] &= !1;
        }
        let fde_end = 4 + u32::from_le_bytes(server[13..17].try_into().unwrap()) as usize;
        let start = if file == from.0 { from.1 } else { 4 };
        let end = if file == to.0 { to.1 } else { server.len() };
        if start == 4 {
            assert!(
                bytes == server[..end],
                "{file} is not the first {end} bytes of the server's file"
            );
        } else {
            // The server sends a replica that starts within a file the file's format
            // description event, with its end position zeroed (and its checksum
            // recomputed), then the file's events from there, unchanged.
            assert_eq!(bytes[..4], server[..4]);
            assert_eq!(
                bytes.len() - fde_end,
                end - start,
                "{file}: the range {start}..{end}"
            );
            assert_eq!(
                bytes[4..17],
                server[4..17],
                "{file}: the format description event"
            );
            assert_eq!(
                bytes[17..21],
                [0, 0, 0, 0],
                "{file}: a replayed header has no position"
            );
            assert!(
                bytes[fde_end..] == server[start..end],
                "{file}: the range {start}..{end}"
            );
        }
        // And mariadb-binlog reads the stored copy as it is.
        let copy = s.path().join(&file);
        std::fs::write(&copy, &bytes).unwrap();
        let out = std::process::Command::new("mariadb-binlog")
            .arg("--no-defaults")
            .arg(&copy)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text += &String::from_utf8_lossy(&out.stdout);
    }
    assert!(
        text.contains("marker-one") && text.contains("marker-two"),
        "{text}"
    );

    // The server purges the log the last backup stopped in: a gap, reported.
    db1.root_sql("FLUSH BINARY LOGS").unwrap();
    let current = db1.root_sql("SHOW MASTER STATUS").unwrap();
    let current = current
        .lines()
        .last()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    // MariaDB keeps a log until its binlog checkpoint has moved on: retry a while.
    let stopped_in = second.info["db.binlog_file"].clone();
    for _ in 0..100 {
        db1.root_sql(&format!("PURGE BINARY LOGS TO '{current}'"))
            .unwrap();
        if !db1
            .root_sql("SHOW BINARY LOGS")
            .unwrap()
            .contains(&stopped_in)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A second later than the last backup, so that a moment falls in the gap.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a gap is a warning; purged to {current}: {:?} {:?}",
        db1.root_sql("SHOW BINARY LOGS"),
        s.events()[2].info
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("binlog gap"), "{err}");
    let third = s.events()[2].clone();
    assert!(
        third.info["db.binlog_gap"].starts_with(&at2),
        "{:?}",
        third.info
    );
    assert_eq!(third.status(), "warnings");

    // list --pitr: events 1-2 are one window, then the gap, then a window from event 3.
    let out = s.cmd(&["list", "--pitr", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a gap makes list --pitr exit 1");
    let spans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(String, Vec<i64>)> = spans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let (a, b) = (
                s["first_event"].as_i64().unwrap(),
                s["last_event"].as_i64().unwrap(),
            );
            (s["kind"].as_str().unwrap().to_string(), (a..=b).collect())
        })
        .collect();
    let want: Vec<(String, Vec<i64>)> = vec![
        ("window".into(), vec![1, 2]),
        ("gap".into(), vec![3]),
        ("window".into(), vec![3]),
    ];
    assert_eq!(got, want);
    assert_eq!(spans[1]["detail"], third.info["db.binlog_gap"].as_str());
    let text = s.cmd(&["list", "--pitr"]).output().unwrap().stdout;
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains(" GAP "), "{text}");

    // Loading up to a moment in the gap is refused before any server is contacted.
    let in_gap = chrono::DateTime::from_timestamp(second.start_time + 1, 0)
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let out = s
        .cmd(&[
            "load",
            "2",
            &name,
            "--to",
            "127.0.0.1:1",
            "--until",
            &in_gap,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("falls in a binlog gap"), "{err}");
}

/// The fingerprint of `db` with its name replaced, to compare a database loaded under
/// another name.
pub(crate) fn fingerprint_as(server: &MariaDb, db: &str) -> Vec<(String, String)> {
    server
        .fingerprint(db)
        .into_iter()
        .map(|(t, v)| (t, v.replace(db, "DB")))
        .collect()
}

/// `--user`, `--password-file` and `--to` for `strata load` into `server`.
pub(crate) fn load_args(s: &Scratch, server: &MariaDb) -> Vec<String> {
    let pw = s.path().join("load.pw");
    std::fs::write(&pw, format!("{}\n", mariadb::PASSWORD)).unwrap();
    vec![
        "--to".into(),
        format!("127.0.0.1:{}", server.port),
        "--user".into(),
        mariadb::USER.into(),
        "--password-file".into(),
        pw.display().to_string(),
    ]
}

#[test]
fn load_gives_the_same_rows_refuses_existing_tables_and_renames() {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("loadall");
    corpus_db(db1, &name);
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "chunk_rows = 500\nthreads = 2"));
    s.cmd(&["backup"]).assert().code(0);
    let args = load_args(&s, db2);
    let load = |extra: &[&str]| {
        let mut a: Vec<String> = vec!["load".into(), "1".into()];
        a.extend(extra.iter().map(|x| x.to_string()));
        a.extend(args.iter().cloned());
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        s.cmd(&refs).output().unwrap()
    };
    let out = load(&[&name, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("table big"));

    let out = load(&[&name, "--threads", "3"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = db1.fingerprint(&name);
    assert_eq!(db2.fingerprint(&name), want);
    assert!(want.len() >= 14, "{want:?}");

    // Loading again is refused before anything is written; --drop-existing replaces.
    let out = load(&[&name]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exists") && err.contains("--drop-existing"),
        "{err}"
    );
    assert_eq!(load(&[&name, "--drop-existing"]).status.code(), Some(0));
    assert_eq!(db2.fingerprint(&name), want);

    // Another name: the same rows.
    let renamed = format!("{name}_r");
    let out = load(&[&name, "--rename", &format!("{name}={renamed}")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fingerprint_as(db2, &renamed), fingerprint_as(db1, &name));

    // A wrong password: a clear error, exit 2.
    std::fs::write(s.path().join("load.pw"), "wrong\n").unwrap();
    let out = load(&[&name, "--rename", &format!("{name}={name}_x")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{}", db2.port)), "{err}");
}

#[test]
fn load_until_a_moment_replays_the_captured_binlogs_and_stops_there() {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("pitr");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
         INSERT INTO `{name}`.t VALUES (1, 'base'), (2, 'base');"
    ))
    .unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "binlogs = true"));
    s.cmd(&["backup"]).assert().code(0);

    // t1: inserts and an update in one transaction; then the moment; then t2's damage.
    db1.load(
        Some(&name),
        b"INSERT INTO t VALUES (3, 'one'); START TRANSACTION; UPDATE t SET v = 'two' WHERE id = 1; INSERT INTO t VALUES (4, 'two'); COMMIT;",
    )
    .unwrap();
    let reference = fingerprint_as(db1, &name);
    let now = || chrono::Local::now();
    let next_second = 1_000_000 - now().timestamp_subsec_micros() as u64;
    std::thread::sleep(std::time::Duration::from_micros(next_second + 200_000));
    let moment = now().format("%Y-%m-%d %H:%M:%S").to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    db1.load(
        Some(&name),
        b"DELETE FROM t WHERE id = 2; UPDATE t SET v = 'late';",
    )
    .unwrap();
    db1.root_sql(&format!("DROP TABLE `{name}`.t")).unwrap();
    s.cmd(&["backup"]).assert().code(0);

    let target = format!("{name}_at");
    crate::follow::load_until(&s, db2, &name, &target, &["--until", &moment]);
    let mut args = vec![
        "load".to_string(),
        "1".into(),
        name.clone(),
        "--rename".into(),
        format!("{name}={target}"),
        "--until".into(),
        moment.clone(),
    ];
    args.extend(load_args(&s, db2));
    assert_eq!(fingerprint_as(db2, &target), reference);
    let rows = db2
        .root_sql(&format!("SELECT id, v FROM `{target}`.t ORDER BY id"))
        .unwrap();
    assert_eq!(rows, "1\ttwo\n2\tbase\n3\tone\n4\ttwo\n");

    // Later than anything captured: refused, nothing half done is claimed.
    let mut late = args.clone();
    late[4] = format!("{name}={name}_late");
    late[6] = "2999-01-01 00:00:00".into();
    let refs: Vec<&str> = late.iter().map(String::as_str).collect();
    let out = s.cmd(&refs).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("later than the binlogs"));
}
