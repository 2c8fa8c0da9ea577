//! Connecting to MySQL/MariaDB: host and port or socket, the user, TLS, and the
//! password from `password_file`, `MYSQL_PWD` or the `[client]` section of
//! `~/.my.cnf`, never from argv. Errors name host and port, never the password.

use crate::error::{Error, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, SslOpts};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Tls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Check that the server certificate names the host.
    pub verify_identity: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub socket: Option<PathBuf>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub tls: Option<Tls>,
}

/// `key = value` pairs of the `[client]` section of `~/.my.cnf`.
fn my_cnf() -> Vec<(String, String)> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(PathBuf::from(home).join(".my.cnf")) else {
        return Vec::new();
    };
    let mut in_client = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_client = line == "[client]";
        } else if in_client && !line.starts_with('#') && !line.starts_with(';') {
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().trim_matches('"').trim_matches('\'');
                out.push((k.trim().replace('_', "-"), v.to_string()));
            }
        }
    }
    out
}

/// The first of the server's client tools `names` (`mariadb`, `mysql`, ...) that runs.
pub fn client_tool(names: &[&'static str]) -> Result<&'static str> {
    for t in names {
        let ok = std::process::Command::new(t)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok();
        if ok {
            return Ok(t);
        }
    }
    Err(Error::Other(format!(
        "{} is needed and not installed (Debian: mariadb-client)",
        names.join(" or ")
    )))
}

impl Connect {
    /// `host:port` or `socket <path>`, for messages.
    pub fn target(&self) -> String {
        match &self.socket {
            Some(s) => format!("socket {}", s.display()),
            None => format!(
                "{}:{}",
                self.host.as_deref().unwrap_or("localhost"),
                self.port.unwrap_or(3306)
            ),
        }
    }

    fn password(&self, cnf: &[(String, String)]) -> Result<Option<String>> {
        if let Some(f) = &self.password_file {
            let s = std::fs::read_to_string(f).map_err(|e| {
                Error::Other(format!("cannot read password_file {}: {e}", f.display()))
            })?;
            return Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()));
        }
        if let Ok(p) = std::env::var("MYSQL_PWD") {
            return Ok(Some(p));
        }
        Ok(cnf
            .iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone()))
    }

    /// The user: the config's, else `[client]` of `~/.my.cnf`, else root.
    fn user(&self, cnf: &[(String, String)]) -> String {
        self.user
            .clone()
            .or_else(|| {
                cnf.iter()
                    .find(|(k, _)| k == "user")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| "root".into())
    }

    fn opts(&self) -> Result<OptsBuilder> {
        let cnf = my_cnf();
        let user = self.user(&cnf);
        let mut b = OptsBuilder::new()
            .user(Some(user))
            .pass(self.password(&cnf)?)
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .prefer_socket(false);
        match &self.socket {
            Some(s) => b = b.socket(Some(s.display().to_string())),
            None => {
                b = b
                    .ip_or_hostname(Some(
                        self.host.clone().unwrap_or_else(|| "localhost".into()),
                    ))
                    .tcp_port(self.port.unwrap_or(3306))
            }
        }
        if let Some(t) = &self.tls {
            let mut ssl = SslOpts::default().with_danger_skip_domain_validation(!t.verify_identity);
            if let Some(ca) = &t.ca {
                ssl = ssl.with_root_cert_path(Some(ca.clone()));
            }
            if let (Some(c), Some(k)) = (&t.cert, &t.key) {
                ssl = ssl
                    .with_client_identity(Some(mysql::ClientIdentity::new(c.clone(), k.clone())));
            }
            b = b.ssl_opts(ssl);
        }
        Ok(b)
    }

    /// A `[client]` option file (mode 0600, removed when dropped) with the user,
    /// password, server and TLS settings, for the server's own tools
    /// (`mariadb-binlog`): the password never reaches their argv or environment.
    pub fn defaults_file(&self) -> Result<tempfile::NamedTempFile> {
        use std::io::Write;
        let cnf = my_cnf();
        let quote = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let mut text = String::from("[client]\n");
        text += &format!("user={}\n", quote(&self.user(&cnf)));
        if let Some(p) = self.password(&cnf)? {
            text += &format!("password={}\n", quote(&p));
        }
        match &self.socket {
            Some(s) => {
                text += &format!(
                    "socket={}\nprotocol=socket\n",
                    quote(&s.display().to_string())
                )
            }
            None => {
                let host = self.host.clone().unwrap_or_else(|| "localhost".into());
                text += &format!(
                    "host={}\nport={}\nprotocol=tcp\n",
                    quote(&host),
                    self.port.unwrap_or(3306)
                );
            }
        }
        if let Some(t) = &self.tls {
            text += "ssl=1\n";
            if let Some(ca) = &t.ca {
                text += &format!("ssl-ca={}\n", quote(&ca.display().to_string()));
            }
            if let (Some(c), Some(k)) = (&t.cert, &t.key) {
                text += &format!(
                    "ssl-cert={}\nssl-key={}\n",
                    quote(&c.display().to_string()),
                    quote(&k.display().to_string())
                );
            }
            if t.verify_identity {
                text += "ssl-verify-server-cert\n";
            }
        }
        let mut f = tempfile::Builder::new()
            .prefix("strata-client-")
            .suffix(".cnf")
            .tempfile()
            .map_err(|e| Error::io("cannot create a client option file", e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| Error::io("cannot write a client option file", e))?;
        Ok(f)
    }

    /// Opens a session in utf8mb4, UTC, with a neutral sql_mode and long timeouts.
    pub fn connect(&self) -> Result<Conn> {
        let opts = self.opts()?;
        let mut conn = Conn::new(opts).map_err(|e| {
            Error::Other(format!(
                "cannot connect to MySQL at {}: {}",
                self.target(),
                one_line(&e)
            ))
        })?;
        for q in [
            "SET NAMES utf8mb4",
            "SET SESSION time_zone = '+00:00'",
            "SET SESSION sql_mode = ''",
            "SET SESSION sql_quote_show_create = 1",
            "SET SESSION net_read_timeout = 3600",
            "SET SESSION net_write_timeout = 3600",
            "SET SESSION wait_timeout = 86400",
        ] {
            conn.query_drop(q).map_err(|e| self.err(&e))?;
        }
        Ok(conn)
    }

    /// A query error, with the server named.
    pub fn err(&self, e: &mysql::Error) -> Error {
        Error::Other(format!("MySQL at {}: {}", self.target(), one_line(e)))
    }
}

/// A MySQL error in words, on one line: the server's message and code, or what the
/// driver or the network said, never the crate's debug wrapping (`DriverError { .. }`).
pub fn one_line(e: &mysql::Error) -> String {
    let s = match e {
        mysql::Error::MySqlError(m) => format!("the server said: {} (error {})", m.message, m.code),
        mysql::Error::DriverError(d) => d.to_string(),
        mysql::Error::IoError(io) => io.to_string(),
        other => other.to_string(),
    };
    s.replace('\n', " ")
}
