//! Off-site copies against real servers: moto's S3 server and OpenSSH's sftp, both on
//! loopback. Uploads are proven, remote-only events read back by ranged reads (in the
//! CLI and through the mount), a fresh machine rebuilds its catalog from a bucket, and
//! faults (wrong credentials, a missing bucket, a changed host key, a full disk, a
//! server gone mid-upload) leave nothing counted as copied that is not.

use crate::support::{
    fetched, files_source, member_of, mount, proxy::Proxy, s3, sshd, stderr_of, Scratch,
};
use std::path::{Path, PathBuf};
use strata::catalog::CopyState;

/// `data/` with a 12 MiB incompressible file (more than two 5 MiB parts), a text file
/// and a small one.
fn data(s: &Scratch) -> PathBuf {
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    let big = crate::support::noise(12 << 20, 0x9e3779b97f4a7c15);
    std::fs::write(d.join("big.bin"), big).unwrap();
    let text: String = (0..40_000)
        .map(|i| format!("row {i}: some text\n"))
        .collect();
    std::fs::write(d.join("rows.txt"), text).unwrap();
    std::fs::write(d.join("small.txt"), b"hello from far away\n").unwrap();
    d
}

fn s3_cmd(s: &Scratch, srv: &s3::S3Server, args: &[&str]) -> assert_cmd::Command {
    let mut c = s.cmd(args);
    srv.env(&mut c);
    c
}

fn copy_state(s: &Scratch, id: i64, target: &str) -> Option<CopyState> {
    s.catalog()
        .copies_of(id)
        .unwrap()
        .into_iter()
        .find(|c| c.target == target)
        .map(|c| c.state)
}

#[test]
fn an_event_goes_to_s3_in_checked_parts_and_reads_back_from_there_alone() {
    let Some(srv) = s3::shared() else { return };
    let s = Scratch::new();
    let d = data(&s);
    srv.create_bucket("multipart");
    s.write_config(&format!(
        "{}{}",
        files_source("f", &[&d]),
        srv.target(
            "off",
            "multipart",
            "fleet",
            "part_size = \"5MiB\"\nretries = 0\nstorage_class = \"STANDARD_IA\"\nsse = \"AES256\""
        )
    ));
    s3_cmd(&s, srv, &["backup"]).assert().code(0);
    let ev = s.events().pop().unwrap();
    let copy = &s.catalog().copies_of(ev.id).unwrap()[0];
    assert_eq!(copy.state, CopyState::Done);
    assert_eq!(copy.size, Some(ev.bytes));
    assert_eq!(copy.sha256, ev.sha256);
    let objects = srv.objects("multipart");
    let names: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    let stem = format!("fleet/testhost/{}", ev.file.trim_end_matches(".tar"));
    for ext in [".tar", ".tar.sha256", ".meta", ".err"] {
        assert!(
            names.contains(&format!("{stem}{ext}").as_str()),
            "{names:?}"
        );
    }
    let tar = objects.iter().find(|(k, _)| k.ends_with(".tar")).unwrap();
    assert_eq!(tar.1, ev.bytes);
    assert_eq!(srv.storage_class("multipart", &tar.0), "STANDARD_IA");
    assert!(ev.bytes > 10 << 20, "the archive spans several parts");
    assert_eq!(srv.open_uploads("multipart"), 0);

    // The local archive is lost: everything still reads, from the bucket.
    std::fs::remove_file(s.repo().join(&ev.file)).unwrap();
    let small = member_of("f", &d.join("small.txt"));
    let out = s3_cmd(&s, srv, &["-v", "cat", "latest", &small])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"hello from far away\n");
    assert!(fetched(&stderr_of(&out)) < 4096, "{}", stderr_of(&out));

    let rows = member_of("f", &d.join("rows.txt"));
    let rows_member = s.catalog().member(ev.id, &rows).unwrap().unwrap();
    let to = s.path().join("restored");
    let out = s3_cmd(
        &s,
        srv,
        &[
            "-v",
            "restore",
            "latest",
            &rows,
            "--to",
            to.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read(to.join(&rows)).unwrap(),
        std::fs::read(d.join("rows.txt")).unwrap()
    );
    // One table's frames, not the archive.
    let got = fetched(&stderr_of(&out));
    assert!(
        got <= 2 * rows_member.compressed_size,
        "{got} bytes for a {} byte member",
        rows_member.compressed_size
    );

    s3_cmd(&s, srv, &["verify", "--remote"]).assert().code(0);
    s3_cmd(&s, srv, &["verify", "latest"]).assert().code(0);
    s3_cmd(&s, srv, &["verify", "--all"]).assert().code(0);
    let list = s3_cmd(&s, srv, &["list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.lines().nth(1).unwrap().trim_end().ends_with(" off"),
        "{text}"
    );

    if !mount::available() {
        return;
    }
    let env = srv.env_pairs();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let m = mount::Mounted::with_env(&s.config(), &s.path().join("mnt"), &[], &env);
    let through = m
        .dir
        .join("latest")
        .join(member_of("f", &d.join("big.bin")));
    assert_eq!(
        std::fs::read(through).unwrap(),
        std::fs::read(d.join("big.bin")).unwrap()
    );
}

#[test]
fn a_fresh_machine_rebuilds_its_catalog_from_a_bucket_of_many_hosts() {
    let Some(srv) = s3::shared() else { return };
    srv.create_bucket("fleet");
    let target = srv.target("off", "fleet", "all", "retries = 0");
    let mut machines = Vec::new();
    for host in ["alpha", "beta"] {
        let s = Scratch::new();
        let d = s.path().join("data");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("who"), host).unwrap();
        let cfg = format!("{}{target}", files_source("f", &[&d]));
        std::fs::write(
            s.config(),
            format!("repository = {:?}\nhost = \"{host}\"\n{cfg}", s.repo()),
        )
        .unwrap();
        s3_cmd(&s, srv, &["backup"]).assert().code(0);
        std::fs::write(d.join("who"), format!("{host} again")).unwrap();
        s3_cmd(&s, srv, &["backup"]).assert().code(0);
        machines.push((s, d));
    }
    let keys: Vec<String> = srv.objects("fleet").into_iter().map(|(k, _)| k).collect();
    assert!(
        keys.iter().any(|k| k.starts_with("all/alpha/"))
            && keys.iter().any(|k| k.starts_with("all/beta/")),
        "{keys:?}"
    );

    // alpha's disk is gone; a new machine has only the config.
    let (old, d) = &machines[0];
    let fresh = Scratch::new();
    let cfg = std::fs::read_to_string(old.config())
        .unwrap()
        .replace(&format!("{:?}", old.repo()), &format!("{:?}", fresh.repo()));
    std::fs::write(fresh.config(), cfg).unwrap();
    let out = s3_cmd(&fresh, srv, &["reindex", "--from", "off"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "ids of two hosts collide: {}",
        stderr_of(&out)
    );
    assert!(stderr_of(&out).contains("--host"), "{}", stderr_of(&out));
    s3_cmd(
        &fresh,
        srv,
        &["reindex", "--from", "off", "--host", "alpha"],
    )
    .assert()
    .code(0);
    let events = fresh.events();
    assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1, 2]);
    assert!(events.iter().all(|e| e.host == "alpha"));
    let who = member_of("f", &d.join("who"));
    let out = s3_cmd(&fresh, srv, &["cat", "latest", &who])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"alpha again", "{}", stderr_of(&out));
    let out = s3_cmd(&fresh, srv, &["cat", "1", &who]).output().unwrap();
    assert_eq!(out.stdout, b"alpha");

    // Its next backup takes a new id and adds to the bucket; nothing is re-uploaded.
    s3_cmd(&fresh, srv, &["backup"]).assert().code(0);
    let ev = fresh.events().pop().unwrap();
    assert_eq!(ev.id, 3);
    assert_eq!(copy_state(&fresh, 1, "off"), Some(CopyState::Done));
    assert_eq!(copy_state(&fresh, 3, "off"), Some(CopyState::Done));
    let alpha_tars = srv
        .objects("fleet")
        .into_iter()
        .filter(|(k, _)| k.starts_with("all/alpha/") && k.ends_with(".tar"))
        .count();
    assert_eq!(alpha_tars, 3);
}

#[test]
fn wrong_s3_credentials_and_a_missing_bucket_fail_with_the_reason() {
    let Some(srv) = s3::authenticated() else {
        return;
    };
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("x"), b"x").unwrap();
    srv.create_bucket("creds");
    s.write_config(&format!(
        "{}{}",
        files_source("f", &[&d]),
        srv.target("off", "creds", "", "retries = 0")
    ));
    let out = s
        .cmd(&["backup"])
        .env("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the event is kept, the copy failed: {err}"
    );
    assert!(
        err.contains("target off") && err.contains("InvalidAccessKeyId"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret"), "{err}");
    assert_eq!(copy_state(&s, 1, "off"), Some(CopyState::Failed));
    assert!(srv.objects("creds").is_empty());
    let out = s
        .cmd(&["upload"])
        .env("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));

    // The right keys finish it.
    let out = s3_cmd(&s, srv, &["upload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(copy_state(&s, 1, "off"), Some(CopyState::Done));

    s.write_config(&format!(
        "{}{}",
        files_source("f", &[&d]),
        srv.target("off", "no-such-bucket", "", "retries = 0")
    ));
    s3_cmd(&s, srv, &["backup"]).assert().code(1);
    let out = s3_cmd(&s, srv, &["upload", "--target", "off"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("NoSuchBucket"),
        "{}",
        stderr_of(&out)
    );
    let out = s3_cmd(&s, srv, &["upload", "--target", "elsewhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("no target named \"elsewhere\""),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn an_upload_cut_by_a_dying_server_stays_pending_until_upload_finishes_it() {
    let Some(srv) = s3::shared() else { return };
    let s = Scratch::new();
    let d = data(&s);
    srv.create_bucket("cut");
    // The relay dies after 7 MiB: in the middle of the second part.
    let relay = Proxy::new(srv.port, 7 << 20);
    let target = srv
        .target(
            "off",
            "cut",
            "",
            "part_size = \"5MiB\"\npart_concurrency = 1\nretries = 0",
        )
        .replace(&format!(":{}\"", srv.port), &format!(":{}\"", relay.port));
    s.write_config(&format!("{}{target}", files_source("f", &[&d])));
    let out = s3_cmd(&s, srv, &["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(relay.is_down());
    assert_eq!(copy_state(&s, 1, "off"), Some(CopyState::Failed));
    // Nothing half-written passes for a copy: no archive object, no checksum file.
    assert!(srv
        .objects("cut")
        .iter()
        .all(|(k, _)| !k.ends_with(".tar") && !k.ends_with(".sha256")));
    let fresh = Scratch::new();
    std::fs::write(
        fresh.config(),
        std::fs::read_to_string(s.config())
            .unwrap()
            .replace(&format!("{:?}", s.repo()), &format!("{:?}", fresh.repo())),
    )
    .unwrap();
    let out = s3_cmd(&fresh, srv, &["reindex", "--from", "off"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "a cut upload is no event");

    relay.restart();
    s3_cmd(&s, srv, &["upload"]).assert().code(0);
    assert_eq!(copy_state(&s, 1, "off"), Some(CopyState::Done));
    assert_eq!(srv.open_uploads("cut"), 0);
    s3_cmd(&s, srv, &["verify", "--remote"]).assert().code(0);
}

#[test]
fn target_keep_rules_remove_old_copies_and_finish_an_interrupted_removal() {
    let Some(srv) = s3::shared() else { return };
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    srv.create_bucket("keep");
    s.write_config(&format!(
        "{}{}",
        files_source("f", &[&d]),
        srv.target("off", "keep", "", "retries = 0\nkeep = { last = 2 }")
    ));
    for i in 0..3 {
        std::fs::write(d.join("n"), format!("{i}")).unwrap();
        s3_cmd(&s, srv, &["backup"]).assert().code(0);
    }
    let tars = |srv: &s3::S3Server| -> Vec<String> {
        srv.objects("keep")
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.ends_with(".tar"))
            .collect()
    };
    let left = tars(srv);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|k| !k.ends_with("_1.tar")));
    assert_eq!(
        srv.objects("keep").len(),
        8,
        "no sidecar of event 1 is left"
    );
    assert_eq!(copy_state(&s, 1, "off"), Some(CopyState::Removed));
    // Locally, nothing was removed.
    assert!(s.repo().join(&s.events()[0].file).exists());

    // A removal that a crash interrupted is finished by the next run.
    let cat = s.catalog();
    cat.set_copy(&strata::catalog::RemoteCopy::new(
        2,
        "off",
        CopyState::Deleting,
    ))
    .unwrap();
    s3_cmd(&s, srv, &["upload"]).assert().code(0);
    assert_eq!(tars(srv).len(), 1);
    assert_eq!(copy_state(&s, 2, "off"), Some(CopyState::Removed));
    // Removed copies are not uploaded again.
    s3_cmd(&s, srv, &["upload"]).assert().code(0);
    assert_eq!(tars(srv).len(), 1);
}

fn sftp_scratch(srv: &sshd::Sshd, remote: &Path, extra: &str) -> (Scratch, PathBuf) {
    let s = Scratch::new();
    let d = data(&s);
    s.write_config(&format!(
        "{}{}",
        files_source("f", &[&d]),
        srv.target("nas", remote, extra)
    ));
    (s, d)
}

#[test]
fn an_event_goes_to_sftp_and_reads_back_by_ranged_reads() {
    let Some(srv) = sshd::shared() else { return };
    let remote = tempfile::tempdir().unwrap();
    let (s, d) = sftp_scratch(srv, remote.path(), "retries = 0");
    s.cmd(&["backup"]).assert().code(0);
    let ev = s.events().pop().unwrap();
    assert_eq!(copy_state(&s, ev.id, "nas"), Some(CopyState::Done));
    let there = remote.path().join("testhost").join(&ev.file);
    assert_eq!(
        std::fs::read(&there).unwrap(),
        std::fs::read(s.repo().join(&ev.file)).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&there).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = walkdir::WalkDir::new(remote.path())
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("strata-tmp"))
        .collect();
    assert!(leftovers.is_empty());

    std::fs::remove_file(s.repo().join(&ev.file)).unwrap();
    let out = s
        .cmd(&["-v", "cat", "latest", &member_of("f", &d.join("small.txt"))])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hello from far away\n", "{}", stderr_of(&out));
    assert!(fetched(&stderr_of(&out)) < 4096);
    s.cmd(&["verify", "--remote"]).assert().code(0);

    // With a read-through cache, a second read fetches nothing.
    let cache = s.path().join("cache");
    let cfg = std::fs::read_to_string(s.config()).unwrap();
    let cache_keys = format!(
        "remote_cache = {:?}\nremote_cache_size = \"4MiB\"\nhost = ",
        cache.display().to_string()
    );
    std::fs::write(s.config(), cfg.replacen("host = ", &cache_keys, 1)).unwrap();
    let rows = member_of("f", &d.join("rows.txt"));
    let first = s.cmd(&["-v", "cat", "latest", &rows]).output().unwrap();
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert!(fetched(&stderr_of(&first)) > 0);
    let again = s.cmd(&["-v", "cat", "latest", &rows]).output().unwrap();
    assert_eq!(again.stdout, std::fs::read(d.join("rows.txt")).unwrap());
    assert!(
        !stderr_of(&again).contains("fetched"),
        "{}",
        stderr_of(&again)
    );
    let cached: u64 = walkdir::WalkDir::new(&cache)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    assert!(cached > 0 && cached <= 4 << 20, "{cached}");

    // A damaged remote copy is found by verify, and no read serves its bytes.
    use std::os::unix::fs::FileExt;
    let m = s
        .catalog()
        .member(ev.id, &member_of("f", &d.join("small.txt")))
        .unwrap()
        .unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&there)
        .unwrap();
    f.write_all_at(b"\xff\xff\xff\xff", m.offset + m.frames[0].offset + 4)
        .unwrap();
    s.cmd(&["verify", "--remote"]).assert().code(1);
    s.cmd(&["cat", "latest", &member_of("f", &d.join("small.txt"))])
        .assert()
        .failure();
}

#[test]
fn an_unknown_or_changed_sftp_host_key_is_refused_with_what_to_do() {
    let Some(srv) = sshd::shared() else { return };
    let remote = tempfile::tempdir().unwrap();
    let s = Scratch::new();
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("x"), b"x").unwrap();
    let empty = s.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let changed = s.path().join("known_hosts_changed");
    std::fs::write(
        &changed,
        format!(
            "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbSsQ1ZQGXyqq5L5m1x3u2Lh8o7Jb1c9cGx6r4t1xYz\n",
            srv.port
        ),
    )
    .unwrap();
    for (kh, says) in [(&empty, "ssh-keyscan"), (&changed, "CHANGED")] {
        s.write_config(&format!(
            "{}{}",
            files_source("f", &[&d]),
            srv.target_via("nas", srv.port, remote.path(), kh, "retries = 0")
        ));
        if says == "ssh-keyscan" {
            let out = s.cmd(&["backup"]).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
            assert!(stderr_of(&out).contains(says), "{}", stderr_of(&out));
        }
        let out = s.cmd(&["upload"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
        assert!(stderr_of(&out).contains(says), "{}", stderr_of(&out));
    }
    assert_eq!(copy_state(&s, 1, "nas"), Some(CopyState::Failed));
    assert_eq!(
        walkdir::WalkDir::new(remote.path()).into_iter().count(),
        1,
        "nothing was written"
    );
}

#[test]
fn a_full_remote_disk_is_reported_and_nothing_counts_as_copied() {
    let Some(srv) = sshd::shared() else { return };
    if unsafe { libc::geteuid() } != 0 {
        crate::support::skip("mounting a small tmpfs needs root");
        return;
    }
    let remote = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(remote.path())
        .status()
        .unwrap();
    assert!(ok.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(remote.path());
    let (s, _) = sftp_scratch(srv, remote.path(), "retries = 0");
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("target nas") && (err.contains("disk full") || err.contains("space")),
        "{err}"
    );
    assert_eq!(copy_state(&s, 1, "nas"), Some(CopyState::Failed));
    let files: Vec<_> = walkdir::WalkDir::new(remote.path())
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

/// The README's walk-through: a database backed up to an S3 and an SFTP target, the
/// repository deleted, the catalog rebuilt from either target, a table copied back out
/// of the mount and loaded.
#[test]
fn a_lost_repository_comes_back_from_either_target_and_a_table_restores_by_cp() {
    let Some(db) = crate::support::mariadb::shared() else {
        return;
    };
    let Some(srv) = s3::shared() else { return };
    let Some(ssh) = sshd::shared() else { return };
    if !mount::available() {
        return;
    }
    let name = format!("offsite_{}", std::process::id());
    crate::mysql::corpus_db(db, &name);
    let s = Scratch::new();
    let pw = s.path().join("mysql.pw");
    std::fs::write(&pw, format!("{}\n", crate::support::mariadb::PASSWORD)).unwrap();
    let remote = tempfile::tempdir().unwrap();
    srv.create_bucket("walkthrough");
    s.write_config(&format!(
        "[[source]]\nname = \"db\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\npassword_file = {:?}\ndatabases = [\"{name}\"]\n\n{}{}",
        db.port,
        crate::support::mariadb::USER,
        pw.display().to_string(),
        srv.target("bucket", "walkthrough", "strata", ""),
        ssh.target("nas", remote.path(), "")
    ));
    s3_cmd(&s, srv, &["backup"]).assert().code(0);
    assert_eq!(copy_state(&s, 1, "bucket"), Some(CopyState::Done));
    assert_eq!(copy_state(&s, 1, "nas"), Some(CopyState::Done));
    let before = s3_cmd(&s, srv, &["show", "1", "--json"])
        .output()
        .unwrap()
        .stdout;
    let before: serde_json::Value = serde_json::from_slice(&before).unwrap();

    for from in ["nas", "bucket"] {
        std::fs::remove_dir_all(s.repo()).unwrap();
        s3_cmd(&s, srv, &["reindex", "--from", from])
            .assert()
            .code(0);
        let after = s3_cmd(&s, srv, &["show", "1", "--json"])
            .output()
            .unwrap()
            .stdout;
        let after: serde_json::Value = serde_json::from_slice(&after).unwrap();
        assert_eq!(after["members"], before["members"], "rebuilt from {from}");
        // The other target's copy is known too: nothing to upload, nothing missing.
        assert_eq!(
            copy_state(&s, 1, "bucket"),
            Some(CopyState::Done),
            "from {from}"
        );
        assert_eq!(
            copy_state(&s, 1, "nas"),
            Some(CopyState::Done),
            "from {from}"
        );
        s3_cmd(&s, srv, &["verify", "--remote"]).assert().code(0);
    }

    let env = srv.env_pairs();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let m = mount::Mounted::with_env(&s.config(), &s.path().join("mnt"), &[], &env);
    let table = s.path().join("big.sql");
    let ok = std::process::Command::new("cp")
        .arg(m.dir.join("latest/db").join(&name).join("big.sql"))
        .arg(&table)
        .status()
        .unwrap();
    assert!(ok.success());
    let back = format!("{name}_back");
    db.root_sql(&format!("CREATE DATABASE `{back}` CHARACTER SET utf8mb4"))
        .unwrap();
    db.load(Some(&back), &std::fs::read(&table).unwrap())
        .unwrap();
    let sum = |d: &str| {
        db.root_sql(&format!("CHECKSUM TABLE `{d}`.big EXTENDED"))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_string()
    };
    assert_eq!(sum(&back), sum(&name));
    db.root_sql(&format!("DROP DATABASE `{name}`; DROP DATABASE `{back}`"))
        .unwrap();
}

#[test]
fn an_sftp_upload_cut_mid_file_leaves_nothing_and_upload_finishes_it() {
    let Some(ssh) = sshd::shared() else { return };
    let remote = tempfile::tempdir().unwrap();
    let relay = Proxy::new(ssh.port, 6 << 20);
    let s = Scratch::new();
    let d = data(&s);
    std::fs::write(
        s.path().join("known_hosts"),
        std::fs::read_to_string(&ssh.known_hosts)
            .unwrap()
            .replace(&format!(":{} ", ssh.port), &format!(":{} ", relay.port)),
    )
    .unwrap();
    s.write_config(&format!(
        "{}{}",
        files_source("f", &[&d]),
        ssh.target_via(
            "nas",
            relay.port,
            remote.path(),
            &s.path().join("known_hosts"),
            "retries = 0"
        )
    ));
    let out = s.cmd(&["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(relay.is_down());
    assert_eq!(copy_state(&s, 1, "nas"), Some(CopyState::Failed));
    let finals: Vec<_> = walkdir::WalkDir::new(remote.path())
        .into_iter()
        .flatten()
        .filter(|e| {
            e.file_type().is_file() && !e.file_name().to_string_lossy().ends_with(".strata-tmp")
        })
        .collect();
    assert!(finals.is_empty(), "{finals:?}");
    relay.restart();
    s.cmd(&["upload"]).assert().code(0);
    assert_eq!(copy_state(&s, 1, "nas"), Some(CopyState::Done));
    let ev = s.events().pop().unwrap();
    assert_eq!(
        std::fs::read(remote.path().join("testhost").join(&ev.file)).unwrap(),
        std::fs::read(s.repo().join(&ev.file)).unwrap()
    );
}

/// A second repository of the same host writing to the same bucket: its event 1 has
/// the name of the first one's, and the bucket keeps the first one's bytes.
#[test]
fn a_new_machine_never_replaces_what_a_bucket_holds_and_says_to_reindex_first() {
    let Some(srv) = s3::shared() else { return };
    srv.create_bucket("never-replace");
    let target = srv.target("off", "never-replace", "fleet", "retries = 0");
    let first = Scratch::new();
    let d = data(&first);
    first.write_config(&format!("{}{target}", files_source("f", &[&d])));
    s3_cmd(&first, srv, &["backup"]).assert().code(0);
    let held = srv.objects("never-replace");
    assert_eq!(held.len(), 4, "{held:?}");

    // The new machine: another tree, the same host and target, no reindex.
    let second = Scratch::new();
    let other = second.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x.txt"), b"a different machine\n").unwrap();
    second.write_config(&format!("{}{target}", files_source("f", &[&other])));
    let out = s3_cmd(&second, srv, &["backup"]).output().unwrap();
    let err = stderr_of(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("already exists") && err.contains("reindex --from off"),
        "{err}"
    );
    assert_eq!(copy_state(&second, 1, "off"), Some(CopyState::Failed));
    assert_eq!(srv.objects("never-replace"), held, "the bucket changed");
    s3_cmd(&first, srv, &["verify", "--remote", "1"])
        .assert()
        .code(0);

    // An upload cut after the server took the bytes is finished, not refused.
    let state = first.catalog();
    state
        .set_copy(&strata::catalog::RemoteCopy::new(
            1,
            "off",
            CopyState::Pending,
        ))
        .unwrap();
    s3_cmd(&first, srv, &["upload"]).assert().code(0);
    assert_eq!(copy_state(&first, 1, "off"), Some(CopyState::Done));
}

/// Every file under `dir`, in name order, with its bytes.
fn files_with_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// On SFTP: archives of the same ids under other names (another day's) are another
/// machine's history; nothing is uploaded and nothing is left on the server.
#[test]
fn an_sftp_target_holding_another_machines_ids_gets_nothing_and_keeps_no_temporary_file() {
    let Some(srv) = sshd::shared() else { return };
    let remote = tempfile::tempdir().unwrap();
    let (first, _) = sftp_scratch(srv, remote.path(), "retries = 0");
    first.cmd(&["backup"]).assert().code(0);
    // Make the first machine's event 1 an older day's.
    let files: Vec<PathBuf> = walkdir::WalkDir::new(remote.path())
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let (head, tail) = name.split_once('_').unwrap();
        let tail = tail.split_once('_').unwrap().1;
        std::fs::rename(f, f.with_file_name(format!("{head}_2020-01-01_{tail}"))).unwrap();
    }
    let before = files_with_bytes(remote.path());

    let (second, _) = sftp_scratch(srv, remote.path(), "retries = 0");
    let out = second.cmd(&["backup"]).output().unwrap();
    let err = stderr_of(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("2020-01-01_1.tar") && err.contains("reindex --from nas"),
        "{err}"
    );
    let after = files_with_bytes(remote.path());
    assert!(after == before, "the server's files changed");
}

/// The off-site round trip on one server: an archive above `part_size` goes up in parts
/// and is proven, read back from the target alone by a fresh machine, and a second
/// machine of the same host replaces nothing.
fn round_trip_on(srv: &s3::S3Server, bucket: &str) {
    srv.create_bucket(bucket);
    let target = srv.target("off", bucket, "fleet", "part_size = \"5MiB\"\nretries = 0");
    let s = Scratch::new();
    let d = data(&s);
    s.write_config(&format!("{}{target}", files_source("f", &[&d])));
    let out = s3_cmd(&s, srv, &["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(copy_state(&s, 1, "off"), Some(CopyState::Done));
    s3_cmd(&s, srv, &["verify", "--remote"]).assert().code(0);
    let held = srv.objects(bucket);
    let tar = held.iter().find(|(k, _)| k.ends_with(".tar")).unwrap();
    assert!(tar.1 > 5 << 20, "{held:?}");

    let fresh = Scratch::new();
    let cfg = std::fs::read_to_string(s.config())
        .unwrap()
        .replace(&format!("{:?}", s.repo()), &format!("{:?}", fresh.repo()));
    std::fs::write(fresh.config(), &cfg).unwrap();
    s3_cmd(&fresh, srv, &["reindex", "--from", "off"])
        .assert()
        .code(0);
    let big = member_of("f", &d.join("big.bin"));
    let out = s3_cmd(&fresh, srv, &["cat", "1", &big]).output().unwrap();
    assert!(
        out.stdout == std::fs::read(d.join("big.bin")).unwrap(),
        "{}",
        stderr_of(&out)
    );

    let other = Scratch::new();
    let od = other.path().join("o");
    std::fs::create_dir_all(&od).unwrap();
    std::fs::write(od.join("x"), b"another machine").unwrap();
    other.write_config(&format!("{}{target}", files_source("f", &[&od])));
    let out = s3_cmd(&other, srv, &["backup"]).output().unwrap();
    assert!(
        stderr_of(&out).contains("reindex --from off"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(srv.objects(bucket), held, "the bucket changed");
}

#[test]
fn the_off_site_round_trip_holds_on_moto() {
    let Some(srv) = s3::shared() else { return };
    round_trip_on(srv, "round-trip");
}

#[test]
fn the_off_site_round_trip_holds_on_rclone_serve_s3() {
    let Some(srv) = s3::rclone() else { return };
    round_trip_on(srv, "round-trip");
}

#[test]
fn verify_remote_without_an_event_checks_every_copy() {
    let Some(srv) = sshd::shared() else { return };
    let remote = tempfile::tempdir().unwrap();
    let (s, d) = sftp_scratch(srv, remote.path(), "retries = 0");
    s.cmd(&["backup"]).assert().code(0);
    std::fs::write(d.join("small.txt"), b"changed\n").unwrap();
    s.cmd(&["backup"]).assert().code(0);
    // Damage event 1's copy (not the latest): a byte in the middle of its archive.
    let tar = walkdir::WalkDir::new(remote.path())
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .find(|p| p.to_string_lossy().ends_with("_1.tar"))
        .unwrap();
    let mut bytes = std::fs::read(&tar).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&tar, bytes).unwrap();
    let out = s.cmd(&["verify", "--remote"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("event 1"), "{}", stderr_of(&out));
    s.cmd(&["verify", "--remote", "2"]).assert().code(0);
}
