//! A real FUSE mount of a repository: `strata mount` in a child process, waited for
//! until the mountpoint is live, unmounted with SIGTERM when dropped. With `CI=true`
//! a machine without FUSE fails the test instead of skipping it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Mounted {
    pub dir: PathBuf,
    child: Option<Child>,
}

/// Whether this machine can mount FUSE; panics under CI when it cannot.
pub fn available() -> bool {
    let ok = Path::new("/dev/fuse").exists()
        && ["/usr/bin/fusermount3", "/bin/fusermount3"]
            .iter()
            .any(|p| Path::new(p).exists());
    if !ok {
        super::skip("FUSE is not available (/dev/fuse and fusermount3 from Debian's fuse3)");
    }
    ok
}

pub fn is_mounted(dir: &Path) -> bool {
    match (std::fs::metadata(dir), dir.parent().map(std::fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

impl Mounted {
    /// Mounts the repository of `config` at `dir` (created if needed).
    pub fn new(config: &Path, dir: &Path) -> Mounted {
        Self::with_args(config, dir, &[])
    }

    /// Mounts with extra `strata mount` options.
    pub fn with_args(config: &Path, dir: &Path, extra: &[&str]) -> Mounted {
        Self::with_env(config, dir, extra, &[])
    }

    /// Mounts with extra options and environment variables.
    pub fn with_env(config: &Path, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        let child = Command::new(assert_cmd::cargo::cargo_bin("strata"))
            .envs(env.iter().copied())
            .arg("--config")
            .arg(config)
            .args(["mount", "--cache-size", "8MiB"])
            .args(extra)
            .arg(dir)
            .spawn()
            .expect("spawn strata mount");
        let mut m = Mounted {
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !is_mounted(dir) {
            if let Some(status) = m.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("strata mount exited early: {status}");
            }
            assert!(Instant::now() < deadline, "mount did not appear");
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    /// The mount process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("mount running").id()
    }

    /// Sends SIGTERM and waits; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = Command::new("fusermount3")
                    .arg("-u")
                    .arg(&self.dir)
                    .status();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the mount process without unmounting, leaving a stale mountpoint.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.stop();
        if is_mounted(&self.dir) || std::fs::metadata(&self.dir).is_err() {
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg(&self.dir)
                .status();
        }
    }
}

/// Polls `done` for up to 5 s; fails naming `what` if it never holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
