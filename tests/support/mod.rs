//! Shared helpers: a scratch repository with a config, the `strata` binary, trees of
//! odd files, and the real services (MariaDB) that later areas need.

#![allow(dead_code)]

pub mod mariadb;
pub mod mount;
pub mod process;
pub mod proxy;
pub mod s3;
pub mod sshd;
pub mod tree;

use std::path::{Path, PathBuf};

/// True when a missing service must fail the run instead of skipping.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Where skipped tests are recorded; `scripts/test.sh` prints them after the run.
pub fn skips_file() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt")
}

/// Says that the calling test skips, and why: a failure under `CI=true`, otherwise a
/// line in [`skips_file`] (shown in the test script's summary) and on stderr.
pub fn skip(reason: &str) {
    if ci() {
        panic!("CI=true and this test would skip: {reason}");
    }
    let test = std::thread::current().name().unwrap_or("?").to_string();
    eprintln!("skipped: {test}: {reason}");
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skips_file())
    {
        let _ = writeln!(f, "{test}: {reason}");
    }
}

/// A service shared by the tests of a run, started once into `started`; `None` (a
/// recorded skip, a failure under `CI=true`) when it could not start.
pub fn service<T>(started: &'static Result<T, String>, what: &str) -> Option<&'static T> {
    match started {
        Ok(s) => Some(s),
        Err(e) => {
            skip(&format!("{what} cannot start: {e}"));
            None
        }
    }
}

/// The `strata` binary, with no config taken from the environment.
pub fn strata() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("strata").expect("strata binary");
    c.env_remove("STRATA_CONFIG").env_remove("STRATA_LOG");
    c
}

/// A scratch directory with `repo/` and `strata.toml`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("strata-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("strata.toml")
    }

    /// Writes `strata.toml` with the repository and `extra` (sources, settings).
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "repository = {:?}\nhost = \"testhost\"\n{extra}\n",
            self.repo().display().to_string()
        );
        std::fs::write(self.config(), text).expect("write config");
    }

    /// `strata --config <this config> args...`
    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = strata();
        c.arg("--config").arg(self.config()).args(args);
        c
    }

    /// `strata --config <this config> backup` started in the background.
    pub fn spawn_backup(&self) -> std::process::Child {
        self.spawn(&["backup"])
    }

    /// `strata --config <this config> args...` started in the background.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("strata"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .spawn()
            .expect("spawn strata")
    }

    /// Flips the bits of one byte in the middle of frame `frame` of `member` of event 1.
    pub fn damage_frame(&self, member: &str, frame: usize) {
        use std::os::unix::fs::FileExt;
        let m = self.catalog().member(1, member).unwrap().unwrap();
        let fr = m.frames[frame];
        let at = m.offset + fr.offset + fr.compressed_size as u64 / 2;
        let tar = self.repo().join(&self.events()[0].file);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tar)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[!b[0]], at).unwrap();
    }

    pub fn catalog(&self) -> strata::catalog::Catalog {
        strata::catalog::Catalog::open(&self.repo()).expect("catalog")
    }

    pub fn events(&self) -> Vec<strata::model::Event> {
        self.catalog().events().expect("events")
    }
}

/// A files source over `dirs`.
pub fn files_source(name: &str, dirs: &[&Path]) -> String {
    let list: Vec<String> = dirs
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect();
    format!(
        "[[source]]\nname = \"{name}\"\nkind = \"files\"\ninclude = [{}]\n",
        list.join(", ")
    )
}

/// A command source running `sh -c script`.
pub fn shell_source(name: &str, script: &str, output: &str) -> String {
    format!("[[source]]\nname = \"{name}\"\nkind = \"command\"\nshell = {script:?}\noutput = \"{output}\"\n")
}

/// The member path of a file backed up by the files source `source`.
pub fn member_of(source: &str, p: &Path) -> String {
    format!(
        "{source}/{}",
        p.display().to_string().trim_start_matches('/')
    )
}

/// `len` incompressible, deterministic bytes (xorshift from `seed`).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A finished command's stderr, as text.
pub fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `N` of `fetched N bytes` in a `-v` run's stderr.
pub fn fetched(stderr: &str) -> u64 {
    stderr
        .split("fetched ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `fetched N bytes` in: {stderr}"))
}
