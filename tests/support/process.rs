//! Starting the test services: finding their binaries, free loopback ports, and
//! spawning them from one long-lived thread with `PR_SET_PDEATHSIG`, so that they die
//! with the test process.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::OnceLock;

/// A binary in the usual system directories, or on `PATH`.
pub fn find(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join(name))
                    .find(|p| p.exists())
            })
        })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type SpawnReq = (Command, mpsc::Sender<std::io::Result<u32>>);

/// Spawns `cmd` from a thread that never exits, with a parent-death signal.
pub fn spawn_kept(mut cmd: Command) -> std::io::Result<u32> {
    static KEEPER: OnceLock<std::sync::Mutex<mpsc::Sender<SpawnReq>>> = OnceLock::new();
    let tx = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnReq>();
        std::thread::spawn(move || {
            let mut children = Vec::new();
            for (mut cmd, reply) in rx {
                unsafe {
                    cmd.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                let r = cmd.spawn().map(|c| {
                    let id = c.id();
                    children.push(c);
                    id
                });
                let _ = reply.send(r);
                for c in children.iter_mut() {
                    let _ = c.try_wait();
                }
            }
            // The sender lives in a static: never reached; park so children stay.
            loop {
                std::thread::park();
            }
        });
        std::sync::Mutex::new(tx)
    });
    let (rtx, rrx) = mpsc::channel();
    tx.lock()
        .unwrap()
        .send((std::mem::replace(&mut cmd, Command::new("true")), rtx))
        .unwrap();
    rrx.recv().unwrap()
}
