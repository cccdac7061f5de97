//! Progress counters for long calls (hashing, storing, checking out), read
//! by the caller from another thread while the call runs: no callbacks into
//! Python, just two relaxed atomics per process.

use std::sync::atomic::{AtomicU64, Ordering};

static FILES: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// Count one file of `bytes` bytes read, stored or materialised.
pub fn add(bytes: u64) {
    FILES.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(bytes, Ordering::Relaxed);
}

/// (files, bytes) since the process started.
pub fn get() -> (u64, u64) {
    (FILES.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed))
}
