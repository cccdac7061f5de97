//! The tree memo: for each path a no-op check hashed, the stats it was made
//! of and the hash they gave, so that the next check that finds every stat
//! unmoved takes the hash without loading the stat index, looking up each
//! file or writing (and hashing) the manifest.
//!
//! A directory's fingerprint is an xxh3-128 of what its walk found, in
//! order: each file's relative path, device, inode, mtime, size and
//! executable bit. An entry is recorded only when the stat index would
//! keep every digest behind it (no file modified within its racy window),
//! so a memo hit is exactly as trustworthy as the index lookups it
//! replaces: the same keys give the same digests, hence the same manifest
//! and tree hash. Any added,
//! removed, renamed, touched or rewritten file moves the fingerprint.
//!
//! On a 100k-file folder the walk and its stats are ~2/3 of a warm scan;
//! the index load, the lookups and the 13 MB manifest were the rest
//! (`benches/RESULTS-scale.md`).
//!
//! On disk beside the stat index (`<index>.trees`): magic, version, count,
//! entries, xxh3-64 of all of it; replaced by temp file + rename. Damaged or
//! of another version: an empty memo (it is only ever a shortcut). At most
//! `MAX_ENTRIES` paths are kept, those of the latest check first.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::hash::{Digest, StatKey};
use crate::walk::Found;

const MAGIC: &[u8; 8] = b"TRAILSTM";
const VERSION: u32 = 1;
/// Paths kept; experiments' folders come and go, so old ones are dropped.
pub const MAX_ENTRIES: usize = 1024;
/// Folders named for an early walk.
const MAX_LAST: usize = 64;

/// What a path hashed to, and the fingerprint of the stats it was made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remembered {
    pub fingerprint: u128,
    pub digest: Digest,
    pub nfiles: u64,
    pub size: u64,
    pub dir: bool,
    pub executable: bool,
}

#[derive(Debug, Default)]
pub struct TreeMemo {
    path: Option<PathBuf>,
    entries: HashMap<Vec<u8>, Remembered>,
    /// Paths recorded or confirmed by this process, in order.
    touched: Vec<Vec<u8>>,
    /// The folders the latest check walked, for the next one to start
    /// walking early (`scan::prefetch`).
    last: Vec<Vec<u8>>,
    changed: bool,
}

/// The memo file beside a stat index.
pub fn path_for(index: &Path) -> PathBuf {
    let mut name = index.as_os_str().to_owned();
    name.push(".trees");
    PathBuf::from(name)
}

/// A directory's fingerprint: its walk's files, in walk (sorted) order.
pub fn fingerprint_dir(found: &[Found]) -> u128 {
    let mut h = Xxh3::new();
    h.update(b"dir\0");
    for f in found {
        h.update(f.relpath.as_bytes());
        h.update(&[0, u8::from(f.executable)]);
        key_bytes(&mut h, &f.key);
    }
    h.digest128()
}

/// A file's fingerprint: its stat key and executable bit.
pub fn fingerprint_file(key: &StatKey, executable: bool) -> u128 {
    let mut h = Xxh3::new();
    h.update(b"file\0");
    h.update(&[u8::from(executable)]);
    key_bytes(&mut h, key);
    h.digest128()
}

fn key_bytes(h: &mut Xxh3, k: &StatKey) {
    h.update(&k.dev.to_le_bytes());
    h.update(&k.ino.to_le_bytes());
    h.update(&k.mtime_ns.to_le_bytes());
    h.update(&k.size.to_le_bytes());
}

fn key_of(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

impl TreeMemo {
    /// Load the memo at `path`; missing or damaged: empty.
    pub fn open(path: &Path) -> TreeMemo {
        let (entries, last) = fs::read(path)
            .ok()
            .and_then(|b| decode(&b))
            .unwrap_or_default();
        TreeMemo {
            path: Some(path.to_path_buf()),
            entries,
            last,
            ..TreeMemo::default()
        }
    }

    /// The folders the latest check walked (as it named them).
    pub fn last_dirs(&self) -> Vec<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let os = |k: &Vec<u8>| PathBuf::from(std::ffi::OsStr::from_bytes(k));
        self.last.iter().map(os).collect()
    }

    /// Remember the folders this check walked.
    pub fn set_last(&mut self, dirs: &[&Path]) {
        let dirs: Vec<Vec<u8>> = dirs.iter().take(MAX_LAST).map(|p| key_of(p)).collect();
        if dirs != self.last {
            self.last = dirs;
            self.changed = true;
        }
    }

    /// The remembered result for `path` if its fingerprint is unchanged.
    pub fn get(&mut self, path: &Path, fingerprint: u128) -> Option<Remembered> {
        let key = key_of(path);
        let hit = self
            .entries
            .get(&key)
            .filter(|r| r.fingerprint == fingerprint)?;
        let hit = *hit;
        self.touched.push(key);
        Some(hit)
    }

    /// Record what `path` hashed to (only when no file was read for it).
    pub fn record(&mut self, path: &Path, r: Remembered) {
        let key = key_of(path);
        if self.entries.insert(key.clone(), r) != Some(r) {
            self.changed = true;
        }
        self.touched.push(key);
    }

    /// Write the memo if something was recorded (temp file + rename). A
    /// failure costs the next check its shortcut, nothing else.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        if !self.changed {
            return Ok(());
        }
        // Merge what another process saved meanwhile; ours win.
        let mut all = fs::read(&path)
            .ok()
            .and_then(|b| decode(&b))
            .unwrap_or_default()
            .0;
        let mut order: Vec<Vec<u8>> = Vec::new();
        for k in self.touched.iter().rev() {
            if !order.contains(k) {
                order.push(k.clone());
            }
        }
        for k in order
            .iter()
            .filter_map(|k| self.entries.get(k).map(|r| (k, r)))
        {
            all.insert(k.0.clone(), *k.1);
        }
        let mut keys: Vec<Vec<u8>> = order;
        let mut rest: Vec<Vec<u8>> = all.keys().filter(|k| !keys.contains(k)).cloned().collect();
        rest.sort();
        keys.extend(rest);
        keys.truncate(MAX_ENTRIES);
        let bytes = encode(
            keys.iter().filter_map(|k| all.get(k).map(|r| (k, r))),
            &self.last,
        );
        let tmp = {
            let mut n = path.as_os_str().to_owned();
            n.push(format!(".{}", std::process::id()));
            PathBuf::from(n)
        };
        let res = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| fs::rename(&tmp, &path));
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        self.changed = false;
        res
    }
}

fn encode<'a>(
    entries: impl Iterator<Item = (&'a Vec<u8>, &'a Remembered)>,
    last: &[Vec<u8>],
) -> Vec<u8> {
    let entries: Vec<_> = entries.collect();
    let mut out = Vec::with_capacity(16 + entries.len() * 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (k, r) in entries {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&r.fingerprint.to_le_bytes());
        out.extend_from_slice(&r.digest);
        out.extend_from_slice(&r.nfiles.to_le_bytes());
        out.extend_from_slice(&r.size.to_le_bytes());
        out.push(u8::from(r.dir) | (u8::from(r.executable) << 1));
    }
    out.extend_from_slice(&(last.len() as u32).to_le_bytes());
    for k in last {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

type Decoded = (HashMap<Vec<u8>, Remembered>, Vec<Vec<u8>>);

fn decode(bytes: &[u8]) -> Option<Decoded> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if xxh3_64(body).to_le_bytes() != sum || body.get(..8)? != MAGIC {
        return None;
    }
    let mut r = Reader(&body[8..]);
    if r.u32()? != VERSION {
        return None;
    }
    let n = r.u32()? as usize;
    let mut out = HashMap::with_capacity(n.min(MAX_ENTRIES));
    for _ in 0..n {
        let len = r.u32()? as usize;
        let key = r.take(len)?.to_vec();
        let fingerprint = u128::from_le_bytes(r.take(16)?.try_into().ok()?);
        let digest: Digest = r.take(32)?.try_into().ok()?;
        let nfiles = r.u64()?;
        let size = r.u64()?;
        let flags = r.take(1)?[0];
        out.insert(
            key,
            Remembered {
                fingerprint,
                digest,
                nfiles,
                size,
                dir: flags & 1 != 0,
                executable: flags & 2 != 0,
            },
        );
    }
    let n = r.u32()? as usize;
    let mut last = Vec::with_capacity(n.min(MAX_LAST));
    for _ in 0..n {
        let len = r.u32()? as usize;
        last.push(r.take(len)?.to_vec());
    }
    r.0.is_empty().then_some((out, last))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rem(fp: u128) -> Remembered {
        Remembered {
            fingerprint: fp,
            digest: [7; 32],
            nfiles: 3,
            size: 99,
            dir: true,
            executable: false,
        }
    }

    /// A memo file holding `/a` (fingerprint 1) and naming `/a`, `/d`.
    fn saved(d: &Path) -> PathBuf {
        let file = d.join("idx.trees");
        let mut m = TreeMemo::open(&file);
        m.record(Path::new("/a"), rem(1));
        m.set_last(&[Path::new("/a"), Path::new("/d")]);
        m.save().unwrap();
        file
    }

    #[test]
    fn round_trip_and_fingerprint_check() {
        let d = tempfile::tempdir().unwrap();
        let file = saved(d.path());
        let mut m = TreeMemo::open(&file);
        assert_eq!(m.last_dirs(), [Path::new("/a"), Path::new("/d")]);
        assert_eq!(m.get(Path::new("/a"), 1), Some(rem(1)));
        assert_eq!(
            m.get(Path::new("/a"), 2),
            None,
            "another fingerprint misses"
        );
        assert_eq!(m.get(Path::new("/b"), 1), None);
    }

    #[test]
    fn damaged_file_is_an_empty_memo() {
        let d = tempfile::tempdir().unwrap();
        let file = saved(d.path());
        let mut bytes = fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        fs::write(&file, &bytes).unwrap();
        assert_eq!(TreeMemo::open(&file).get(Path::new("/a"), 1), None);
        fs::write(&file, b"short").unwrap();
        assert_eq!(TreeMemo::open(&file).get(Path::new("/a"), 1), None);
    }

    #[test]
    fn kept_entries_are_bounded_latest_first() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("idx.trees");
        for i in 0..(MAX_ENTRIES + 10) {
            let mut m = TreeMemo::open(&file);
            m.record(Path::new(&format!("/p{i}")), rem(i as u128));
            m.save().unwrap();
        }
        let mut m = TreeMemo::open(&file);
        assert_eq!(m.entries.len(), MAX_ENTRIES);
        let last = MAX_ENTRIES + 9;
        assert!(m
            .get(Path::new(&format!("/p{last}")), last as u128)
            .is_some());
    }

    #[test]
    fn fingerprints_see_every_stat_field_and_name() {
        let k = StatKey {
            dev: 1,
            ino: 2,
            mtime_ns: 3,
            size: 4,
        };
        let f = |relpath: &str, key: StatKey, executable: bool| Found {
            relpath: relpath.into(),
            key,
            executable,
        };
        let base = fingerprint_dir(&[f("a", k, false)]);
        for other in [
            fingerprint_dir(&[f("b", k, false)]),
            fingerprint_dir(&[f("a", k, true)]),
            fingerprint_dir(&[f("a", StatKey { ino: 9, ..k }, false)]),
            fingerprint_dir(&[f("a", StatKey { mtime_ns: 9, ..k }, false)]),
            fingerprint_dir(&[f("a", StatKey { size: 9, ..k }, false)]),
            fingerprint_dir(&[f("a", StatKey { dev: 9, ..k }, false)]),
            fingerprint_dir(&[f("a", k, false), f("b", k, false)]),
            fingerprint_dir(&[]),
        ] {
            assert_ne!(base, other);
        }
        assert_ne!(fingerprint_file(&k, false), fingerprint_file(&k, true));
    }
}
