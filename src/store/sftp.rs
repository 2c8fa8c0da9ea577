//! A directory on an SSH server as a [`Store`], over SFTP with libssh2. The server's
//! host key must be in `known_hosts`: an unknown or changed key is an error that says
//! how to add it, never accepted. A put writes a temporary name, checks the size and
//! SHA-256 of what the server holds (computed there by `sha256sum` when the account
//! has a shell, read back otherwise) and only then renames it into place.

use super::{Object, SftpOptions, Store, Stored};
use crate::error::{Error, Result};
use sha2::Digest;
use ssh2::{CheckResult, KnownHostFileKind, OpenFlags, OpenType, RenameFlags, Session, Sftp};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

struct Conn {
    session: Session,
    sftp: Sftp,
}

pub struct SftpStore {
    target: String,
    opts: SftpOptions,
    conn: Mutex<Option<Conn>>,
    fetched: AtomicU64,
}

impl SftpStore {
    pub fn new(target: &str, opts: SftpOptions) -> SftpStore {
        SftpStore {
            target: target.to_string(),
            opts,
            conn: Mutex::new(None),
            fetched: AtomicU64::new(0),
        }
    }

    fn err(&self, message: String, transient: bool) -> Error {
        Error::Target {
            target: self.target.clone(),
            message,
            transient,
        }
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.opts.host, self.opts.port)
    }

    fn connect(&self) -> Result<Conn> {
        let o = &self.opts;
        let addr = self.addr();
        let unreachable = |e: String| self.err(format!("cannot connect to {addr}: {e}"), true);
        let sock = addr
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?
            .next()
            .ok_or_else(|| unreachable("no address".into()))?;
        let tcp = TcpStream::connect_timeout(&sock, Duration::from_secs(10))
            .map_err(|e| unreachable(e.to_string()))?;
        let mut session = Session::new().map_err(|e| unreachable(e.to_string()))?;
        session.set_tcp_stream(tcp);
        session.set_timeout(60_000);
        session
            .handshake()
            .map_err(|e| unreachable(format!("SSH handshake failed: {e}")))?;
        self.check_host_key(&session)?;
        let auth = match &o.key_file {
            Some(k) => session.userauth_pubkey_file(&o.user, None, k, None),
            None => session.userauth_agent(&o.user),
        };
        if auth.is_err() || !session.authenticated() {
            let how = match &o.key_file {
                Some(k) => format!("with the key {}", k.display()),
                None => "with the keys of the SSH agent (set `key_file` to use a key file)".into(),
            };
            return Err(self.err(
                format!("{addr}: user {:?} was refused {how}", o.user),
                false,
            ));
        }
        let sftp = session
            .sftp()
            .map_err(|e| self.err(format!("{addr}: the server offers no SFTP: {e}"), false))?;
        Ok(Conn { session, sftp })
    }

    fn check_host_key(&self, session: &Session) -> Result<()> {
        let o = &self.opts;
        let file = &o.known_hosts;
        let mut kh = session
            .known_hosts()
            .map_err(|e| self.err(format!("known_hosts: {e}"), false))?;
        if file.exists() {
            kh.read_file(file, KnownHostFileKind::OpenSSH)
                .map_err(|e| {
                    self.err(
                        format!("cannot read known_hosts {}: {e}", file.display()),
                        false,
                    )
                })?;
        }
        let (key, _) = session
            .host_key()
            .ok_or_else(|| self.err(format!("{} sent no host key", self.addr()), false))?;
        let name = if o.port == 22 {
            o.host.clone()
        } else {
            format!("[{}]:{}", o.host, o.port)
        };
        let keyscan = format!("ssh-keyscan -p {} {} >> {}", o.port, o.host, file.display());
        match kh.check_port(&o.host, o.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::NotFound => Err(self.err(
                format!(
                    "the host key of {name} is not in {}; check its fingerprint with the server's administrator, then add it: {keyscan}",
                    file.display()
                ),
                false,
            )),
            CheckResult::Mismatch => Err(self.err(
                format!(
                    "the host key of {name} has CHANGED and does not match {}: someone may be intercepting the connection; if the server's key was really replaced, remove the old one with `ssh-keygen -R '{name}' -f {}` and add the new one: {keyscan}",
                    file.display(),
                    file.display()
                ),
                false,
            )),
            CheckResult::Failure => Err(self.err(
                format!("cannot check the host key of {name} against {}", file.display()),
                false,
            )),
        }
    }

    /// Runs `f` on the connection, connecting first if needed; an I/O failure drops the
    /// connection so that the next call reconnects.
    fn with<T>(&self, f: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
        let mut guard = crate::sync::lock(&self.conn);
        if guard.is_none() {
            *guard = Some(self.connect()?);
        }
        let r = f(guard.as_ref().expect("connected"));
        if matches!(
            r,
            Err(Error::Target {
                transient: true,
                ..
            })
        ) {
            *guard = None;
        }
        r
    }

    fn path(&self, name: &str) -> PathBuf {
        Path::new(&self.opts.path).join(name)
    }

    fn sftp_err(&self, what: String, e: ssh2::Error) -> Error {
        // SFTP status codes: 2 no such file, 3 permission denied, 4 failure (a full
        // disk on OpenSSH); a session error means the connection is gone.
        let transient = matches!(e.code(), ssh2::ErrorCode::Session(_));
        let hint = match e.code() {
            ssh2::ErrorCode::SFTP(3) => " (permission denied on the server)",
            ssh2::ErrorCode::SFTP(4) => " (the server failed the write: is its disk full?)",
            ssh2::ErrorCode::SFTP(14) => " (no space left on the server)",
            _ => "",
        };
        self.err(format!("{what}: {e}{hint}"), transient)
    }

    fn mkdirs(&self, c: &Conn, dir: &Path) -> Result<()> {
        let mut at = PathBuf::new();
        for part in dir.components() {
            at.push(part);
            if c.sftp.stat(&at).is_err() {
                if let Err(e) = c.sftp.mkdir(&at, 0o700) {
                    if c.sftp.stat(&at).is_err() {
                        return Err(self.sftp_err(format!("cannot create {}", at.display()), e));
                    }
                }
            }
        }
        Ok(())
    }

    /// SHA-256 of a remote file: `sha256sum` on the server, or read back.
    fn remote_sha256(&self, c: &Conn, path: &Path) -> Result<String> {
        if let Some(sum) = remote_sha256sum(&c.session, path) {
            return Ok(sum);
        }
        let mut f = c
            .sftp
            .open(path)
            .map_err(|e| self.sftp_err(format!("cannot read back {}", path.display()), e))?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| self.err(format!("cannot read back {}: {e}", path.display()), true))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex::encode(h.finalize()))
    }

    fn put_on(&self, c: &Conn, name: &str, local: &Path) -> Result<Stored> {
        let dest = self.path(name);
        let dir = dest.parent().unwrap_or(Path::new("/"));
        self.mkdirs(c, dir)?;
        // Never replace: a file already there is compared, not written over.
        if c.sftp.stat(&dest).is_ok() {
            return self.existing(c, &dest, local);
        }
        let tmp = PathBuf::from(format!("{}.strata-tmp", dest.display()));
        let r = self.write_verified(c, local, &tmp).and_then(|stored| {
            // No OVERWRITE: SFTP's rename refuses an existing name.
            c.sftp
                .rename(&tmp, &dest, Some(RenameFlags::ATOMIC | RenameFlags::NATIVE))
                .map(|()| stored)
                .map_err(|e| {
                    self.sftp_err(format!("cannot rename {} into place", tmp.display()), e)
                })
        });
        if r.is_err() {
            // Best effort (the connection may be gone): listings skip `.strata-tmp`
            // names and the next put truncates it anyway.
            let _ = c.sftp.unlink(&tmp);
            if c.sftp.stat(&dest).is_ok() {
                return self.existing(c, &dest, local);
            }
        }
        r
    }

    /// A file already at `dest`: the same bytes as `local` (an upload cut after the
    /// rename) is a copy made; other bytes are refused, and nothing is written.
    fn existing(&self, c: &Conn, dest: &Path, local: &Path) -> Result<Stored> {
        let (size, sha256) = super::file_sha256(local)?;
        let held = c
            .sftp
            .stat(dest)
            .map_err(|e| self.sftp_err(format!("cannot check {}", dest.display()), e))?
            .size
            .unwrap_or(0);
        if held == size && self.remote_sha256(c, dest)? == sha256 {
            return Ok(Stored { size, sha256 });
        }
        Err(self.err(
            format!(
                "{} already exists with other bytes; strata never replaces a copy. If this machine is new, run `strata reindex --from {}` before its first backup (or give it another `host`)",
                dest.display(),
                self.target
            ),
            false,
        ))
    }

    /// Writes `local` to `tmp` and proves that the server holds exactly its bytes.
    fn write_verified(&self, c: &Conn, local: &Path, tmp: &Path) -> Result<Stored> {
        let mut src = std::fs::File::open(local)
            .map_err(|e| Error::io(format!("cannot read {}", local.display()), e))?;
        let mut out = c
            .sftp
            .open_mode(
                tmp,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                0o600,
                OpenType::File,
            )
            .map_err(|e| self.sftp_err(format!("cannot create {}", tmp.display()), e))?;
        let mut h = sha2::Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = src
                .read(&mut buf)
                .map_err(|e| Error::io(format!("cannot read {}", local.display()), e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| {
                self.err(
                    format!(
                        "cannot write {}: {e} (the server refused the write: is its disk full, or the directory not writable?)",
                        tmp.display()
                    ),
                    is_session_io(&e),
                )
            })?;
            size += n as u64;
        }
        let _ = out.fsync();
        drop(out);
        let sha = hex::encode(h.finalize());
        let held = c
            .sftp
            .stat(tmp)
            .map_err(|e| self.sftp_err(format!("cannot check {}", tmp.display()), e))?
            .size
            .unwrap_or(0);
        let remote = self.remote_sha256(c, tmp)?;
        if held != size || remote != sha {
            return Err(self.err(
                format!(
                    "{} holds {held} bytes with a different SHA-256 after the upload ({size} bytes sent)",
                    tmp.display()
                ),
                true,
            ));
        }
        Ok(Stored { size, sha256: sha })
    }

    fn list_into(&self, c: &Conn, dir: &Path, out: &mut Vec<Object>) -> Result<()> {
        let entries = match c.sftp.readdir(dir) {
            Ok(e) => e,
            Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => return Ok(()),
            Err(e) => return Err(self.sftp_err(format!("cannot list {}", dir.display()), e)),
        };
        for (path, stat) in entries {
            if stat.is_dir() {
                self.list_into(c, &path, out)?;
            } else if stat.is_file() && !path.to_string_lossy().ends_with(".strata-tmp") {
                let name = path.strip_prefix(&self.opts.path).unwrap_or(&path);
                out.push(Object {
                    name: name.to_string_lossy().into_owned(),
                    size: stat.size.unwrap_or(0),
                });
            }
        }
        Ok(())
    }
}

fn is_session_io(e: &std::io::Error) -> bool {
    !matches!(e.kind(), std::io::ErrorKind::PermissionDenied)
}

/// `sha256sum` of `path` run on the server, when the account may run commands.
fn remote_sha256sum(session: &Session, path: &Path) -> Option<String> {
    let mut ch = session.channel_session().ok()?;
    let quoted = format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"));
    ch.exec(&format!("sha256sum -- {quoted}")).ok()?;
    let mut out = String::new();
    ch.read_to_string(&mut out).ok()?;
    ch.wait_close().ok()?;
    if ch.exit_status().ok()? != 0 {
        return None;
    }
    let sum = out.split_whitespace().next()?;
    (sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sum.to_string())
}

impl Store for SftpStore {
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let path = self.path(name);
        let r = self.with(|c| {
            let mut f = match c.sftp.open(&path) {
                Ok(f) => f,
                Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => {
                    return Ok(Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("target {}: {} not found", self.target, path.display()),
                    )))
                }
                Err(e) => return Err(self.sftp_err(format!("cannot open {}", path.display()), e)),
            };
            let mut buf = vec![0u8; len];
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_exact(&mut buf))
                .map_err(|e| {
                    self.err(
                        format!("cannot read {}: {e}", path.display()),
                        e.kind() != std::io::ErrorKind::UnexpectedEof,
                    )
                })?;
            Ok(Ok(buf))
        });
        let buf = r.map_err(|e| std::io::Error::other(e.to_string()))??;
        self.fetched.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf)
    }

    fn put(&self, name: &str, local: &Path) -> Result<Stored> {
        self.with(|c| self.put_on(c, name, local))
    }

    fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        self.with(|c| {
            let mut out = Vec::new();
            self.list_into(c, &self.path(prefix), &mut out)?;
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    fn size_of(&self, name: &str) -> Result<Option<u64>> {
        let path = self.path(name);
        self.with(|c| match c.sftp.stat(&path) {
            Ok(st) => Ok(Some(st.size.unwrap_or(0))),
            Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => Ok(None),
            Err(e) => Err(self.sftp_err(format!("cannot check {}", path.display()), e)),
        })
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        self.with(|c| match c.sftp.unlink(&path) {
            Err(e) if !matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => {
                Err(self.sftp_err(format!("cannot delete {}", path.display()), e))
            }
            _ => Ok(()),
        })
    }

    fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    fn label(&self) -> String {
        format!("sftp target {:?}", self.target)
    }
}
