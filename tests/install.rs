//! `scripts/install.sh`: the binary, man pages, completions, config and units land
//! where they should, the units pass `systemd-analyze verify`, and a second run keeps
//! an edited config. Installs under a temporary prefix so the tests never change the
//! machine they run on (the script's defaults are /usr/local, /etc and
//! /etc/systemd/system).

use std::path::Path;
use std::process::Command;

fn install(root: &Path) -> std::process::Output {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh"))
        .env("PREFIX", root.join("usr"))
        .env("SYSCONFDIR", root.join("etc"))
        .env("UNITDIR", root.join("units"))
        .env("STRATA_BINARY", assert_cmd::cargo::cargo_bin("strata"))
        .output()
        .unwrap()
}

#[test]
fn install_sh_puts_everything_in_place_and_keeps_an_edited_config() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let out = install(r);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = r.join("usr/bin/strata");
    let help = Command::new(&bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("prune"));

    use std::os::unix::fs::PermissionsExt;
    let cfg = r.join("etc/strata/strata.toml");
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cfg_check = Command::new(&bin)
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        cfg_check.status.success(),
        "the example config is valid: {}",
        String::from_utf8_lossy(&cfg_check.stderr)
    );

    for (f, has) in [
        ("usr/share/bash-completion/completions/strata", "strata"),
        ("usr/share/zsh/site-functions/_strata", "#compdef strata"),
        (
            "usr/share/fish/vendor_completions.d/strata.fish",
            "complete -c strata",
        ),
        ("usr/share/man/man1/strata-prune.1", ".TH strata-prune"),
    ] {
        let text = std::fs::read_to_string(r.join(f)).unwrap_or_default();
        assert!(text.contains(has), "{f}");
    }
    // What is installed for every user has the system's modes (only the config is
    // owner-only), so that anyone reads the man pages and runs the completions.
    let mut loose = Vec::new();
    for e in walkdir::WalkDir::new(r.join("usr")).into_iter().flatten() {
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        let want = if e.file_type().is_dir() || e.path().ends_with("bin/strata") {
            0o755
        } else {
            0o644
        };
        if mode != want {
            loose.push(format!("{} {mode:o}", e.path().display()));
        }
    }
    assert!(loose.is_empty(), "{loose:?}");
    let man = Command::new("man")
        .env("MANPATH", r.join("usr/share/man"))
        .args(["-P", "cat", "strata"])
        .output();
    match man {
        Ok(o) => assert!(
            String::from_utf8_lossy(&o.stdout).contains("SYNOPSIS"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => crate::support::skip(&format!("man cannot run ({e}); apt-get install man-db")),
    }
    let units = [
        "strata-backup.service",
        "strata-backup.timer",
        "strata-mount.service",
        "strata-binlog.service",
    ];
    let unit = std::fs::read_to_string(r.join("units/strata-backup.service")).unwrap();
    assert!(
        unit.contains(&format!("ExecStart={} backup", bin.display())),
        "{unit}"
    );
    let follow = std::fs::read_to_string(r.join("units/strata-binlog.service")).unwrap();
    assert!(
        follow.contains(&format!("ExecStart={} binlog --follow", bin.display())),
        "{follow}"
    );
    let timer = std::fs::read_to_string(r.join("units/strata-backup.timer")).unwrap();
    assert!(timer.contains("Persistent=true") && timer.contains("RandomizedDelaySec="));
    match Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| r.join("units").join(u)))
        .env("MANPATH", r.join("usr/share/man"))
        .output()
    {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => crate::support::skip(&format!(
            "systemd-analyze cannot run ({e}); apt-get install systemd"
        )),
    }

    // Again, over an edited config: it stays.
    std::fs::write(&cfg, "repository = \"/srv/mine\"\n").unwrap();
    let out = install(r);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "repository = \"/srv/mine\"\n"
    );
}
