//! A private MariaDB server for the tests: `mariadb-install-db` into a temporary
//! datadir, `mariadbd` on a free loopback port and its own socket, never the system
//! instance. One server is shared by all tests of a run ([`shared`]); tests that must
//! kill a server start their own ([`MariaDb::start`]). Servers are started from one
//! long-lived thread with `PR_SET_PDEATHSIG`, so they die with the test process.

use super::process::{find, free_port, spawn_kept};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A test user with every privilege, reachable over TCP and the socket.
pub const USER: &str = "strata_test";
pub const PASSWORD: &str = "t3st-pw-not-secret";

pub struct MariaDb {
    pub port: u16,
    pub socket: PathBuf,
    pub datadir: PathBuf,
    pub pid: u32,
    _dir: tempfile::TempDir,
}

impl MariaDb {
    /// Starts a new private server; `Err` says what is missing.
    pub fn start() -> Result<MariaDb, String> {
        let install = find("mariadb-install-db")
            .ok_or("mariadb-install-db not found (apt-get install mariadb-server)")?;
        let daemon =
            find("mariadbd").ok_or("mariadbd not found (apt-get install mariadb-server)")?;
        let dir = tempfile::Builder::new()
            .prefix("strata-mariadb-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let datadir = dir.path().join("data");
        let socket = dir.path().join("mysqld.sock");
        // Its own tmpdir: a starting mariadbd deletes `#sql*` files it finds in its
        // tmpdir, which would pull the temporary tables from under the other servers.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let out = Command::new(&install)
            .env("TMPDIR", &tmp)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mariadb-install-db: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mariadb-install-db failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port();
        let mut db = MariaDb {
            port,
            socket,
            datadir,
            pid: 0,
            _dir: dir,
        };
        db.launch(&daemon)?;
        db.root_sql(&format!(
            "CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION; \
             CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'localhost' WITH GRANT OPTION;"
        ))?;
        Ok(db)
    }

    /// Starts `mariadbd` on this server's datadir, port and socket, and waits until it
    /// answers.
    fn launch(&mut self, daemon: &std::path::Path) -> Result<(), String> {
        let dir = self._dir.path();
        let mut cmd = Command::new(daemon);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.datadir.display()))
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--log-bin=binlog",
                "--server-id=1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.pid = spawn_kept(cmd).map_err(|e| format!("mariadbd: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.root_sql("SELECT 1").is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(format!("mariadbd did not answer within 60 s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Shuts the server down cleanly (SIGTERM, as `systemctl restart` does) and starts
    /// it again on the same datadir and port.
    pub fn restart(&mut self) -> Result<(), String> {
        let pidfile = self._dir.path().join("mysqld.pid");
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while pidfile.exists() || self.root_sql("SELECT 1").is_ok() {
            if Instant::now() > deadline {
                return Err("mariadbd did not stop within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let daemon = find("mariadbd").ok_or("mariadbd not found")?;
        self.launch(&daemon)
    }

    /// Runs SQL as root over the socket; returns tab-separated rows without headers.
    pub fn root_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args([
                "-uroot",
                "--default-character-set=utf8mb4",
                "-N",
                "-B",
                "-e",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mariadb client: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Feeds `sql` to the `mariadb` client as root (in `db` when given), as a restore would.
    pub fn load(&self, db: Option<&str>, sql: &[u8]) -> Result<String, String> {
        self.client("utf8mb4", db, sql)
            .map(|out| String::from_utf8_lossy(&out).into_owned())
    }

    /// Feeds `sql` to the `mariadb` client as root with `--default-character-set=charset`
    /// (in `db` when given); its output as bytes, or its stderr when it fails.
    pub fn client(&self, charset: &str, db: Option<&str>, sql: &[u8]) -> Result<Vec<u8>, String> {
        use std::io::Write;
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("-uroot")
            .arg(format!("--default-character-set={charset}"))
            .args(["-N", "-B"]);
        if let Some(db) = db {
            c.arg(db);
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("mariadb client: {e}"))?;
        let mut stdin = child.stdin.take().unwrap();
        let data = sql.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let _ = feeder.join();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(out.stdout)
    }

    /// `CHECKSUM TABLE` and row count of every base table of `db`, sorted by name.
    pub fn fingerprint(&self, db: &str) -> Vec<(String, String)> {
        let tables = self
            .root_sql(&format!(
                "SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME"
            ))
            .unwrap();
        // In hex: the client escapes a newline in a name.
        tables
            .lines()
            .map(|h| String::from_utf8(hex::decode(h).unwrap()).unwrap())
            .map(|t| {
                let q = format!(
                    "CHECKSUM TABLE `{db}`.`{0}` EXTENDED; SELECT COUNT(*) FROM `{db}`.`{0}`",
                    t.replace('`', "``")
                );
                let out = self.root_sql(&q).unwrap();
                let sum = out
                    .lines()
                    .map(|l| l.rsplit('\t').next().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                (t.to_string(), sum)
            })
            .collect()
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&self) {
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server shared by the tests of this run; `None` (with the reason printed) when
/// MariaDB is not installed and `CI` is not set. With `CI=true` a missing server fails.
pub fn shared() -> Option<&'static MariaDb> {
    static SERVER: OnceLock<Result<MariaDb, String>> = OnceLock::new();
    super::service(
        SERVER.get_or_init(MariaDb::start),
        "the MariaDB test server",
    )
}
