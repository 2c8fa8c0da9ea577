//! Long-running commands (`mount`, `binlog --follow`) stop cleanly on SIGINT, SIGTERM
//! or SIGHUP: the signal only sets a flag that their loop checks between steps, so an
//! event in progress is finished, not cut short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and the threads it spawns) and
/// returns a flag set when one arrives.
pub fn watch() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    // SAFETY: `set` is a zeroed sigset_t initialised by sigemptyset before use; the
    // mask is changed for this thread only, and the waiting thread owns its copy.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let f = flag.clone();
        std::thread::spawn(move || {
            let mut sig = 0;
            libc::sigwait(&set, &mut sig);
            f.store(true, Ordering::SeqCst);
        });
    }
    flag
}
