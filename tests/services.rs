//! The real services the tests start for themselves.

use crate::support::mariadb;

#[test]
fn the_private_mariadb_server_answers_on_its_socket_and_port() {
    let Some(db) = mariadb::shared() else { return };
    assert_eq!(db.root_sql("SELECT 6*7").unwrap().trim(), "42");
    // The test user reaches it over TCP on its own port, not the system instance's.
    let out = std::process::Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-N", "-B"])
        .arg(format!("-P{}", db.port))
        .arg(format!("-u{}", mariadb::USER))
        .env("MYSQL_PWD", mariadb::PASSWORD)
        .args(["-e", "SELECT @@port, @@socket"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = String::from_utf8(out.stdout).unwrap();
    assert_eq!(row.trim(), format!("{}\t{}", db.port, db.socket.display()));
}
