//! Locks that outlive a panic. A panic in one request (a mount read, an upload thread)
//! must not turn every later request into a panic, as std's lock poisoning would: the
//! data behind these locks (caches, open files, connections) stays usable, so a
//! poisoned lock is simply taken.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking it even when a thread panicked while holding it.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
