//! `notify_command`: after every backup, a short summary on the standard input of a
//! command such as `mail -s "strata backup" ops@example.org`. A failing notifier is a
//! warning (exit 1); it never changes the event. The notifier gets a minimal environment.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `argv` with `summary` on stdin; returns a warning line if it failed.
pub fn send(argv: &[String], summary: &str) -> Option<String> {
    let (prog, args) = argv.split_first()?;
    let child = crate::source::command::minimal_env(&mut Command::new(prog))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Some(format!("notify_command `{prog}` did not start: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(summary.as_bytes());
    }
    match child.wait() {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("notify_command `{prog}` failed ({s})")),
        Err(e) => Some(format!("notify_command `{prog}`: {e}")),
    }
}
