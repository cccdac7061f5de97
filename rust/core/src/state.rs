//! The stat index: (device, inode, mtime_ns, size) -> blake3 digest, so that a
//! file whose stat has not moved is never read again.
//!
//! On disk: a header (magic, version, algorithm id, entry count), fixed-size
//! little-endian entries, and an xxh3-64 checksum of everything before it. The
//! file is replaced atomically (temp file + rename); a writer first merges
//! what other processes saved since it loaded, so concurrent runs lose at most
//! a few cache hits, never correctness. A damaged file or one of another
//! version is discarded with a warning and rebuilt.
//!
//! Small saves go to a journal beside it (`<index>.log`) instead: records of
//! (magic, count, entries, xxh3-64), each appended with one `O_APPEND` write.
//! Rewriting a 20,000-entry index to record one new file cost 15 ms, and an
//! experiment records several; an append costs one small write. A torn or
//! damaged record ends the replay (what follows is ignored). When the journal
//! reaches a quarter of the index (or 1 MiB) the next save folds it in: the
//! journal is renamed away first, so an append racing with the fold lands in
//! the old file and is lost, which costs a hash later, nothing else.

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{IoContext, Result};
use crate::hash::{Digest, StatKey};

const MAGIC: &[u8; 8] = b"TRAILSIX";
pub const VERSION: u32 = 1;
const ALGORITHM_BLAKE3: u32 = 1;
const HEADER: usize = 8 + 4 + 4 + 8;
const ENTRY: usize = 8 * 4 + 32;
const LOG_MAGIC: &[u8; 4] = b"TRJ1";
/// A journal record: magic, entry count (u32), entries, xxh3-64.
const LOG_HEADER: usize = 4 + 4;
/// The journal is folded into the index beyond this size, or a quarter of
/// the index's, whichever is larger.
const LOG_FOLD_BYTES: u64 = 1 << 20;

/// Files modified this recently are not recorded: a second write within the
/// file system's timestamp granularity would leave size and mtime unchanged,
/// and the index would then vouch for stale bytes ("racy" entries, as Git
/// calls them). They are simply hashed again next time.
pub const RACY_WINDOW_NS: i64 = 100_000_000;

/// Hashing for `StatKey`s: they are already spread (inode, nanosecond
/// mtime) and never chosen by an attacker, so a multiply-rotate mix (as in
/// rustc's FxHash) does; SipHash was 4% of a warm re-check.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<StatKey, Digest, BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Default)]
pub struct StatIndex {
    path: Option<PathBuf>,
    map: Map,
    fresh: Vec<(StatKey, Digest)>,
    /// The file on disk was damaged or of another version: the next save
    /// replaces it (a journal beside it would never be read).
    discarded: bool,
    /// Why the file on disk was discarded, for the caller to show once.
    pub warning: Option<String>,
}

impl StatIndex {
    /// An index that lives only in memory (no file).
    pub fn in_memory() -> StatIndex {
        StatIndex::default()
    }

    /// Load the index at `path`; a missing file is an empty index.
    pub fn open(path: &Path) -> StatIndex {
        let mut idx = StatIndex {
            path: Some(path.to_path_buf()),
            ..StatIndex::default()
        };
        match fs::read(path) {
            Ok(bytes) => match decode(&bytes) {
                Ok(map) => idx.map = map,
                Err(reason) => {
                    idx.discarded = true;
                    idx.warning = Some(format!(
                        "{}: stat index discarded ({reason}); it will be rebuilt",
                        path.display()
                    ))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                idx.warning = Some(format!(
                    "{}: stat index unreadable ({e}); working without it",
                    path.display()
                ))
            }
        }
        if idx.warning.is_none() {
            if let Ok(bytes) = fs::read(log_path(path)) {
                replay(&bytes, &mut idx.map);
            }
        }
        idx
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &StatKey) -> Option<Digest> {
        self.map.get(key).copied()
    }

    /// Remember a digest, unless the file is too recent to be trusted later.
    pub fn insert(&mut self, key: StatKey, digest: Digest) {
        if !trusted(&key) {
            return;
        }
        if self.map.insert(key, digest) != Some(digest) {
            self.fresh.push((key, digest));
        }
    }

    /// Remember the digest of a cache object just written. Objects are
    /// written whole under a temporary name, renamed, and never written
    /// again, so the racy-write concern of `insert` does not apply: without
    /// this, every object would be read again by its first checkout.
    pub fn insert_object(&mut self, key: StatKey, digest: Digest) {
        if self.map.insert(key, digest) != Some(digest) {
            self.fresh.push((key, digest));
        }
    }

    /// Record what was added: appended to the journal when the index file
    /// exists and the journal is small, else the whole index rewritten
    /// (merged with what other processes saved meanwhile, journal folded in).
    pub fn save(&mut self) -> Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        if self.fresh.is_empty() {
            return Ok(());
        }
        let log = log_path(&path);
        let index_len = fs::metadata(&path).map(|m| m.len()).ok();
        let log_len = fs::metadata(&log).map_or(0, |m| m.len());
        // What the journal would hold after this append; a first scan of a
        // large tree goes straight into the index, not into the journal.
        let after = log_len + (self.fresh.len() * ENTRY) as u64;
        if let (Some(n), false) = (index_len, self.discarded) {
            if after < LOG_FOLD_BYTES.max(n / 4) && self.append(&log).is_ok() {
                self.fresh.clear();
                return Ok(());
            }
        }
        self.rewrite(&path, &log)
    }

    fn append(&self, log: &Path) -> std::io::Result<()> {
        let mut rec = Vec::with_capacity(LOG_HEADER + self.fresh.len() * ENTRY + 8);
        rec.extend_from_slice(LOG_MAGIC);
        rec.extend_from_slice(&(self.fresh.len() as u32).to_le_bytes());
        for (k, d) in &self.fresh {
            put_entry(&mut rec, k, d);
        }
        let sum = xxh3_64(&rec);
        rec.extend_from_slice(&sum.to_le_bytes());
        let mut f = fs::OpenOptions::new().append(true).create(true).open(log)?;
        f.write_all(&rec)
    }

    fn rewrite(&mut self, path: &Path, log: &Path) -> Result<()> {
        // The journal is moved aside before it is read, so nothing appended
        // after the read can be deleted with it unseen.
        let folding = temp_name(log);
        let folded = fs::rename(log, &folding).is_ok();
        let mut merged = match fs::read(path) {
            Ok(bytes) => decode(&bytes).unwrap_or_default(),
            Err(_) => Map::default(),
        };
        if folded && !self.discarded {
            if let Ok(bytes) = fs::read(&folding) {
                replay(&bytes, &mut merged);
            }
        }
        merged.extend(self.map.iter().map(|(k, v)| (*k, *v)));
        let merged = newest_per_inode(merged);
        let bytes = encode(&merged);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).at(dir)?;
        }
        let tmp = temp_name(path);
        let result = (|| {
            let mut f = fs::File::create(&tmp).at(&tmp)?;
            f.write_all(&bytes).at(&tmp)?;
            fs::rename(&tmp, path).at(path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        if folded {
            let _ = fs::remove_file(&folding);
        }
        result?;
        self.map = merged;
        self.fresh.clear();
        self.discarded = false;
        Ok(())
    }
}

fn log_path(index: &Path) -> PathBuf {
    let mut p = index.as_os_str().to_owned();
    p.push(".log");
    PathBuf::from(p)
}

/// Apply the journal's records in order, up to the first torn or damaged one.
fn replay(b: &[u8], map: &mut Map) {
    let mut at = 0;
    while b.len() >= at + LOG_HEADER + 8 && &b[at..at + 4] == LOG_MAGIC {
        let count = u32_at(b, at + 4) as usize;
        let end = at + LOG_HEADER + count * ENTRY;
        if b.len() < end + 8 || xxh3_64(&b[at..end]) != u64_at(b, end) {
            return;
        }
        for e in b[at + LOG_HEADER..end].chunks_exact(ENTRY) {
            let (k, d) = get_entry(e);
            map.insert(k, d);
        }
        at = end + 8;
    }
}

/// Keep one entry per file (device, inode): the newest. A file rewritten in
/// place keeps its inode, and its old versions can never match again; without
/// this the index grew by one entry per edit, forever.
fn newest_per_inode(map: Map) -> Map {
    let mut best: HashMap<(u64, u64), (StatKey, Digest), BuildHasherDefault<KeyHasher>> =
        HashMap::default();
    for (k, d) in map {
        let slot = best.entry((k.dev, k.ino)).or_insert((k, d));
        if k.mtime_ns > slot.0.mtime_ns || (k.mtime_ns == slot.0.mtime_ns && k.size > slot.0.size) {
            *slot = (k, d);
        }
    }
    best.into_values().collect()
}

/// Whether a digest taken now of a file with this stat may be trusted
/// later (it was not modified within the racy window).
pub fn trusted(key: &StatKey) -> bool {
    now_ns() - key.mtime_ns >= RACY_WINDOW_NS
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A name beside `path` unique to this process and call.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn encode(map: &Map) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + map.len() * ENTRY + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&ALGORITHM_BLAKE3.to_le_bytes());
    out.extend_from_slice(&(map.len() as u64).to_le_bytes());
    for (k, d) in map {
        put_entry(&mut out, k, d);
    }
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn put_entry(out: &mut Vec<u8>, k: &StatKey, d: &Digest) {
    out.extend_from_slice(&k.dev.to_le_bytes());
    out.extend_from_slice(&k.ino.to_le_bytes());
    out.extend_from_slice(&k.mtime_ns.to_le_bytes());
    out.extend_from_slice(&k.size.to_le_bytes());
    out.extend_from_slice(d);
}

fn get_entry(e: &[u8]) -> (StatKey, Digest) {
    let key = StatKey {
        dev: u64_at(e, 0),
        ino: u64_at(e, 8),
        mtime_ns: u64_at(e, 16) as i64,
        size: u64_at(e, 24),
    };
    (key, e[32..64].try_into().expect("32 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn decode(b: &[u8]) -> std::result::Result<Map, String> {
    if b.len() < HEADER + 8 || &b[..8] != MAGIC {
        return Err("not a trails stat index".into());
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(format!("version {version}, expected {VERSION}"));
    }
    if u32_at(b, 12) != ALGORITHM_BLAKE3 {
        return Err("recorded with another hash algorithm".into());
    }
    let count = u64_at(b, 16) as usize;
    let body_end = count
        .checked_mul(ENTRY)
        .and_then(|n| n.checked_add(HEADER))
        .filter(|end| end + 8 == b.len())
        .ok_or("truncated or oversized")?;
    if xxh3_64(&b[..body_end]) != u64_at(b, body_end) {
        return Err("checksum mismatch".into());
    }
    let mut map = Map::with_capacity_and_hasher(count, Default::default());
    for e in b[HEADER..body_end].chunks_exact(ENTRY) {
        let (k, d) = get_entry(e);
        map.insert(k, d);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> StatKey {
        StatKey {
            dev: 1,
            ino: i,
            mtime_ns: 1_000_000_000,
            size: i * 10,
        }
    }

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tmp/index");
        let mut idx = StatIndex::open(&p);
        idx.insert(key(1), [7; 32]);
        idx.insert(key(2), [8; 32]);
        idx.save().unwrap();
        let again = StatIndex::open(&p);
        assert!(again.warning.is_none());
        assert_eq!(again.get(&key(1)), Some([7; 32]));
        assert_eq!(again.len(), 2);
    }

    #[test]
    fn concurrent_writers_merge() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut a = StatIndex::open(&p);
        let mut b = StatIndex::open(&p);
        a.insert(key(1), [1; 32]);
        b.insert(key(2), [2; 32]);
        a.save().unwrap();
        b.save().unwrap();
        let c = StatIndex::open(&p);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn damage_is_detected_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut a = StatIndex::open(&p);
        a.insert(key(1), [1; 32]);
        a.save().unwrap();
        let mut bytes = fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 20] ^= 0xff;
        fs::write(&p, &bytes).unwrap();
        let b = StatIndex::open(&p);
        assert!(b.is_empty());
        assert!(b.warning.unwrap().contains("checksum mismatch"));
        fs::write(&p, b"TRAILSIX\x09\0\0\0").unwrap();
        assert!(StatIndex::open(&p)
            .warning
            .unwrap()
            .contains("not a trails stat index"));
    }

    #[test]
    fn an_edited_file_keeps_one_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        for round in 0..4 {
            let mut idx = StatIndex::open(&p);
            for i in 0..10 {
                let k = StatKey {
                    mtime_ns: 1_000_000_000 + round,
                    ..key(i)
                };
                idx.insert(k, [round as u8; 32]);
            }
            idx.save().unwrap();
        }
        // Journaled saves keep every version until the journal is folded in.
        let mut idx = StatIndex::open(&p);
        assert_eq!(idx.len(), 40);
        idx.rewrite(&p, &log_path(&p)).unwrap();
        assert!(!log_path(&p).exists(), "folded");
        let idx = StatIndex::open(&p);
        assert_eq!(idx.len(), 10);
        assert_eq!(
            idx.get(&StatKey {
                mtime_ns: 1_000_000_003,
                ..key(4)
            }),
            Some([3; 32])
        );
    }

    #[test]
    fn recent_files_are_not_trusted() {
        let mut idx = StatIndex::in_memory();
        let k = StatKey {
            mtime_ns: now_ns(),
            ..key(3)
        };
        idx.insert(k, [3; 32]);
        assert_eq!(idx.get(&k), None);
    }

    #[test]
    fn small_saves_append_to_the_journal_and_a_torn_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut idx = StatIndex::open(&p);
        idx.insert(key(1), [1; 32]);
        idx.save().unwrap();
        let written = fs::read(&p).unwrap();
        for i in 2..5 {
            let mut idx = StatIndex::open(&p);
            idx.insert(key(i), [i as u8; 32]);
            idx.save().unwrap();
        }
        assert_eq!(
            fs::read(&p).unwrap(),
            written,
            "the index file was not rewritten"
        );
        let log = log_path(&p);
        assert_eq!(
            fs::metadata(&log).unwrap().len() as usize,
            3 * (LOG_HEADER + ENTRY + 8)
        );
        let idx = StatIndex::open(&p);
        assert_eq!((idx.len(), idx.get(&key(4))), (4, Some([4; 32])));
        // A record cut short (a writer killed mid-append) ends the replay.
        let mut bytes = fs::read(&log).unwrap();
        bytes.truncate(bytes.len() - 3);
        fs::write(&log, &bytes).unwrap();
        let idx = StatIndex::open(&p);
        assert_eq!((idx.len(), idx.get(&key(4))), (3, None));
        assert!(idx.warning.is_none());
        // The next full rewrite folds the readable records in.
        let mut idx = StatIndex::open(&p);
        idx.insert(key(9), [9; 32]);
        idx.rewrite(&p, &log).unwrap();
        assert!(!log.exists());
        assert_eq!(StatIndex::open(&p).len(), 4);
    }

    #[test]
    fn a_large_journal_is_folded_by_the_next_save() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut idx = StatIndex::open(&p);
        idx.insert(key(0), [0; 32]);
        idx.save().unwrap();
        let per = (LOG_FOLD_BYTES as usize) / ENTRY / 4 + 1;
        for round in 0..5u64 {
            let mut idx = StatIndex::open(&p);
            for i in 0..per as u64 {
                idx.insert(key(1 + round * per as u64 + i), [1; 32]);
            }
            idx.save().unwrap();
        }
        let log = fs::metadata(log_path(&p)).map_or(0, |m| m.len());
        assert!(
            log < LOG_FOLD_BYTES + (per * ENTRY) as u64,
            "folded at {log} bytes"
        );
        assert_eq!(StatIndex::open(&p).len(), 1 + 5 * per);
    }

    #[test]
    fn a_large_save_goes_to_the_index_not_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut idx = StatIndex::open(&p);
        idx.insert(key(0), [0; 32]);
        idx.save().unwrap();
        let mut idx = StatIndex::open(&p);
        for i in 1..=(LOG_FOLD_BYTES / ENTRY as u64 + 1) {
            idx.insert(key(i), [1; 32]);
        }
        idx.save().unwrap();
        assert!(
            !log_path(&p).exists(),
            "a first scan of a large tree is not journaled"
        );
        assert_eq!(
            StatIndex::open(&p).len() as u64,
            LOG_FOLD_BYTES / ENTRY as u64 + 2
        );
    }
}
