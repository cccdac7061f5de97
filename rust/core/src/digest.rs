//! xxh3-128 of whole files, for `trails bench hash` only: a comparison
//! beside blake3 (what reading costs with a hash as fast as memory), never
//! a content address. Files are read as `hash.rs` reads them (the
//! per-thread 1 MiB buffer), in parallel over files, so the two rows
//! differ by their algorithm, not their reader.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use crate::error::{IoContext, Result};
use crate::{hash, pool};

/// (xxh3-128 digest, bytes read) of one file.
pub fn xxh3_file(path: &Path) -> Result<(u128, u64)> {
    let mut f = File::open(path).at(path)?;
    let mut hasher = Xxh3::new();
    let mut total = 0u64;
    hash::with_buffer(|buf| loop {
        let n = f.read(buf).at(path)?;
        if n == 0 {
            return Ok((hasher.digest128(), total));
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    })
}

/// `xxh3_file` for many files in parallel, in the order given.
pub fn xxh3_files(paths: &[&Path]) -> Vec<Result<(u128, u64)>> {
    pool::run(|| paths.par_iter().map(|p| xxh3_file(p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_128;

    #[test]
    fn a_file_digest_equals_the_one_shot_digest_of_its_bytes() {
        let d = tempfile::tempdir().unwrap();
        for size in [0usize, 1, 240, (1 << 20) + 3, 3 << 20] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let p = d.path().join(format!("f{size}"));
            std::fs::write(&p, &data).unwrap();
            assert_eq!(xxh3_file(&p).unwrap(), (xxh3_128(&data), size as u64));
        }
        let missing = d.path().join("missing");
        assert!(xxh3_files(&[missing.as_path()])[0].is_err());
    }
}
