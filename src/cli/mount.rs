//! `strata mount MOUNTPOINT`: runs in the foreground until SIGINT/SIGTERM or
//! `fusermount3 -u`, then unmounts cleanly. A stale mountpoint left by a crash is
//! reported with the command that clears it.

use super::Env;
use crate::error::{exit, Error, Result};
use crate::vfs::{Options, Vfs};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn stale(mp: &Path) -> Error {
    Error::Other(format!(
        "{} is a stale FUSE mount left by a process that died; clear it with: fusermount3 -u {}",
        mp.display(),
        mp.display()
    ))
}

/// Whether `mp` is already a FUSE mount (of strata or anything else).
fn is_fuse_mount(mp: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(mp) else {
        return false;
    };
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    mounts.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let fstype = l.split(" - ").nth(1).and_then(|r| r.split(' ').next());
        f.get(4)
            .is_some_and(|p| Path::new(&p.replace("\\040", " ")) == canon)
            && fstype.is_some_and(|t| t.starts_with("fuse"))
    })
}

fn check_mountpoint(mp: &Path, allow_nonempty: bool) -> Result<()> {
    if is_fuse_mount(mp) {
        return Err(Error::Other(format!(
            "{} is already a FUSE mount (another `strata mount`?); unmount it first: fusermount3 -u {}",
            mp.display(),
            mp.display()
        )));
    }
    match std::fs::metadata(mp) {
        Ok(md) if md.is_dir() => {
            let nonempty = std::fs::read_dir(mp)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if nonempty && !allow_nonempty {
                return Err(Error::Other(format!(
                    "{} is not empty; mount on an empty directory (or pass --allow-nonempty to hide its files while mounted)",
                    mp.display()
                )));
            }
            Ok(())
        }
        Ok(_) => Err(Error::Other(format!("{} is not a directory", mp.display()))),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(stale(mp)),
        Err(e) => Err(Error::io(format!("mountpoint {}", mp.display()), e)),
    }
}

pub fn run(
    env: &Env,
    mountpoint: &Path,
    cache_size: u64,
    allow_other: bool,
    allow_nonempty: bool,
) -> Result<u8> {
    check_mountpoint(mountpoint, allow_nonempty)?;
    let cat = env.catalog()?;
    let signalled = super::signals::watch();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let vfs = Arc::new(Vfs::new(
        cat,
        Box::new(env.store()?),
        Options {
            cache_bytes: cache_size as usize,
            readahead: 8 << 20,
            threads: cores,
        },
    ));
    let session = crate::fuse::mount(vfs.clone(), mountpoint, allow_other, cores.max(2) * 2)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTCONN) => stale(mountpoint),
            _ => Error::io(format!("cannot mount on {}", mountpoint.display()), e),
        })?;
    if !env.quiet {
        eprintln!(
            "strata: mount: ready: {} is mounted on {} (stop with SIGTERM or `fusermount3 -u {}`)",
            env.repo.display(),
            mountpoint.display(),
            mountpoint.display()
        );
    }
    super::notify::systemd(&format!(
        "READY=1\nSTATUS=serving {} on {}",
        env.repo.display(),
        mountpoint.display()
    ));
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if signalled.load(Ordering::SeqCst) {
            tracing::info!("signal received; unmounting {}", mountpoint.display());
            super::notify::systemd("STOPPING=1");
            session
                .umount_and_join()
                .map_err(|e| Error::io(format!("cannot unmount {}", mountpoint.display()), e))?;
            break;
        }
        if session.guard.is_finished() {
            let _ = session.join();
            break;
        }
    }
    let n = vfs.fetched();
    if n > 0 {
        tracing::info!("fetched {n} bytes from targets");
    }
    Ok(exit::OK)
}
