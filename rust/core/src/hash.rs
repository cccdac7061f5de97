//! Content hashing: blake3-256 over the raw bytes of a file, nothing else
//! (no newline normalisation, no metadata), so that a hash means the same on
//! every machine and equals `b3sum`'s.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use memmap2::Mmap;
use rayon::prelude::*;

use crate::error::{os_error, Error, IoContext, Result};
use crate::pool;

/// The name recorded next to every hash we store.
pub const ALGORITHM: &str = "blake3";

/// Files at least this large are memory-mapped rather than read: a mapping
/// saves the copy into a user buffer, but costs more than a `read` to set up.
pub const MMAP_THRESHOLD: u64 = 256 * 1024;

/// Files at least this large are hashed by several threads (blake3's tree
/// mode splits the input); below it the threads would cost more than they save.
pub const PARALLEL_THRESHOLD: u64 = 8 * 1024 * 1024;

/// A 32-byte blake3 digest.
pub type Digest = [u8; 32];

/// The identity of one version of a file as the stat index sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub size: u64,
}

impl StatKey {
    pub fn of(meta: &Metadata) -> StatKey {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            size: meta.size(),
        }
    }
}

/// What hashing a file yields: the digest plus the stat it was valid for.
#[derive(Clone, Copy, Debug)]
pub struct FileDigest {
    pub digest: Digest,
    pub key: StatKey,
    pub executable: bool,
}

pub fn to_hex(digest: &Digest) -> String {
    blake3::Hash::from_bytes(*digest).to_hex().to_string()
}

pub fn from_hex(hex: &str) -> Option<Digest> {
    blake3::Hash::from_hex(hex).ok().map(|h| *h.as_bytes())
}

pub fn hash_bytes(data: &[u8]) -> Digest {
    *blake3::hash(data).as_bytes()
}

pub fn is_executable(meta: &Metadata) -> bool {
    meta.mode() & 0o100 != 0
}

/// Open a file for hashing. `O_NONBLOCK` keeps a FIFO from blocking the open;
/// it has no effect on regular files.
pub(crate) fn open_regular(path: &Path) -> Result<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound && is_symlink(path) {
                Error::DanglingSymlink {
                    path: path.to_path_buf(),
                }
            } else {
                Error::Io {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        })?;
    let meta = file.metadata().at(path)?;
    if meta.is_dir() {
        return Err(os_error(path, libc::EISDIR));
    }
    if !meta.is_file() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok((file, meta))
}

pub(crate) fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

/// Hash one file. The file is fstat-ed before and after reading; if its size
/// or mtime moved, or fewer bytes than its size could be read, the result
/// would describe no real version of the file, so it is an error.
pub fn hash_file(path: &Path) -> Result<FileDigest> {
    let (file, meta) = open_regular(path)?;
    let key = StatKey::of(&meta);
    let digest = hash_open(file, path, key)?;
    Ok(FileDigest {
        digest,
        key,
        executable: is_executable(&meta),
    })
}

/// Hash a file whose stat a walk already took: no stat before the read
/// (the fstat after it must match `key`, which also catches a file replaced
/// between the walk and the open).
pub fn hash_known(path: &Path, key: StatKey, executable: bool) -> Result<FileDigest> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .at(path)?;
    let digest = hash_open(file, path, key)?;
    Ok(FileDigest {
        digest,
        key,
        executable,
    })
}

fn hash_open(mut file: File, path: &Path, key: StatKey) -> Result<Digest> {
    let size = key.size;
    let mut hasher = blake3::Hasher::new();
    let read = if size >= MMAP_THRESHOLD {
        hash_mapped(&file, path, &mut hasher)?
    } else {
        read_small(&mut file, &mut hasher, size, path)?
    };
    let after = file.metadata().at(path)?;
    if read != size || StatKey::of(&after) != key {
        return Err(Error::Changed {
            path: path.to_path_buf(),
        });
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Bytes hashed per window of a large file's mapping: big enough for every
/// thread to get whole 1 MiB subtrees, small enough that dropping each
/// window after hashing it keeps the resident size low (a 2 GiB file's
/// pages would otherwise all count in the process's RSS).
const WINDOW: usize = 64 << 20;

/// Hash a file through a read-only memory map, on the pool's threads above
/// `PARALLEL_THRESHOLD`; returns the bytes hashed (the mapping's length).
pub(crate) fn hash_mapped(file: &File, path: &Path, hasher: &mut blake3::Hasher) -> Result<u64> {
    // SAFETY: the mapping is read-only and dropped before we return. A
    // concurrent truncation could fault; the caller's stat re-check catches
    // every other concurrent change.
    let map = unsafe { Mmap::map(file) }.at(path)?;
    if (map.len() as u64) < PARALLEL_THRESHOLD {
        hasher.update(&map);
        return Ok(map.len() as u64);
    }
    pool::run(|| {
        for start in (0..map.len()).step_by(WINDOW) {
            let end = (start + WINDOW).min(map.len());
            hasher.update_rayon(&map[start..end]);
            // SAFETY: this window is never read again through the mapping;
            // dropping its pages only unmaps them (they stay in the page cache).
            unsafe {
                let _ = map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start,
                    end - start,
                );
            }
        }
    });
    Ok(map.len() as u64)
}

/// Read a small file through one buffer; returns the bytes read (at most
/// `size + 1`, so a file that grew is noticed). A file that fits the buffer
/// takes a single `read`: regular files return short reads only at EOF.
fn read_small(file: &mut File, hasher: &mut blake3::Hasher, size: u64, path: &Path) -> Result<u64> {
    with_buffer(|buf| {
        let mut total = 0u64;
        loop {
            let want = ((size + 1 - total.min(size)) as usize).min(buf.len());
            let n = file.read(&mut buf[..want]).at(path)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            if total > size || (n < want && total == size) {
                break;
            }
        }
        Ok(total)
    })
}

/// Run `f` with this thread's 1 MiB I/O buffer. Zeroed once per thread: a
/// fresh buffer per file cost a memset each (with a 64 KiB stack buffer,
/// 6 GB of writes for 100k small files, more than the reads themselves).
pub(crate) fn with_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 1 << 20]);
    }
    BUF.with(|cell| f(&mut cell.borrow_mut()))
}

/// Hash many files in parallel, in the order given.
pub fn hash_files(paths: &[&Path]) -> Vec<Result<FileDigest>> {
    pool::run(|| paths.par_iter().map(|p| hash_file(p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn empty_input_matches_the_published_vector() {
        assert_eq!(
            to_hex(&hash_bytes(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn file_hash_equals_memory_hash_across_thresholds() {
        let dir = tempfile::tempdir().unwrap();
        for size in [
            0usize,
            1,
            1023,
            65536,
            MMAP_THRESHOLD as usize + 7,
            PARALLEL_THRESHOLD as usize + 3,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join(format!("f{size}"));
            std::fs::File::create(&path)
                .unwrap()
                .write_all(&data)
                .unwrap();
            let got = hash_file(&path).unwrap();
            assert_eq!(got.digest, hash_bytes(&data), "size {size}");
            assert_eq!(got.key.size, size as u64);
        }
    }

    #[test]
    fn directory_is_refused_with_eisdir() {
        let dir = tempfile::tempdir().unwrap();
        let err = hash_file(dir.path()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EISDIR));
    }

    #[test]
    fn dangling_symlink_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        assert!(matches!(
            hash_file(&link),
            Err(Error::DanglingSymlink { .. })
        ));
    }

    #[test]
    fn hex_round_trips() {
        let d = hash_bytes(b"abc");
        assert_eq!(from_hex(&to_hex(&d)), Some(d));
        assert_eq!(from_hex("xyz"), None);
    }
}
