//! Objects leaving or entering the cache for a remote: read many objects at
//! once (to pack them), store bytes fetched from a remote (each checked
//! against the name it claims before it becomes an object), and say which
//! objects are absent. A remote is untrusted: nothing it sends is stored
//! under a name its bytes do not hash to, and a tree's bytes must also parse
//! as a valid manifest (safe relative paths, well-formed hashes).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cache::Cache;
use crate::error::{Error, IoContext, Result};
use crate::hash::{self, Digest, StatKey};
use crate::pool;
use crate::progress;
use crate::state::StatIndex;
use crate::tree::Manifest;

/// An object's name in the cache: its digest, and whether it is a tree
/// manifest (`<hash>.dir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name {
    pub digest: Digest,
    pub tree: bool,
}

impl Name {
    /// Parse `<64 hex>` or `<64 hex>.dir`.
    pub fn parse(s: &str) -> Option<Name> {
        let (hex, tree) = match s.strip_suffix(".dir") {
            Some(h) => (h, true),
            None => (s, false),
        };
        hash::from_hex(hex).map(|digest| Name { digest, tree })
    }
}

/// What storing one fetched object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new object was written.
    Written,
    /// The cache held it already.
    Present,
    /// Its bytes do not match its name (or a tree's do not parse): not stored.
    Corrupt,
}

fn path_of(cache: &Cache, n: &Name) -> PathBuf {
    if n.tree {
        cache.tree_path(&n.digest)
    } else {
        cache.object_path(&n.digest)
    }
}

fn verified(n: &Name, bytes: &[u8]) -> bool {
    hash::hash_bytes(bytes) == n.digest
        && (!n.tree || Manifest::from_bytes(bytes, Path::new("<remote>")).is_ok())
}

/// Store one object's bytes, fetched from elsewhere. No stat first: the
/// caller fetches only what the cache lacked, and the rename, which never
/// replaces, says if another process stored it meanwhile (a pull is bound
/// by the kernel's work per file: one syscall less of 7). The new object's
/// stat is taken on the open descriptor, for the stat index: the bytes were
/// just hashed, so the checkout that follows a fetch need not read them.
fn store_one(cache: &Cache, n: &Name, bytes: &[u8]) -> Result<Stored> {
    let dest = path_of(cache, n);
    if !verified(n, bytes) {
        return Ok((Outcome::Corrupt, None));
    }
    let (mut f, tmp) = cache.create_temp("fetch")?;
    let key = match f.write_all(bytes).and_then(|_| f.metadata()) {
        Ok(meta) => StatKey::of(&meta),
        Err(e) => {
            drop(f);
            let _ = fs::remove_file(&tmp);
            return Err(Error::Io {
                path: tmp,
                source: e,
            });
        }
    };
    drop(f);
    progress::add(bytes.len() as u64);
    Ok(if cache.publish(&tmp, &dest)? {
        (Outcome::Written, (!n.tree).then_some(key))
    } else {
        (Outcome::Present, None)
    })
}

/// What storing one object did, and the stat of the file object it wrote
/// (None for a tree manifest, or when nothing was written).
pub type Stored = (Outcome, Option<StatKey>);

/// Store the objects `items` names in slices of `data` (`(name, offset,
/// length)`), in parallel. A slice out of range is corrupt. The first I/O
/// error (a full disk) is returned; what was stored before it stays (each
/// object is complete or absent).
pub fn store_blobs(
    cache: &Cache,
    data: &[u8],
    items: &[(Name, usize, usize)],
) -> Result<Vec<Stored>> {
    pool::run(|| {
        items
            .par_iter()
            .map(|(n, off, len)| match off.checked_add(*len) {
                Some(end) if end <= data.len() => store_one(cache, n, &data[*off..end]),
                _ => Ok((Outcome::Corrupt, None)),
            })
            .collect()
    })
}

/// Vouch in the stat index for the file objects just stored (their bytes
/// were hashed in memory): written whole and never again, so the racy-write
/// rule does not apply (`StatIndex::insert_object`).
pub fn record(index: &mut StatIndex, items: &[(Name, usize, usize)], stored: &[Stored]) {
    for ((n, _, _), (_, key)) in items.iter().zip(stored) {
        if let Some(k) = key {
            index.insert_object(*k, n.digest);
        }
    }
}

/// Make the complete file `tmp` (written by the caller into the cache's
/// `tmp/` folder, so on the same file system) the object `n`, if its bytes
/// hash to `n`; else remove it. No byte is copied.
pub fn adopt_file(cache: &Cache, tmp: &Path, n: &Name) -> Result<Outcome> {
    let dest = path_of(cache, n);
    let ok = if n.tree {
        let bytes = fs::read(tmp).at(tmp)?;
        verified(n, &bytes)
    } else {
        hash::hash_file(tmp)?.digest == n.digest
    };
    if !ok {
        let _ = fs::remove_file(tmp);
        return Ok(Outcome::Corrupt);
    }
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o444)).at(tmp)?;
    Ok(if cache.publish(tmp, &dest)? {
        Outcome::Written
    } else {
        Outcome::Present
    })
}

/// The bytes of each object, concatenated in order, and each one's length
/// (a pack's body and its table). A missing object is an error naming it.
pub fn read_objects(cache: &Cache, names: &[Name]) -> Result<(Vec<u8>, Vec<u64>)> {
    let parts: Vec<Result<Vec<u8>>> = pool::run(|| {
        names
            .par_iter()
            .map(|n| {
                let p = path_of(cache, n);
                fs::read(&p).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Error::MissingObject {
                            path: p.clone(),
                            hash: hash::to_hex(&n.digest),
                        }
                    } else {
                        Error::Io {
                            path: p.clone(),
                            source: e,
                        }
                    }
                })
            })
            .collect()
    });
    let mut total = 0usize;
    let mut bodies = Vec::with_capacity(parts.len());
    for p in parts {
        let b = p?;
        total += b.len();
        bodies.push(b);
    }
    let mut out = Vec::with_capacity(total);
    let mut lengths = Vec::with_capacity(bodies.len());
    for b in bodies {
        progress::add(b.len() as u64);
        lengths.push(b.len() as u64);
        out.extend_from_slice(&b);
    }
    Ok((out, lengths))
}

/// Indices (into `names`) of the objects the cache lacks, one stat each in
/// parallel.
pub fn missing(cache: &Cache, names: &[Name]) -> Vec<usize> {
    let present: Vec<bool> = pool::run(|| {
        names
            .par_iter()
            .map(|n| path_of(cache, n).is_file())
            .collect()
    });
    present
        .iter()
        .enumerate()
        .filter_map(|(i, p)| (!p).then_some(i))
        .collect()
}

/// Each object's size, `None` where the cache lacks it: one stat each in
/// parallel, what a push needs to cut its packs (a stat per object from
/// Python cost more than the rest of a 20k-file push to a folder).
pub fn sizes(cache: &Cache, names: &[Name]) -> Vec<Option<u64>> {
    pool::run(|| {
        names
            .par_iter()
            .map(|n| {
                fs::metadata(path_of(cache, n))
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(bytes: &[u8]) -> Name {
        Name {
            digest: hash::hash_bytes(bytes),
            tree: false,
        }
    }

    #[test]
    fn fetched_bytes_are_stored_only_under_their_own_hash() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let data = b"hello world";
        let good = name(b"hello");
        let claimed = name(b"other");
        let items = [
            (good, 0, 5),
            (claimed, 6, 5),
            (good, 0, 5),
            (claimed, 8, 10),
        ];
        let stored = store_blobs(&cache, data, &items).unwrap();
        let out: Vec<Outcome> = stored.iter().map(|s| s.0).collect();
        // The object written is vouched for by its stat, as it is on disk.
        let mut index = StatIndex::in_memory();
        record(&mut index, &items, &stored);
        assert_eq!(index.len(), 1);
        let on_disk = StatKey::of(&fs::metadata(cache.object_path(&good.digest)).unwrap());
        assert_eq!(index.get(&on_disk), Some(good.digest));
        // The same object twice in one batch is stored once; the items run
        // in parallel, so either of the two may be the one that writes it.
        let mut twice = [out[0], out[2]];
        twice.sort_by_key(|o| *o == Outcome::Present);
        assert_eq!(twice, [Outcome::Written, Outcome::Present]);
        assert_eq!(out[1], Outcome::Corrupt);
        assert_eq!(out[3], Outcome::Corrupt);
        assert!(cache.contains(&good.digest));
        assert!(!cache.contains(&claimed.digest));
        assert_eq!(missing(&cache, &[good, claimed]), vec![1]);
        assert_eq!(sizes(&cache, &[good, claimed]), vec![Some(5), None]);
        let (body, lengths) = read_objects(&cache, &[good, good]).unwrap();
        assert_eq!(body, b"hellohello");
        assert_eq!(lengths, vec![5, 5]);
        assert!(read_objects(&cache, &[claimed]).is_err());
    }

    #[test]
    fn a_tree_must_parse_and_an_adopted_file_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let junk = b"[{\"relpath\": \"../x\"}]";
        let tree = Name {
            digest: hash::hash_bytes(junk),
            tree: true,
        };
        let out: Vec<Outcome> = store_blobs(&cache, junk, &[(tree, 0, junk.len())])
            .unwrap()
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(out, vec![Outcome::Corrupt]);
        let tmp = cache.temp_dir().unwrap().join("x");
        fs::write(&tmp, b"abc").unwrap();
        assert_eq!(
            adopt_file(&cache, &tmp, &name(b"abd")).unwrap(),
            Outcome::Corrupt
        );
        assert!(!tmp.exists());
        fs::write(&tmp, b"abc").unwrap();
        assert_eq!(
            adopt_file(&cache, &tmp, &name(b"abc")).unwrap(),
            Outcome::Written
        );
        assert!(cache.contains(&name(b"abc").digest));
    }
}
