//! trails-core: everything in trails that scales with bytes or file counts.
//!
//! `hash` (blake3 of files), `walk` (directory walks with `.dvcignore`),
//! `tree` (manifests and their diffs), `state` (the stat index), `scan`
//! (directory -> manifest through the index), `treememo` (unmoved trees'
//! hashes, for no-op checks), `noop` (whether a kept no-op answer still
//! holds), `cache` (content-addressed
//! store), `link` (reflink / hardlink / symlink / copy), `checkout` (cache ->
//! workspace), `transfer` (objects to and from a remote), `digest` (xxh3 of
//! files, for `trails bench hash`), `fsmonitor` (the file watcher of
//! `trails daemon`). Pure Rust: the Python binding lives in
//! `rust/py`.

pub mod cache;
pub mod checkout;
pub mod digest;
pub mod error;
#[cfg(target_os = "linux")]
pub mod fsmonitor;
pub mod hash;
pub mod link;
pub mod noop;
pub mod pool;
pub mod progress;
pub mod scan;
pub mod state;
pub mod transfer;
pub mod tree;
pub mod treememo;
pub mod walk;

pub use error::{Error, Result};
