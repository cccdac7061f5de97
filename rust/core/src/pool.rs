//! Thread pools. There is deliberately no global pool: each call that wants
//! threads builds one and drops it when done. A process forked while no call
//! is running therefore never inherits a half-alive pool (rayon's global pool
//! deadlocks in a forked child), and `TRAILS_THREADS` is read at every call.

use std::sync::OnceLock;

/// The number of worker threads: `TRAILS_THREADS` if set to a positive
/// integer, else the number of CPUs.
pub fn threads() -> usize {
    std::env::var("TRAILS_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(default_threads)
}

fn default_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Run `f` inside a fresh pool of `threads()` workers. Nested calls (already
/// on a pool thread) reuse the current pool.
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .thread_name(|i| format!("trails-{i}"))
        .build()
    {
        Ok(pool) => pool.install(f),
        // Could not start threads (resource limits): do the work on this one.
        Err(_) => f(),
    }
}
