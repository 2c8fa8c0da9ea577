//! Every restore path gives back the same objects, in an order that loads, with their
//! bytes: the whole-database file of the mount, one table's file, `strata load` and a
//! renamed load, against the real MariaDB. Objects that cannot be created where they are
//! restored are named, and never take the others with them.

use crate::mysql::{fresh_db, load_args, second, source};
use crate::support::mariadb::{self, MariaDb};
use crate::support::mount::{self, Mounted};
use crate::support::Scratch;
use std::process::Command;

/// A database holding what restores went wrong on: a table drawing its ids from a
/// sequence that sorts after it, a trigger written with qualified names, a procedure
/// made by a latin1 client, an Oracle-mode package, a MERGE table, a name with `;` and
/// a newline, a view over another database and one over an ignored table.
fn tricky_db(server: &MariaDb, db: &str, other: &str) {
    let sql = format!(
        "CREATE DATABASE `{other}`;
CREATE TABLE `{other}`.t (a INT);
INSERT INTO `{other}`.t VALUES (5);
CREATE DATABASE `{db}` CHARACTER SET utf8mb4;
USE `{db}`;
CREATE SEQUENCE z_seq START WITH 100;
CREATE TABLE a_items (id BIGINT NOT NULL DEFAULT NEXTVAL(z_seq) PRIMARY KEY, v VARCHAR(20));
INSERT INTO a_items (v) VALUES ('x'), ('y');
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50));
CREATE TRIGGER {db}.t_ai AFTER INSERT ON {db}.a_items FOR EACH ROW INSERT INTO {db}.log (msg) VALUES (CONCAT('ins ', NEW.id));
CREATE TABLE `semi;\ncolon` (a INT);
INSERT INTO `semi;\ncolon` VALUES (1), (2);
CREATE TABLE m1 (a INT) ENGINE=MyISAM;
INSERT INTO m1 VALUES (1), (2), (3);
CREATE TABLE mall (a INT) ENGINE=MRG_MyISAM UNION=(m1) INSERT_METHOD=LAST;
CREATE VIEW v_cross AS SELECT a FROM `{other}`.t;
CREATE VIEW v_local AS SELECT id, v FROM a_items;
CREATE TABLE skipme (a INT);
CREATE VIEW v_skip AS SELECT a FROM skipme;
CREATE TRIGGER skip_tr BEFORE INSERT ON skipme FOR EACH ROW SET NEW.a = 1;
CREATE TABLE gone_t (a INT);
CREATE VIEW v_bad AS SELECT a FROM gone_t;
DROP TABLE gone_t;
SET sql_mode = ORACLE;
DELIMITER $$
CREATE PACKAGE pk AS FUNCTION f1 RETURN INT; END;$$
CREATE PACKAGE BODY pk AS FUNCTION f1 RETURN INT AS BEGIN RETURN 7; END; END;$$
DELIMITER ;
"
    );
    server.load(None, sql.as_bytes()).unwrap();
    // A latin1 client sending UTF-8 bytes: the server holds them as latin1 text.
    let mut latin1 = b"USE `".to_vec();
    latin1.extend(db.chars().map(|c| c as u32 as u8)); // the name in latin1
    latin1.extend_from_slice(b"`;\nCREATE PROCEDURE p() SELECT '");
    latin1.extend_from_slice("é€".as_bytes());
    latin1.extend_from_slice(b"' AS x;\n");
    // And a trigger whose body holds a byte that is not UTF-8 (latin1's é).
    latin1.extend_from_slice(
        b"CREATE TABLE lat_t (s VARCHAR(10)) CHARACTER SET utf8mb4;\nCREATE TRIGGER lat_tr BEFORE INSERT ON lat_t FOR EACH ROW SET NEW.s = CONCAT(NEW.s, '\xe9');\n",
    );
    server.client("latin1", None, &latin1).unwrap();
}

/// The bytes `CALL p()` returns, read as utf8mb4.
fn call_p(server: &MariaDb, db: &str) -> Vec<u8> {
    server.client("utf8mb4", Some(db), b"CALL p();").unwrap()
}

/// What a restore must give back: tables and views, trigger statements, routines.
fn objects(server: &MariaDb, db: &str) -> String {
    server
        .root_sql(&format!(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' ORDER BY 1;
             SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}' ORDER BY 1;
             SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}' ORDER BY 1, 2"
        ))
        .unwrap()
}

#[test]
fn every_restore_path_gives_back_objects_in_order_with_their_bytes_and_names_what_it_cannot_create()
{
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    if !mount::available() {
        return;
    }
    // A name a latin1 client would mangle without `SET NAMES` first.
    let name = format!("{}_é", fresh_db("exact"));
    let other = format!("{name}_other");
    tricky_db(db1, &name, &other);
    let s = Scratch::new();
    let ignore = format!("ignore = [\"{name}.skipme\"]\nthreads = 2");
    s.write_config(&source(&s, db1, &[&name], &ignore));
    let out = s.cmd(&["backup"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Warned at backup time, each object named; the event is kept.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("v_cross") && err.contains(&other), "{err}");
    assert!(err.contains("v_skip") && err.contains("skipme"), "{err}");
    assert!(err.contains("skip_tr"), "{err}");
    assert!(err.contains("v_bad") && err.contains("invalid"), "{err}");

    // The MERGE table is its definition only: its rows are m1's.
    let mall = s
        .cmd(&["cat", "1", &format!("db/{name}/mall.sql")])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&mall.stdout).contains("INSERT INTO"));

    let want_p = call_p(db1, &name);
    assert_eq!(String::from_utf8_lossy(&want_p).trim(), "Ã©â‚¬");
    let mut want_rows = db1.fingerprint(&name);
    want_rows.retain(|(t, _)| t != "skipme");

    // The mount's whole-database file, through a latin1 client, into a server without
    // the other database: everything but v_cross is created, and v_cross is named.
    let m = Mounted::new(&s.config(), &s.path().join("mnt"));
    let enc = strata::format::names::database(&name);
    let whole = std::fs::read(m.dir.join(format!("latest/db/{enc}.sql"))).unwrap();
    let one_table = std::fs::read(m.dir.join(format!("latest/db/{enc}/a_items.sql"))).unwrap();
    drop(m);
    let err = db2.client("latin1", None, &whole).unwrap_err();
    assert!(
        err.contains("v_cross") && err.contains("restore") && err.contains(&other),
        "{err}"
    );
    assert!(err.contains("v_skip") && err.contains("v_bad"), "{err}");
    let got = objects(db2, &name);
    for want in [
        "a_items",
        "z_seq",
        "SEQUENCE",
        "semi;\\ncolon",
        "v_local",
        "t_ai",
        "PACKAGE BODY\tpk",
        "PROCEDURE\tp",
    ] {
        assert!(got.contains(want), "{want} missing: {got}");
    }
    assert!(
        !got.contains("v_cross") && !got.contains("v_bad"),
        "a placeholder is left: {got}"
    );
    assert_eq!(call_p(db2, &name), want_p, "the procedure's bytes changed");
    assert_eq!(
        db2.fingerprint(&name),
        want_rows,
        "rows differ (or a trigger fired)"
    );
    let lat = |m: &MariaDb, db: &str| {
        m.root_sql(&format!(
            "INSERT INTO `{db}`.lat_t VALUES ('b'); SELECT s FROM `{db}`.lat_t"
        ))
        .unwrap()
    };
    assert_eq!(lat(db2, &name), "bé\n", "the latin1 trigger changed");

    // One table alone comes back with its trigger, which then fires.
    db2.root_sql(&format!("DROP TABLE `{name}`.a_items"))
        .unwrap();
    db2.client("utf8mb4", Some(&name), &one_table).unwrap();
    assert!(objects(db2, &name).contains("t_ai"));
    db2.root_sql(&format!("INSERT INTO `{name}`.a_items (v) VALUES ('z')"))
        .unwrap();
    assert_eq!(
        db2.root_sql(&format!("SELECT COUNT(*) FROM `{name}`.log"))
            .unwrap()
            .trim(),
        "1"
    );

    // `load DB.TABLE --drop-existing` brings the table back with its trigger.
    db2.root_sql(&format!("DROP TRIGGER `{name}`.t_ai"))
        .unwrap();
    let mut a: Vec<String> = vec!["load".into(), "1".into(), format!("{name}.a_items")];
    a.push("--drop-existing".into());
    a.extend(load_args(&s, db2));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = s.cmd(&refs).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(objects(db2, &name).contains("t_ai\ta_items"));
    // It went in beside the database's other tables, and says so.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("already held 6 other table(s)") && said.contains("semi;\\ncolon"),
        "{said}"
    );

    // strata load with a rename, on the server that holds the original: the copy is
    // complete, its trigger and sequence its own, and the original untouched.
    let args = load_args(&s, db1);
    let copy = format!("{name}_copy");
    let mut a: Vec<String> = vec!["load".into(), "1".into(), name.clone()];
    a.extend(["--rename".into(), format!("{name}={copy}")]);
    a.extend(args.iter().cloned());
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let before = (db1.fingerprint(&name), objects(db1, &name));
    let nextval = format!("SELECT NEXTVAL(`{name}`.z_seq)");
    let out = s.cmd(&refs).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // v_skip's table was left out of the backup: named, exit 2, the rest in place.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("v_skip") && err.contains("v_bad") && !err.contains("v_cross"),
        "{err}"
    );
    assert_eq!(call_p(db1, &copy), want_p);
    assert_eq!(lat(db1, &copy), "bé\n", "the latin1 trigger changed");
    let got = objects(db1, &copy);
    assert!(
        got.contains("t_ai") && got.contains("v_cross") && got.contains("pk"),
        "{got}"
    );
    db1.root_sql(&format!("INSERT INTO `{copy}`.a_items (v) VALUES ('c')"))
        .unwrap();
    assert_eq!(
        db1.root_sql(&format!("SELECT COUNT(*) FROM `{copy}`.log"))
            .unwrap()
            .trim(),
        "1",
        "the copy's trigger wrote elsewhere"
    );
    assert_eq!((db1.fingerprint(&name), objects(db1, &name)), before);
    assert_eq!(
        db1.root_sql(&nextval).unwrap().trim(),
        "1100",
        "the copy drew from the original's sequence"
    );
}

#[test]
fn exact_names_select_exactly_patterns_say_so_and_nothing_selected_fails() {
    let Some(db1) = mariadb::shared() else { return };
    let name = format!("{}[1]", fresh_db("brk"));
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (a INT)"
    ))
    .unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], ""));
    s.cmd(&["backup"]).assert().code(0);
    let members = s.catalog().members(1).unwrap();
    assert!(
        members.iter().any(|m| m.path.ends_with("/t.sql")),
        "{members:?}"
    );

    // A name that is not on the server fails the source; nothing is called complete.
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &["no_such_db_here"], ""));
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_db_here"));
    assert!(
        s.events().iter().all(|e| e.completed != 0),
        "{:?}",
        s.events()
    );

    // `*` takes no system schema.
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &["*"], "threads = 1"));
    let out = s.cmd(&["backup", "--dry-run"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for sys in ["mysql", "sys", "performance_schema", "information_schema"] {
        assert!(!text.contains(&format!("db/{sys}/")), "{sys} taken: {text}");
    }
    assert!(
        text.contains(&format!("/{}", strata::format::names::database(&name))),
        "{text}"
    );
}

#[test]
fn a_replay_keeps_every_change_to_the_database_whatever_the_default_database_and_refuses_unknown_gtids(
) {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("replay");
    let other = format!("{name}_o");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE DATABASE `{other}`;
         CREATE TABLE `{name}`.accounts (id INT PRIMARY KEY, v INT);
         CREATE TABLE `{name}`.items (id INT PRIMARY KEY);
         CREATE TABLE `{other}`.t (id INT PRIMARY KEY);
         INSERT INTO `{name}`.accounts VALUES (1, 1), (2, 2); INSERT INTO `{name}`.items VALUES (1);"
    ))
    .unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "binlogs = true"));
    s.cmd(&["backup"]).assert().code(0);

    // From another database under MIXED and under ROW, and with no database at all.
    db1.load(
        Some(&other),
        format!(
            "SET SESSION binlog_format = MIXED; DELETE FROM `{name}`.accounts WHERE id = 1;
             SET SESSION binlog_format = ROW; INSERT INTO `{name}`.accounts VALUES (9, 9);
             INSERT INTO t VALUES (1);
             SET SESSION binlog_format = STATEMENT; UPDATE `{name}`.accounts SET v = v + 10;"
        )
        .as_bytes(),
    )
    .unwrap();
    // In the database itself, naming it: followed by the rename too.
    db1.load(
        Some(&name),
        format!("UPDATE `{name}`.accounts SET v = v + 100 WHERE id = 2;").as_bytes(),
    )
    .unwrap();
    db1.root_sql(&format!("DROP TABLE `{name}`.items")).unwrap();
    let gtid = db1.root_sql("SELECT @@global.gtid_binlog_pos").unwrap();
    let gtid = gtid.trim().split(',').next().unwrap().to_string();
    let reference = crate::mysql::fingerprint_as(db1, &name);
    s.cmd(&["backup"]).assert().code(0);

    let target = format!("{name}_at");
    crate::follow::load_until(&s, db2, &name, &target, &["--until-gtid", &gtid]);
    assert_eq!(crate::mysql::fingerprint_as(db2, &target), reference);
    assert_eq!(
        db2.root_sql(&format!(
            "SELECT id, v FROM `{target}`.accounts ORDER BY id"
        ))
        .unwrap(),
        "2\t112\n9\t19\n"
    );
    // The other database's change stayed out; the scratch database is gone.
    let dbs = db2.root_sql("SHOW DATABASES").unwrap();
    assert!(
        !dbs.contains(&other) && !dbs.contains("strata_replay"),
        "{dbs}"
    );

    // A GTID of a server that never wrote to these logs: refused before anything.
    let (domain, rest) = gtid.split_once('-').unwrap();
    let seq = rest.split_once('-').unwrap().1;
    let wrong = format!("{domain}-99-{seq}");
    let mut args: Vec<String> = ["load", "1", &name, "--rename"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend([
        format!("{name}={name}_gx"),
        "--until-gtid".into(),
        wrong.clone(),
    ]);
    args.extend(load_args(&s, db2));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.cmd(&refs).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&wrong) && err.contains("not in the binlogs"),
        "{err}"
    );
    assert!(!db2
        .root_sql("SHOW DATABASES")
        .unwrap()
        .contains(&format!("{name}_gx")));

    // A statement from elsewhere that also reads that database's own table cannot be
    // replayed alone: it fails loudly, naming the binlog position, never resolved
    // against the wrong table.
    db1.load(
        Some(&other),
        format!(
            "SET SESSION binlog_format = STATEMENT; INSERT INTO `{name}`.accounts SELECT id + 100, 0 FROM t;"
        )
        .as_bytes(),
    )
    .unwrap();
    let gtid2 = db1.root_sql("SELECT @@global.gtid_binlog_pos").unwrap();
    s.cmd(&["backup"]).assert().code(0);
    let mut args: Vec<String> = ["load", "1", &name, "--rename"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend([
        format!("{name}={name}_f"),
        "--until-gtid".into(),
        gtid2.trim().split(',').next().unwrap().into(),
    ]);
    args.extend(load_args(&s, db2));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.cmd(&refs).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("stopped at binlog.") && err.contains("doesn't exist"),
        "{err}"
    );
    assert!(!db2
        .root_sql("SHOW DATABASES")
        .unwrap()
        .contains("strata_replay"));
}

#[test]
fn a_command_source_restores_through_its_own_tool_and_its_exit_status_is_strata_s() {
    // sqlite3's .dump and a fresh sqlite3 reading it: a real dump tool and its restore.
    let s = Scratch::new();
    let db = s.path().join("app.sqlite");
    let restored = s.path().join("restored.sqlite");
    let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'é€'), (2, 'two');";
    assert!(Command::new("sqlite3")
        .arg(&db)
        .arg(sql)
        .status()
        .unwrap()
        .success());
    s.write_config(&format!(
        "[[source]]\nname = \"app\"\nkind = \"command\"\ncommand = [\"sqlite3\", {:?}, \".dump\"]\noutput = \"app.sql\"\nrestore_command = [\"sqlite3\", {:?}]\n\
         [[source]]\nname = \"bad\"\nkind = \"command\"\nshell = \"echo data\"\noutput = \"bad.out\"\nrestore_command = [\"sh\", \"-c\", \"cat >/dev/null; exit 3\"]\n\
         [[source]]\nname = \"plain\"\nkind = \"command\"\nshell = \"echo data\"\n",
        db.display().to_string(),
        restored.display().to_string()
    ));
    s.cmd(&["backup"]).assert().code(0);
    s.cmd(&["restore", "latest", "app", "--run"])
        .assert()
        .code(0);
    let dump = |p: &std::path::Path| {
        Command::new("sqlite3")
            .arg(p)
            .arg("SELECT id, v FROM t ORDER BY id")
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(dump(&restored), dump(&db));
    assert_eq!(String::from_utf8(dump(&restored)).unwrap(), "1|é€\n2|two\n");

    // The tool's failure is the restore's, with its status.
    let out = s
        .cmd(&["restore", "latest", "bad", "--run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exit 3"));
    // A source without one says what to add.
    let out = s
        .cmd(&["restore", "latest", "plain", "--run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore_command"));
}

#[test]
fn users_and_grants_are_offered_in_their_own_member_and_never_applied_by_a_database_restore() {
    let Some(db1) = mariadb::shared() else { return };
    let Some(db2) = second() else { return };
    let name = fresh_db("grants");
    let user = format!("{name}_u");
    let role = format!("{name}_r");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (a INT);
         CREATE ROLE `{role}`; GRANT SELECT ON `{name}`.* TO `{role}`;
         CREATE USER '{user}'@'%' IDENTIFIED BY 'secret-pw'; GRANT `{role}` TO '{user}'@'%';
         SET DEFAULT ROLE `{role}` FOR '{user}'@'%'; GRANT INSERT ON `{name}`.t TO '{user}'@'%';"
    ))
    .unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "users = true"));
    s.cmd(&["backup"]).assert().code(0);
    let sql = s
        .cmd(&["cat", "1", "db/.users.sql"])
        .output()
        .unwrap()
        .stdout;
    let text = String::from_utf8_lossy(&sql);
    assert!(!text.contains("secret-pw"), "{text}");

    // A database load creates no account.
    let mut a: Vec<String> = vec!["load".into(), "1".into(), name.clone()];
    a.extend(load_args(&s, db2));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    s.cmd(&refs).assert().code(0);
    let exists = format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{user}'");
    assert_eq!(db2.root_sql(&exists).unwrap().trim(), "0");

    // Applied on purpose, the account comes back with its password, role and grants,
    // and the target's own root keeps its authentication.
    let root_auth = "SELECT authentication_string, plugin FROM mysql.user WHERE User = 'root' AND Host = 'localhost'";
    let before = db2.root_sql(root_auth).unwrap();
    db2.load(None, &sql).unwrap();
    assert_eq!(db2.root_sql(root_auth).unwrap(), before);
    let grants = |m: &MariaDb| {
        m.root_sql(&format!("SHOW GRANTS FOR '{user}'@'%'"))
            .unwrap()
    };
    assert_eq!(grants(db2), grants(db1));
    let pw = format!("SELECT authentication_string FROM mysql.user WHERE User = '{user}'");
    assert_eq!(db2.root_sql(&pw).unwrap(), db1.root_sql(&pw).unwrap());
}

#[test]
fn a_replay_the_target_cannot_take_is_refused_before_anything_is_loaded() {
    let Some(db1) = mariadb::shared() else { return };
    let target = match MariaDb::start() {
        Ok(t) => t,
        Err(e) => {
            crate::support::skip(&format!("MariaDB cannot start: {e}"));
            return;
        }
    };
    target
        .root_sql("SET GLOBAL max_allowed_packet = 1048576")
        .unwrap();
    let name = fresh_db("packet");
    db1.root_sql(&format!(
        "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT PRIMARY KEY, v BIGINT)"
    ))
    .unwrap();
    let s = Scratch::new();
    s.write_config(&source(&s, db1, &[&name], "binlogs = true"));
    s.cmd(&["backup"]).assert().code(0);
    // One statement of 150,000 rows under ROW: one BINLOG statement of ~3 MiB.
    db1.root_sql(&format!(
        "SET SESSION binlog_format = ROW; INSERT INTO `{name}`.t SELECT seq, seq * 7 FROM `{name}`.seq_1_to_150000"
    ))
    .unwrap();
    let gtid = db1.root_sql("SELECT @@global.gtid_binlog_pos").unwrap();
    s.cmd(&["backup"]).assert().code(0);
    let mut a: Vec<String> = vec!["load".into(), "1".into(), name.clone()];
    a.extend([
        "--until-gtid".into(),
        gtid.trim().split(',').next().unwrap().into(),
    ]);
    a.extend(load_args(&s, &target));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = s.cmd(&refs).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("max_allowed_packet") && err.contains("nothing was loaded"),
        "{err}"
    );
    assert!(!target.root_sql("SHOW DATABASES").unwrap().contains(&name));
}
