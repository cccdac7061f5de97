//! The no-op fast path's question: is every file, folder and tree that a
//! kept up-to-date answer depended on still as it was when the answer was
//! made (`python/trails/noop.py`)? One call: the stats and the walks of the
//! trees run in parallel and stop at the first difference.
//!
//! A tree (a stage's dependency or output, `trails add`-ed data) is judged
//! by the tree memo's fingerprint (`treememo`): the same walk, the same
//! stat fields. The fingerprints a kept answer holds are only those that a
//! check of this process confirmed or recorded (`confirmed`): the memo
//! records none for a tree with a file modified within its racy window, so
//! neither does the answer.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::hash::{self, StatKey};
use crate::{pool, scan, treememo, walk};

/// The fingerprints `scan::hash_paths_memo` found to hold (a memo hit) or
/// recorded (no racy file), by path, for this process.
/// With each, the newest mtime among its files (the caller's racy rule is
/// relative to when its command started, not to when the memo recorded).
static CONFIRMED: Mutex<Option<HashMap<PathBuf, (u128, i64)>>> = Mutex::new(None);

/// Note that `path` was hashed from stats whose fingerprint is `fp`, the
/// newest of its files modified at `newest` (ns), and that the memo
/// trusts them.
pub fn confirm(path: &Path, fp: u128, newest: i64) {
    if let Ok(mut map) = CONFIRMED.lock() {
        map.get_or_insert_with(HashMap::new)
            .insert(path.to_path_buf(), (fp, newest));
    }
}

/// The newest mtime of a walk's files (0 for none).
pub fn newest(found: &[walk::Found]) -> i64 {
    found.iter().map(|f| f.key.mtime_ns).max().unwrap_or(0)
}

/// Forget what was confirmed about `path` (its hash was not trusted).
pub fn unconfirm(path: &Path) {
    if let Ok(mut map) = CONFIRMED.lock() {
        if let Some(m) = map.as_mut() {
            m.remove(path);
        }
    }
}

/// The confirmed fingerprint of each path and its newest mtime, if any.
pub fn confirmed(paths: &[PathBuf]) -> Vec<Option<(u128, i64)>> {
    let map = CONFIRMED.lock().ok();
    let map = map.as_ref().and_then(|m| m.as_ref());
    paths
        .iter()
        .map(|p| map.and_then(|m| m.get(p).copied()))
        .collect()
}

/// A file's or folder's stat as a kept answer records it: device, inode,
/// size, mtime and ctime (ns), mode; all zero for a path that did not exist.
pub type Stamp = [i64; 6];

/// The stamp of `path` now (`follow`: through a symlink, as a reader
/// opening the file sees it; else the link or folder itself).
pub fn stamp(path: &Path, follow: bool) -> Stamp {
    let meta = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    match meta {
        Ok(m) => [
            m.dev() as i64,
            m.ino() as i64,
            m.size() as i64,
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            i64::from(m.mode()),
        ],
        Err(_) => [0; 6],
    }
}

/// The tree memo's fingerprint of `path` now (file or folder), None if it
/// is missing or cannot be walked.
pub fn fingerprint(path: &Path) -> Option<u128> {
    let meta = scan::stat(path).ok()?;
    if meta.is_dir() {
        Some(treememo::fingerprint_dir(&walk::walk(path).ok()?))
    } else if meta.is_file() {
        Some(treememo::fingerprint_file(
            &StatKey::of(&meta),
            hash::is_executable(&meta),
        ))
    } else {
        None
    }
}

/// Whether every stamp and every tree fingerprint is as given.
pub fn unchanged(stamps: &[(PathBuf, bool, Stamp)], trees: &[(PathBuf, u128)]) -> bool {
    pool::run(|| {
        stamps
            .par_iter()
            .all(|(p, follow, s)| stamp(p, *follow) == *s)
            && trees.par_iter().all(|(p, fp)| fingerprint(p) == Some(*fp))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn stamps_and_trees_see_a_change() {
        let d = tempfile::tempdir().unwrap();
        let (f, sub) = (d.path().join("f"), d.path().join("sub"));
        fs::write(&f, "a").unwrap();
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("x"), "x").unwrap();
        let stamps = vec![(f.clone(), true, stamp(&f, true))];
        let trees = vec![(sub.clone(), fingerprint(&sub).unwrap())];
        assert!(unchanged(&stamps, &trees));
        fs::write(sub.join("y"), "y").unwrap();
        assert!(!unchanged(&stamps, &trees), "a new file in a tree");
        let trees = vec![(sub.clone(), fingerprint(&sub).unwrap())];
        fs::remove_file(&f).unwrap();
        assert!(!unchanged(&stamps, &trees), "a file gone");
        let gone = vec![(f.clone(), true, [0; 6])];
        assert!(unchanged(&gone, &trees), "recorded as absent, still absent");
        assert_eq!(fingerprint(&f), None);
    }

    #[test]
    fn only_confirmed_paths_have_a_fingerprint() {
        let (a, b) = (PathBuf::from("/noop-test/a"), PathBuf::from("/noop-test/b"));
        confirm(&a, 7, 1);
        confirm(&b, 8, 2);
        unconfirm(&b);
        assert_eq!(confirmed(&[a, b]), [Some((7, 1)), None]);
    }
}
