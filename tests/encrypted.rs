//! Encrypted copies (age) on real servers: what strata sends to moto's S3 and to
//! OpenSSH's sftp is age ciphertext that the real `age` CLI decrypts into an archive
//! `tar` and `zstd` restore; reads of a remote-only event stay ranged and checked; a
//! flipped byte, a wrong identity and a missing one are clear errors, never wrong bytes.

use crate::support::{fetched, files_source, member_of, s3, sshd, stderr_of, Scratch};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `age` CLI is there (Debian `age`; scripts/test.sh installs it).
fn age_cli() -> Option<&'static ()> {
    static AGE: OnceLock<Result<(), String>> = OnceLock::new();
    crate::support::service(
        AGE.get_or_init(|| {
            let ok = |c: &str| {
                Command::new(c)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            (ok("age") && ok("age-keygen"))
                .then_some(())
                .ok_or_else(|| "the age CLI is not installed (apt-get install age)".into())
        }),
        "the age CLI",
    )
}

/// A new age key in `dir/name`: its file and its public recipient.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    (
        key,
        String::from_utf8(public.stdout).unwrap().trim().to_string(),
    )
}

/// `age -d -i KEY FROM > TO` (age's `-o` creates no file for an empty plaintext).
fn age_decrypt(key: &Path, from: &Path, to: &Path) {
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(key)
        .arg(from)
        .output()
        .unwrap();
    assert!(out.status.success(), "age -d {}: {out:?}", from.display());
    std::fs::write(to, out.stdout).unwrap();
}

/// `data/` with 3 MiB of incompressible bytes, 800 KB of text and a small file.
fn data(s: &Scratch) -> PathBuf {
    let d = s.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    let big = crate::support::noise(3 << 20, 0x2545f4914f6cdd1d);
    std::fs::write(d.join("big.bin"), big).unwrap();
    let text: String = (0..40_000)
        .map(|i| format!("row {i}: secret text\n"))
        .collect();
    std::fs::write(d.join("rows.txt"), text).unwrap();
    std::fs::write(d.join("small.txt"), b"hello, encrypted\n").unwrap();
    d
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    v.sort();
    v
}

#[test]
fn encrypted_copies_decrypt_with_the_age_cli_and_read_back_ranged_and_checked() {
    let (Some(_), Some(s3srv), Some(ssh)) = (age_cli(), s3::shared(), sshd::shared()) else {
        return;
    };
    let s = Scratch::new();
    let d = data(&s);
    let keys = s.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (key, public) = keygen(&keys, "key.txt");
    let (other_key, _) = keygen(&keys, "other.txt");
    let recipients = keys.join("recipients.txt");
    std::fs::write(&recipients, format!("# the backup key\n{public}\n")).unwrap();
    s3srv.create_bucket("sealed");
    let remote = tempfile::tempdir().unwrap();
    let sftp = ssh.target(
        "nas",
        remote.path(),
        &format!("recipients = [{public:?}]\nretries = 0"),
    );
    let bucket = s3srv.target(
        "off",
        "sealed",
        "fleet",
        &format!(
            "recipients_file = {:?}\nretries = 0",
            recipients.display().to_string()
        ),
    );
    let base = format!(
        "identity_file = {:?}\n{}",
        key.display().to_string(),
        files_source("f", &[&d])
    );
    s.write_config(&format!("{base}{sftp}{bucket}"));
    let mut backup = s.cmd(&["backup"]);
    s3srv.env(&mut backup);
    let out = backup.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let ev = s.events().pop().unwrap();
    let local_tar = std::fs::read(s.repo().join(&ev.file)).unwrap();

    // Everything on both targets is age ciphertext named .age; no file or table name
    // and no row is readable there.
    let held = s3srv.objects("sealed");
    assert!(held.len() >= 3, "{held:?}");
    assert!(held.iter().all(|(k, _)| k.ends_with(".age")), "{held:?}");
    let on_nas = files_under(remote.path());
    assert!(on_nas.len() >= 3, "{on_nas:?}");
    for f in &on_nas {
        assert!(f.to_string_lossy().ends_with(".age"), "{}", f.display());
        let bytes = std::fs::read(f).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        for plain in [&b"rows.txt"[..], b"small.txt", b"secret text"] {
            assert!(
                memchr::memmem::find(&bytes, plain).is_none(),
                "{}",
                f.display()
            );
        }
    }

    // The age CLI alone restores: the archive decrypts to the local bytes, its
    // checksum file checks it with sha256sum, and tar + zstd give the file back.
    let work = s.path().join("by-hand");
    std::fs::create_dir_all(&work).unwrap();
    let tar_key = held.iter().find(|(k, _)| k.ends_with(".tar.age")).unwrap();
    let sealed_tar = work.join("from-s3.tar.age");
    s3srv.get("sealed", &tar_key.0, &sealed_tar);
    let name = ev.file.rsplit('/').next().unwrap().to_string();
    age_decrypt(&key, &sealed_tar, &work.join(&name));
    assert!(std::fs::read(work.join(&name)).unwrap() == local_tar);
    let nas_tar = remote
        .path()
        .join("testhost")
        .join(format!("{}.age", ev.file));
    age_decrypt(&key, &nas_tar, &work.join("from-nas.tar"));
    assert!(std::fs::read(work.join("from-nas.tar")).unwrap() == local_tar);
    let sums = remote
        .path()
        .join("testhost")
        .join(format!("{}.sha256.age", ev.file));
    age_decrypt(&key, &sums, &work.join(format!("{name}.sha256")));
    let stem = name.strip_suffix(".tar").unwrap();
    for ext in ["meta", "err"] {
        let sealed = nas_tar.with_file_name(format!("{stem}.{ext}.age"));
        if sealed.exists() {
            age_decrypt(&key, &sealed, &work.join(format!("{stem}.{ext}")));
        }
    }
    let check = Command::new("sha256sum")
        .args(["-c", &format!("{name}.sha256")])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?} {on_nas:?}");
    let out = Command::new("tar")
        .args(["-xf", &name])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows_member = member_of("f", &d.join("rows.txt"));
    let zst = work.join(format!("{rows_member}.zst"));
    let out = Command::new("zstd")
        .args(["-d", "-q", "-c"])
        .arg(&zst)
        .output()
        .unwrap();
    assert!(out.stdout == std::fs::read(d.join("rows.txt")).unwrap());

    // A remote-only event reads back by ranged reads: about the member's compressed
    // size is fetched, not the archive.
    std::fs::remove_file(s.repo().join(&ev.file)).unwrap();
    let m = s.catalog().member(ev.id, &rows_member).unwrap().unwrap();
    let out = s
        .cmd(&["-v", "cat", "latest", &rows_member])
        .output()
        .unwrap();
    assert!(
        out.stdout == std::fs::read(d.join("rows.txt")).unwrap(),
        "{}",
        stderr_of(&out)
    );
    let got = fetched(&stderr_of(&out));
    assert!(
        got <= m.compressed_size + m.compressed_size / 10 + (192 << 10),
        "fetched {got} for a member of {} compressed bytes",
        m.compressed_size
    );
    assert!(got < local_tar.len() as u64 / 2, "{got}");
    let mut verify = s.cmd(&["verify", "--remote"]);
    s3srv.env(&mut verify);
    let out = verify.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    // A fresh machine rebuilds its catalog from the encrypted target.
    let fresh = Scratch::new();
    let cfg = std::fs::read_to_string(s.config())
        .unwrap()
        .replace(&format!("{:?}", s.repo()), &format!("{:?}", fresh.repo()));
    std::fs::write(fresh.config(), &cfg).unwrap();
    let mut reindex = fresh.cmd(&["reindex", "--from", "nas"]);
    s3srv.env(&mut reindex);
    reindex.assert().code(0);
    let big = member_of("f", &d.join("big.bin"));
    let out = fresh.cmd(&["cat", "1", &big]).output().unwrap();
    assert!(
        out.stdout == std::fs::read(d.join("big.bin")).unwrap(),
        "{}",
        stderr_of(&out)
    );

    // The wrong identity, or none, is a clear error.
    let small = member_of("f", &d.join("small.txt"));
    let out = s
        .cmd(&[
            "--identity",
            &other_key.to_string_lossy(),
            "cat",
            "latest",
            &small,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    let err = stderr_of(&out);
    assert!(err.contains("other recipients"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    s.write_config(&format!("{}{sftp}", files_source("f", &[&d])));
    let out = s.cmd(&["cat", "latest", &small]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("identity_file"),
        "{}",
        stderr_of(&out)
    );

    // A flipped ciphertext byte inside the member is an error for its reads, never
    // other bytes; verify --remote names the damage.
    s.write_config(&format!("{base}{sftp}"));
    let bm = s.catalog().member(ev.id, &big).unwrap().unwrap();
    let mut bytes = std::fs::read(&nas_tar).unwrap();
    let header = memchr::memmem::find(&bytes, b"\n--- ").unwrap();
    let payload = header + 1 + memchr::memchr(b'\n', &bytes[header + 1..]).unwrap() + 1 + 16;
    let plain_at = bm.offset + bm.compressed_size / 2;
    let at = payload as u64 + plain_at / 65536 * 65552 + plain_at % 65536;
    bytes[at as usize] ^= 0x01;
    std::fs::write(&nas_tar, &bytes).unwrap();
    let out = s.cmd(&["cat", "latest", &big]).output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.len() < bm.size as usize);
    assert!(
        stderr_of(&out).contains("authentication"),
        "{}",
        stderr_of(&out)
    );
    s.cmd(&["cat", "latest", &small])
        .assert()
        .code(0)
        .stdout("hello, encrypted\n");
    s.cmd(&["verify", "--remote"]).assert().code(1);
}

#[test]
fn config_check_warns_about_an_unencrypted_bucket_and_refuses_a_bad_recipient() {
    let Some(s3srv) = s3::shared() else { return };
    let s = Scratch::new();
    let d = s.path().join("d");
    std::fs::create_dir_all(&d).unwrap();
    let plain = s3srv.target("off", "never-made", "p", "");
    s.write_config(&format!("{}{plain}", files_source("f", &[&d])));
    let out = s.cmd(&["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(err.contains("target off is not encrypted"), "{err}");
    let bad = s3srv.target("off", "never-made", "p", "recipients = [\"age1notakey\"]");
    s.write_config(&format!("{}{bad}", files_source("f", &[&d])));
    let out = s.cmd(&["config", "check"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(
        err.contains("recipients") && err.contains("age1notakey"),
        "{err}"
    );
}
