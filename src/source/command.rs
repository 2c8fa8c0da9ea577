//! The `command` source: runs a program (argv list, or `sh -c` when asked) and streams
//! its standard output into one member. Its standard error goes to the event's `.err`;
//! a non-zero exit fails the source (the event is then partial, or failed if nothing
//! else succeeded), as a failed `mongodump` must never pass for a backup. The command
//! gets a minimal environment, never strata's secrets.

use super::Source;
use crate::error::{Error, Result};
use crate::model::{FileMeta, Member, MemberKind, MemberSink, SinkError};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// At most this many bytes of a command's stderr are kept for `.err`.
const STDERR_LIMIT: usize = 64 * 1024;

pub struct CommandSource {
    pub name: String,
    /// argv; with `shell`, a single string run by `sh -c`.
    pub argv: Vec<String>,
    pub shell: bool,
    /// Member name under the source.
    pub output: String,
    /// The program that restores the output from its standard input (`strata restore
    /// EVENT SOURCE --run`), argv.
    pub restore_command: Option<Vec<String>>,
}

/// Variables a child process keeps from strata's environment; nothing else (no
/// `MYSQL_PWD`, no cloud credentials) reaches commands strata runs.
const KEPT_ENV: [&str; 9] = [
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR", "TERM",
];

/// Gives `cmd` only the environment a command needs: [`KEPT_ENV`] and `LC_*`.
pub fn minimal_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear();
    for (k, v) in std::env::vars_os() {
        let keep = k
            .to_str()
            .is_some_and(|k| KEPT_ENV.contains(&k) || k.starts_with("LC_"));
        if keep {
            cmd.env(k, v);
        }
    }
    cmd
}

impl CommandSource {
    fn program(&self) -> &str {
        if self.shell {
            "sh -c"
        } else {
            &self.argv[0]
        }
    }
}

impl Source for CommandSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn restore_command(&self) -> Option<(String, Vec<String>)> {
        let argv = self.restore_command.clone()?;
        Some((format!("{}/{}", self.name, self.output), argv))
    }

    fn dry_run(&self) -> Result<Vec<String>> {
        let how = if self.shell {
            format!("sh -c {:?}", self.argv[0])
        } else {
            format!("{:?}", self.argv)
        };
        Ok(vec![format!(
            "{}/{}: the output of {how}",
            self.name, self.output
        )])
    }

    fn run(&self, sink: &mut dyn MemberSink) -> Result<()> {
        let mut cmd = if self.shell {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&self.argv[0]);
            c
        } else {
            let mut c = Command::new(&self.argv[0]);
            c.args(&self.argv[1..]);
            c
        };
        let fail = |what: String| Error::Other(format!("source '{}': {what}", self.name));
        let mut child = minimal_env(&mut cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run `{}`: {e}", self.program())))?;
        let stderr = child.stderr.take().expect("piped");
        let errs = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut kept = 0;
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                kept += line.len();
                if kept <= STDERR_LIMIT {
                    lines.push(line);
                }
            }
            if kept > STDERR_LIMIT {
                lines.push(format!("... ({kept} bytes of stderr in all, the rest cut)"));
            }
            lines
        });
        // SAFETY: getuid(2) and getgid(2) read the process's ids; they cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let meta = FileMeta {
            mode: 0o640,
            mtime: chrono::Utc::now().timestamp(),
            uid,
            gid,
        };
        let member = Member::new(
            &self.name,
            format!("{}/{}", self.name, self.output),
            MemberKind::Output,
            meta,
        );
        let mut stdout = child.stdout.take().expect("piped");
        let streamed = sink.stream(member, &mut stdout);
        drop(stdout);
        let status = child.wait();
        for line in errs.join().unwrap_or_default() {
            sink.warn(format!("source '{}': stderr: {line}", self.name));
        }
        match streamed {
            Ok(_) => {}
            Err(SinkError::Read(e)) => return Err(fail(format!("reading the output failed: {e}"))),
            Err(SinkError::Closed(e)) => return Err(e),
        }
        let status = status.map_err(|e| fail(format!("waiting for `{}`: {e}", self.program())))?;
        if !status.success() {
            return Err(fail(format!(
                "`{}` failed ({status}); this source failed",
                self.program()
            )));
        }
        Ok(())
    }
}
