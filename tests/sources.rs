//! Sources: command output, unreadable files, FIFOs.

use crate::support::{files_source, member_of, shell_source, Scratch};
use std::process::Command;

#[test]
fn a_command_source_streams_stdout_into_one_member() {
    let s = Scratch::new();
    s.write_config(
        "[[source]]\nname = \"pg\"\nkind = \"command\"\ncommand = [\"seq\", \"1\", \"200000\"]\noutput = \"app.sql\"\n",
    );
    s.cmd(&["backup"]).assert().code(0);
    let want = Command::new("seq")
        .args(["1", "200000"])
        .output()
        .unwrap()
        .stdout;
    let got = s.cmd(&["cat", "1", "pg/app.sql"]).output().unwrap();
    assert!(got.status.success());
    assert!(got.stdout == want);
}

#[test]
fn stderr_of_a_successful_command_is_kept_as_a_warning() {
    let s = Scratch::new();
    s.write_config(&shell_source(
        "c",
        "echo out; echo 'notice: something' >&2",
        "o",
    ));
    s.cmd(&["backup"]).assert().code(1);
    let ev = &s.events()[0];
    assert_eq!(ev.status(), "warnings");
    let err = std::fs::read_to_string(s.repo().join(&ev.file).with_extension("err")).unwrap();
    assert!(err.contains("notice: something"));
}

#[test]
fn an_unreadable_file_is_listed_in_err_and_the_event_completes_with_warnings() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("ok"), b"fine").unwrap();
    std::fs::write(src.join("secret"), b"hidden").unwrap();
    crate::support::tree::chmod(&src.join("secret"), 0o000);
    s.write_config(&files_source("f", &[&src]));
    std::fs::create_dir_all(s.repo()).unwrap();
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        // root reads anything: run as nobody, who owns the scratch area.
        Command::new("chown")
            .arg("-R")
            .arg("nobody")
            .arg(s.path())
            .status()
            .unwrap();
        crate::support::tree::chmod(&src.join("secret"), 0o000);
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(assert_cmd::cargo::cargo_bin("strata"));
        c
    } else {
        Command::new(assert_cmd::cargo::cargo_bin("strata"))
    };
    let out = cmd
        .arg("--config")
        .arg(s.config())
        .arg("backup")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = &s.events()[0];
    assert_eq!(ev.status(), "warnings");
    let err = std::fs::read_to_string(s.repo().join(&ev.file).with_extension("err")).unwrap();
    assert!(
        err.contains(&format!("{}: cannot open", src.join("secret").display())),
        "{err}"
    );
    s.cmd(&["cat", "1", &member_of("f", &src.join("ok"))])
        .assert()
        .code(0)
        .stdout("fine");
    s.cmd(&["cat", "1", &member_of("f", &src.join("secret"))])
        .assert()
        .code(2);
}

#[test]
fn a_fifo_is_read_as_a_file_with_read_all_fifos() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let fifo = src.join("dump.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    s.write_config(&format!(
        "{}read_all_fifos = true\n",
        files_source("f", &[&src])
    ));
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::write(&fifo, b"streamed through a fifo\n".repeat(10000)).unwrap()
    });
    s.cmd(&["backup"]).assert().code(0);
    writer.join().unwrap();
    s.cmd(&["cat", "1", &member_of("f", &fifo)])
        .assert()
        .code(0)
        .stdout("streamed through a fifo\n".repeat(10000));
}

#[test]
fn a_fifo_is_skipped_without_read_all_fifos_with_a_warning_in_err() {
    let s = Scratch::new();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    assert!(Command::new("mkfifo")
        .arg(src.join("p"))
        .status()
        .unwrap()
        .success());
    s.write_config(&files_source("f", &[&src]));
    s.cmd(&["backup"]).assert().code(1);
    assert!(s
        .catalog()
        .member(1, &member_of("f", &src.join("p")))
        .unwrap()
        .is_none());
    let err =
        std::fs::read_to_string(s.repo().join(&s.events()[0].file).with_extension("err")).unwrap();
    assert!(
        err.contains("FIFO") && err.contains("read_all_fifos"),
        "{err}"
    );
}

#[test]
fn a_notify_command_that_cannot_start_makes_the_backup_exit_1() {
    let s = Scratch::new();
    s.write_config(&format!(
        "notify_command = [\"/nonexistent/notifier\"]\nnotify_on_success = true\n{}",
        shell_source("c", "echo x", "out")
    ));
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("notify_command"));
}
