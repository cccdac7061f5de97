//! Checkout: make a workspace path hold exactly what a cache object or tree
//! describes, touching only the files whose content differs and removing
//! strays. Every object is checked to be present before anything is touched.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cache::Cache;
use crate::error::{os_error, Error, IoContext, Result};
use crate::hash::{self, Digest, StatKey};
use crate::link::{LinkType, Linker};
use crate::pool;
use crate::scan;
use crate::state::StatIndex;
use crate::tree::{diff, Entry};
use crate::treememo::{self, Remembered, TreeMemo};
use crate::walk;

/// What a checkout did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The link type used for the first file materialised (None: nothing to do).
    pub link: Option<LinkType>,
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// When nothing was changed: the tree memo's fingerprint of the walk
    /// that found the tree there, if its files are old enough to trust
    /// (`scan::scan_fingerprinted`), and the tree's size in bytes, for the
    /// caller to record.
    pub fingerprint: Option<(u128, u64)>,
}

/// The file count of the tree `digest` if the tree memo at `memo` vouches
/// that `dest` holds exactly it (every stat of its walk as when it hashed
/// to `digest`): a no-op checkout then loads neither the manifest, nor the
/// stat index, nor looks at an object. None: the full checkout decides.
pub fn memo_holds(dest: &Path, digest: &Digest, memo: &mut TreeMemo) -> Option<usize> {
    if !fs::symlink_metadata(dest).ok()?.is_dir() {
        return None;
    }
    let found = walk::walk(dest).ok()?;
    let r = memo.get(dest, treememo::fingerprint_dir(&found))?;
    (r.dir && r.digest == *digest).then_some(r.nfiles as usize)
}

/// Record in the memo what a checkout found `dest` to hold.
pub fn remember(dest: &Path, digest: &Digest, out: &Outcome, memo: &mut TreeMemo) {
    if let Some((fp, size)) = out.fingerprint {
        memo.record(
            dest,
            Remembered {
                fingerprint: fp,
                digest: *digest,
                nfiles: out.unchanged as u64,
                size,
                dir: true,
                executable: false,
            },
        );
    }
}

/// Check out the tree `digest` at `dest`.
pub fn checkout_tree(
    cache: &Cache,
    digest: &Digest,
    dest: &Path,
    linker: &Linker,
    index: &mut StatIndex,
) -> Result<Outcome> {
    let target = cache.load_tree(digest)?;
    let verified: Vec<Result<Option<(StatKey, Digest)>>> = {
        let idx = &*index;
        pool::run(|| {
            target
                .entries()
                .par_iter()
                .map(|e| {
                    let d = hash::from_hex(&e.blake3).expect("validated by the manifest parser");
                    verify(cache, &d, &dest.join(&e.relpath), idx)
                })
                .collect()
        })
    };
    for v in verified {
        if let Some((k, d)) = v? {
            index.insert(k, d);
        }
    }
    match fs::symlink_metadata(dest) {
        Ok(m) if !m.is_dir() => fs::remove_file(dest).at(dest)?,
        _ => {}
    }
    let (current, fingerprint) = scan::scan_fingerprinted(dest, index)?;
    let d = diff(&current.manifest, &target);
    let same = d.added.is_empty() && d.modified.is_empty() && d.deleted.is_empty();
    let mut out = Outcome {
        added: d.added.len(),
        modified: d.modified.len(),
        deleted: d.deleted.len(),
        unchanged: target.entries().len() - d.added.len() - d.modified.len(),
        link: None,
        fingerprint: fingerprint
            .filter(|_| same)
            .map(|fp| (fp, target.entries().iter().map(|e| e.size).sum())),
    };
    for rel in &d.deleted {
        let p = dest.join(rel);
        fs::remove_file(&p).at(&p)?;
    }
    prune_empty_dirs(dest, d.deleted.iter().map(String::as_str))?;
    // Added files had nothing at their path when the workspace was scanned:
    // they are created without a look at it first (one syscall less each).
    let todo: Vec<(&Entry, bool)> = d
        .modified
        .iter()
        .map(|e| (e, false))
        .chain(d.added.iter().map(|e| (e, true)))
        .collect();
    let dirs: BTreeSet<PathBuf> = todo
        .iter()
        .filter_map(|(e, _)| dest.join(&e.relpath).parent().map(Path::to_path_buf))
        .collect();
    for dir in dirs.iter().chain(std::iter::once(&dest.to_path_buf())) {
        fs::create_dir_all(dir).at(dir)?;
    }
    let results: Vec<Result<(LinkType, Option<StatKey>, Digest)>> = pool::run(|| {
        todo.par_iter()
            .map(|(e, new)| {
                let digest = hash::from_hex(&e.blake3).expect("validated");
                let path = dest.join(&e.relpath);
                let made = replace(cache, &digest, &path, linker, e.isexec, *new)?;
                crate::progress::add(e.size);
                Ok((made.0, new_inode_key(made, &path), digest))
            })
            .collect()
    });
    for r in results {
        let (t, key, digest) = r?;
        out.link.get_or_insert(t);
        if let Some(k) = key {
            index.insert(k, digest);
        }
    }
    Ok(out)
}

/// Check that the object for `digest` exists and holds what its name says,
/// before anything is touched. Objects the stat index vouches for (their
/// stat unchanged since they were stored) are not read; others are hashed
/// once and, if sound, returned for the index.
fn verify(
    cache: &Cache,
    digest: &Digest,
    dest: &Path,
    index: &StatIndex,
) -> Result<Option<(StatKey, Digest)>> {
    let obj = cache.object_path(digest);
    let meta = match fs::metadata(&obj) {
        Ok(m) if m.is_file() => m,
        _ => {
            return Err(Error::MissingObject {
                path: dest.to_path_buf(),
                hash: hash::to_hex(digest),
            })
        }
    };
    let key = StatKey::of(&meta);
    if index.get(&key) == Some(*digest) {
        return Ok(None);
    }
    let got = hash::hash_file(&obj)?;
    if got.digest != *digest {
        return Err(Error::CorruptObject {
            path: dest.to_path_buf(),
            object: obj,
        });
    }
    Ok(Some((got.key, got.digest)))
}

/// Copies and reflinks are new inodes: record them so the next scan of the
/// workspace need not read them (a copy's stat was taken as it was made).
/// Hard and symbolic links share the object's.
fn new_inode_key((t, key): (LinkType, Option<StatKey>), path: &Path) -> Option<StatKey> {
    match t {
        LinkType::Copy | LinkType::Reflink => {
            key.or_else(|| fs::metadata(path).ok().map(|m| StatKey::of(&m)))
        }
        _ => None,
    }
}

/// Replace whatever is at `path` by the object; the link type used, and a
/// copy's stat. `new`: the scan found nothing there, so the object is made
/// without a look first; should something have appeared since (another
/// process), the full replacement deals with it.
fn replace(
    cache: &Cache,
    digest: &Digest,
    path: &Path,
    linker: &Linker,
    exec: bool,
    new: bool,
) -> Result<(LinkType, Option<StatKey>)> {
    if new {
        if let Ok(made) = linker.link_keyed(&cache.object_path(digest), path, exec) {
            return Ok(made);
        }
    }
    let mut was: Option<u32> = None;
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).at(path)?,
        Ok(m) => {
            if m.is_file() {
                was = Some(m.permissions().mode());
            }
            fs::remove_file(path).at(path)?
        }
        Err(_) => {}
    }
    let (t, key) = linker.link_keyed(&cache.object_path(digest), path, exec)?;
    if let (Some(old), LinkType::Copy | LinkType::Reflink) = (was, t) {
        // The file replaced kept group/other out (private data): so does
        // its new copy. Links share the read-only object's mode instead.
        // (A mode change leaves the stat key as it was.)
        let mode = fs::metadata(path).at(path)?.permissions().mode() & 0o7777;
        let kept = mode & (old | 0o700);
        if kept != mode {
            fs::set_permissions(path, fs::Permissions::from_mode(kept)).at(path)?;
        }
    }
    Ok((t, key))
}

/// Remove folders that deletions left empty, deepest first, never `root`.
fn prune_empty_dirs<'a>(root: &Path, deleted: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for rel in deleted {
        let mut p = Path::new(rel).parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(root.join(dir));
            p = dir.parent();
        }
    }
    for dir in dirs.iter().rev() {
        if fs::read_dir(dir)
            .map(|mut it| it.next().is_none())
            .unwrap_or(false)
        {
            fs::remove_dir(dir).at(dir)?;
        }
    }
    Ok(())
}

/// Check out one file object at `dest`. Returns the link type used, or None
/// when `dest` already held the content.
pub fn checkout_file(
    cache: &Cache,
    digest: &Digest,
    dest: &Path,
    linker: &Linker,
    index: &mut StatIndex,
    exec: bool,
) -> Result<Option<LinkType>> {
    if let Some((k, d)) = verify(cache, digest, dest, index)? {
        index.insert(k, d);
    }
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => return Err(os_error(dest, libc::EISDIR)),
        Ok(_) => {
            if let Ok((have, read)) = scan::digest(dest, index) {
                if read {
                    index.insert(have.key, have.digest);
                }
                if have.digest == *digest && have.executable == exec {
                    return Ok(None);
                }
            }
        }
        Err(_) => {
            if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).at(parent)?;
            }
        }
    }
    let made = replace(cache, digest, dest, linker, exec, false)?;
    if let Some(k) = new_inode_key(made, dest) {
        index.insert(k, *digest);
    }
    Ok(Some(made.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::StoredTree;
    use crate::tree::Manifest;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (p, c) in files {
            let f = root.join(p);
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, c).unwrap();
        }
    }

    /// `files` written into `src/` of a new temporary folder and stored in
    /// its `cache/`: the folder, the cache, the stat index used, the tree.
    fn stored(files: &[(&str, &str)]) -> (tempfile::TempDir, Cache, StatIndex, StoredTree) {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        write(&src, files);
        let cache = Cache::new(&d.path().join("cache"));
        let mut idx = StatIndex::in_memory();
        let t = cache.store_tree(&src, &mut idx, None).unwrap();
        (d, cache, idx, t)
    }

    #[test]
    fn only_differing_files_are_touched_and_strays_go() {
        let (d, cache, mut idx, t) = stored(&[("a", "1"), ("dir/b", "2"), ("dir/c", "3")]);
        let dest = d.path().join("dest");
        let linker = Linker::new(vec![LinkType::Copy]);
        let first = checkout_tree(&cache, &t.digest, &dest, &linker, &mut idx).unwrap();
        assert_eq!((first.added, first.link), (3, Some(LinkType::Copy)));
        write(&dest, &[("dir/b", "changed"), ("stray/x", "s")]);
        let second = checkout_tree(&cache, &t.digest, &dest, &linker, &mut idx).unwrap();
        assert_eq!(
            (
                second.added,
                second.modified,
                second.deleted,
                second.unchanged
            ),
            (0, 1, 1, 2)
        );
        assert!(!dest.join("stray").exists());
        let again = scan::scan(&dest, &mut idx).unwrap().manifest;
        assert_eq!(again, t.manifest);
        let third = checkout_tree(&cache, &t.digest, &dest, &linker, &mut idx).unwrap();
        assert_eq!(
            third,
            Outcome {
                unchanged: 3,
                ..Outcome::default()
            }
        );
    }

    #[test]
    fn the_memo_vouches_for_a_tree_a_checkout_found_there_until_a_file_moves() {
        let (d, cache, mut idx, t) = stored(&[("a", "1"), ("dir/b", "22")]);
        let dest = d.path().join("dest");
        let linker = Linker::new(vec![LinkType::Copy]);
        let first = checkout_tree(&cache, &t.digest, &dest, &linker, &mut idx).unwrap();
        assert_eq!(
            (first.added, first.fingerprint),
            (2, None),
            "a checkout that wrote"
        );
        let mut memo = TreeMemo::default();
        assert_eq!(memo_holds(&dest, &t.digest, &mut memo), None);
        let again = checkout_tree(&cache, &t.digest, &dest, &linker, &mut idx).unwrap();
        assert_eq!(again.fingerprint, None, "files within the racy window");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        for f in walk::walk(&dest).unwrap() {
            let file = fs::File::options().write(true).open(f.path(&dest)).unwrap();
            file.set_modified(old).unwrap();
        }
        let settled = checkout_tree(&cache, &t.digest, &dest, &linker, &mut idx).unwrap();
        assert_eq!(settled.fingerprint.map(|f| f.1), Some(3));
        remember(&dest, &t.digest, &settled, &mut memo);
        assert_eq!(memo_holds(&dest, &t.digest, &mut memo), Some(2));
        let other = hash::hash_bytes(b"another tree");
        assert_eq!(memo_holds(&dest, &other, &mut memo), None, "another tree");
        fs::write(dest.join("stray"), "s").unwrap();
        assert_eq!(
            memo_holds(&dest, &t.digest, &mut memo),
            None,
            "a stray file"
        );
        fs::remove_file(dest.join("stray")).unwrap();
        fs::write(dest.join("a"), "9").unwrap();
        assert_eq!(
            memo_holds(&dest, &t.digest, &mut memo),
            None,
            "a file rewritten"
        );
    }

    #[test]
    fn a_corrupt_object_is_named_and_nothing_is_touched() {
        use std::os::unix::fs::PermissionsExt;
        let (d, cache, _, t) = stored(&[("a", "1"), ("b", "2")]);
        let obj = cache.object_path(&hash::hash_bytes(b"2"));
        fs::set_permissions(&obj, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&obj, "X").unwrap();
        let dest = d.path().join("dest");
        write(&dest, &[("b", "mine")]);
        let err = checkout_tree(
            &cache,
            &t.digest,
            &dest,
            &Linker::new(vec![LinkType::Copy]),
            &mut StatIndex::in_memory(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::CorruptObject { .. }), "{err}");
        assert_eq!(fs::read_to_string(dest.join("b")).unwrap(), "mine");
    }

    #[test]
    fn missing_object_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let entry = Entry {
            relpath: "a".into(),
            blake3: hash::to_hex(&[1; 32]),
            size: 1,
            isexec: false,
        };
        let digest = cache
            .store_manifest(&Manifest::new(vec![entry], Path::new("m")).unwrap())
            .unwrap();
        let dest = d.path().join("dest");
        write(&dest, &[("keep", "k")]);
        let err = checkout_tree(
            &cache,
            &digest,
            &dest,
            &Linker::new(vec![]),
            &mut StatIndex::in_memory(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::MissingObject { .. }));
        assert!(dest.join("keep").exists());
    }
}
