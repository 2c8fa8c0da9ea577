//! A real SFTP server for the tests: Debian's OpenSSH `sshd -D -f <temporary config>`
//! on a free loopback port, with generated host and user keys and a `known_hosts`
//! that holds its host key. One server is shared by the tests of a run.

use super::process::{find, free_port, spawn_kept};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Sshd {
    pub port: u16,
    pub user: String,
    pub user_key: PathBuf,
    /// A `known_hosts` holding this server's key.
    pub known_hosts: PathBuf,
    pub dir: tempfile::TempDir,
}

fn keygen(path: &std::path::Path) -> Result<(), String> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    out.status
        .success()
        .then_some(())
        .ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

impl Sshd {
    pub fn start() -> Result<Sshd, String> {
        let sshd = find("sshd").ok_or("sshd not found (apt-get install openssh-server)")?;
        let dir = tempfile::Builder::new()
            .prefix("strata-sshd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        keygen(&d.join("host_key"))?;
        keygen(&d.join("user_key"))?;
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys"))
            .map_err(|e| e.to_string())?;
        // sshd's privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             StrictModes no\nUsePAM no\nPidFile {d}/sshd.pid\nSubsystem sftp internal-sftp\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(sshd);
        cmd.arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).map_err(|e| e.to_string())?);
        spawn_kept(cmd).map_err(|e| format!("sshd: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
                return Err(format!("sshd did not listen within 30 s: {log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let host_pub =
            std::fs::read_to_string(d.join("host_key.pub")).map_err(|e| e.to_string())?;
        let key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let known_hosts = d.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
        )
        .map_err(|e| e.to_string())?;
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        Ok(Sshd {
            port,
            user,
            user_key: d.join("user_key"),
            known_hosts,
            dir,
        })
    }

    /// A `[[target]]` writing under `path` on this server through port `port`.
    pub fn target_via(
        &self,
        name: &str,
        port: u16,
        path: &std::path::Path,
        known_hosts: &std::path::Path,
        extra: &str,
    ) -> String {
        format!(
            "[[target]]\nname = \"{name}\"\nkind = \"sftp\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{}\"\nkey_file = {:?}\nknown_hosts = {:?}\npath = {:?}\n{extra}\n",
            self.user,
            self.user_key.display().to_string(),
            known_hosts.display().to_string(),
            path.display().to_string()
        )
    }

    /// A `[[target]]` writing under `path` on this server.
    pub fn target(&self, name: &str, path: &std::path::Path, extra: &str) -> String {
        self.target_via(name, self.port, path, &self.known_hosts, extra)
    }
}

/// The server shared by the tests of this run; `None` (recorded as a skip) when sshd
/// is missing and `CI` is not set.
pub fn shared() -> Option<&'static Sshd> {
    static SERVER: OnceLock<Result<Sshd, String>> = OnceLock::new();
    super::service(SERVER.get_or_init(Sshd::start), "the SFTP test server")
}
