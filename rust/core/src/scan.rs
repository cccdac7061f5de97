//! Turning a directory into a manifest: walk, stat every file in parallel,
//! take digests from the stat index where the stat has not moved, hash the
//! rest.

use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::hash::{self, FileDigest, StatKey};
use crate::noop;
use crate::pool;
use crate::state::StatIndex;
use crate::tree::{Entry, Manifest};
use crate::treememo::{self, Remembered, TreeMemo};
use crate::walk::{self, Found};

/// What a scan found and how much work it took.
#[derive(Debug)]
pub struct Scan {
    pub manifest: Manifest,
    /// Files whose bytes were read (not found in the index).
    pub hashed: usize,
}

/// The stat of a file as the index would key it, following symlinks.
pub fn stat(path: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound && hash::is_symlink(path) {
            Error::DanglingSymlink {
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })
}

/// The digest of one file: from the index when its stat matches, else read.
/// Returns whether the bytes were read.
pub fn digest(path: &Path, index: &StatIndex) -> Result<(FileDigest, bool)> {
    let meta = stat(path)?;
    if meta.is_file() {
        let key = StatKey::of(&meta);
        if let Some(d) = index.get(&key) {
            return Ok((
                FileDigest {
                    digest: d,
                    key,
                    executable: hash::is_executable(&meta),
                },
                false,
            ));
        }
    }
    Ok((hash::hash_file(path)?, true))
}

/// Walk `root` and take each file's digest (from the index, else read), in
/// parallel: the part `scan` and `scan_bytes` share.
type Digested = (Vec<Found>, Vec<Result<(FileDigest, bool)>>);

fn walk_and_digest(root: &Path, index: &StatIndex) -> Result<Digested> {
    digest_walked(root, walk::walk(root)?, index)
}

fn digest_walked(root: &Path, found: Vec<Found>, index: &StatIndex) -> Result<Digested> {
    let results = pool::run(|| {
        found
            .par_iter()
            .map(|f| digest_found(root, f, index))
            .collect()
    });
    Ok((found, results))
}

/// Scan `root` into a manifest, updating `index` with what was hashed.
pub fn scan(root: &Path, index: &mut StatIndex) -> Result<Scan> {
    let (found, results) = walk_and_digest(root, index)?;
    scan_digested(root, found, results, index)
}

/// `scan_or_empty`, with the tree memo's fingerprint of the walk the scan
/// was made from, if every file in it is old enough for its digest to be
/// trusted later (`state::trusted`): what a checkout that found the tree
/// already there records, so that the next one is answered by the memo.
pub fn scan_fingerprinted(root: &Path, index: &mut StatIndex) -> Result<(Scan, Option<u128>)> {
    match std::fs::symlink_metadata(root) {
        Ok(m) if m.is_dir() => {
            let found = walk::walk(root)?;
            let fp = found
                .iter()
                .all(|f| crate::state::trusted(&f.key))
                .then(|| treememo::fingerprint_dir(&found));
            let (found, results) = digest_walked(root, found, index)?;
            Ok((scan_digested(root, found, results, index)?, fp))
        }
        _ => Ok((scan_or_empty(root, index)?, None)),
    }
}

fn scan_digested(
    root: &Path,
    found: Vec<Found>,
    results: Vec<Result<(FileDigest, bool)>>,
    index: &mut StatIndex,
) -> Result<Scan> {
    let mut entries = Vec::with_capacity(found.len());
    let mut hashed = 0;
    for (f, r) in found.into_iter().zip(results) {
        let (d, read) = r?;
        if read {
            hashed += 1;
            index.insert(d.key, d.digest);
        }
        entries.push(Entry {
            relpath: f.relpath,
            blake3: hash::to_hex(&d.digest),
            size: d.key.size,
            isexec: d.executable,
        });
    }
    Ok(Scan {
        manifest: Manifest::new(entries, root)?,
        hashed,
    })
}

/// The digest of a walked file: from the index, else read (the walk's stat
/// is the one the read is checked against).
pub(crate) fn digest_found(
    root: &Path,
    f: &Found,
    index: &StatIndex,
) -> Result<(FileDigest, bool)> {
    if let Some(d) = index.get(&f.key) {
        return Ok((
            FileDigest {
                digest: d,
                key: f.key,
                executable: f.executable,
            },
            false,
        ));
    }
    let d = hash::hash_known(&f.path(root), f.key, f.executable)?;
    crate::progress::add(f.key.size);
    Ok((d, true))
}

pub(crate) fn entry_of(f: &Found, d: &FileDigest) -> Entry {
    Entry {
        relpath: f.relpath.clone(),
        blake3: hash::to_hex(&d.digest),
        size: d.key.size,
        isexec: d.executable,
    }
}

/// Scan a path that may not exist: a missing directory is an empty tree.
pub fn scan_or_empty(root: &Path, index: &mut StatIndex) -> Result<Scan> {
    match std::fs::symlink_metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Scan {
            manifest: Manifest::default(),
            hashed: 0,
        }),
        Err(e) => Err(e).at(root),
        Ok(_) => scan(root, index),
    }
}

/// A directory as canonical manifest bytes, written straight from the walk
/// (no `Entry`, no hex `String` per file): what a re-check needs.
#[derive(Debug)]
pub struct ScanBytes {
    pub bytes: Vec<u8>,
    pub nfiles: usize,
    pub size: u64,
    /// Files whose bytes were read (not found in the index).
    pub hashed: usize,
    /// Of those, files modified too recently for their digest to be kept.
    pub racy: usize,
}

/// `scan`, producing the manifest's bytes directly. About 30 ms less than
/// building a `Manifest` for 100k files, a fifth of a warm re-check.
pub fn scan_bytes(root: &Path, index: &mut StatIndex) -> Result<ScanBytes> {
    scan_walked(root, walk::walk(root)?, index)
}

/// `scan_bytes` of a folder already walked.
fn scan_walked(root: &Path, found: Vec<Found>, index: &mut StatIndex) -> Result<ScanBytes> {
    let (found, results) = digest_walked(root, found, index)?;
    let mut w = crate::tree::ManifestWriter::with_capacity(found.len());
    let (mut hashed, mut racy, mut size) = (0, 0, 0);
    for (f, r) in found.iter().zip(results) {
        let (d, read) = r?;
        if read {
            hashed += 1;
            racy += usize::from(!crate::state::trusted(&d.key));
            index.insert(d.key, d.digest);
        }
        size += d.key.size;
        w.push(&f.relpath, &d.digest, d.key.size, d.executable);
    }
    let nfiles = w.len();
    Ok(ScanBytes {
        bytes: w.finish(),
        nfiles,
        size,
        hashed,
        racy,
    })
}

/// The state of one path of interest (a dependency or an output).
#[derive(Debug)]
pub enum PathState {
    Missing,
    File(FileDigest),
    Dir(ScanBytes),
    /// A directory whose every stat matched the tree memo: its hash, file
    /// count and size, without the manifest.
    Known(Remembered),
}

/// Hash many paths (files or directories) with one index: files in parallel,
/// each directory by a parallel scan. Missing paths are `Missing`, not errors.
pub fn hash_paths(paths: &[&Path], index: &mut StatIndex) -> Result<Vec<PathState>> {
    let kinds: Vec<Result<Option<bool>>> = pool::run(|| {
        paths
            .par_iter()
            .map(|p| match stat(p) {
                Ok(m) => Ok(Some(m.is_dir())),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    Ok(None)
                }
                Err(e) => Err(e),
            })
            .collect()
    });
    let kinds = kinds.into_iter().collect::<Result<Vec<_>>>()?;
    let files: Vec<Result<(FileDigest, bool)>> = {
        let idx = &*index;
        pool::run(|| {
            paths
                .par_iter()
                .zip(kinds.par_iter())
                .filter(|(_, k)| **k == Some(false))
                .map(|(p, _)| digest(p, idx))
                .collect()
        })
    };
    let mut files = files.into_iter();
    let mut out = Vec::with_capacity(paths.len());
    for (p, kind) in paths.iter().zip(kinds) {
        out.push(match kind {
            None => PathState::Missing,
            Some(true) => PathState::Dir(scan_bytes(p, index)?),
            Some(false) => {
                let (d, read) = files.next().expect("one result per file")?;
                if read {
                    index.insert(d.key, d.digest);
                }
                PathState::File(d)
            }
        });
    }
    Ok(out)
}

type Walks = std::collections::HashMap<std::path::PathBuf, Result<Vec<Found>>>;

/// The early walks started by `prefetch`, if any.
static PREFETCH: std::sync::Mutex<Option<std::thread::JoinHandle<Walks>>> =
    std::sync::Mutex::new(None);

/// Start walking, on a thread of its own, the folders the latest check
/// through the memo beside `index` walked (those inside `root` only: the
/// memo is not trusted to name other places), so that the walk runs while
/// the caller loads the pipeline. `hash_paths_memo` takes the walks
/// started here for the folders it is asked about: a walk of the same
/// folder from a moment earlier in the same command. A wrong guess costs
/// a walk, never a different result.
pub fn prefetch(index: &Path, root: &Path) {
    let dirs = prefetch_dirs(&TreeMemo::open(&treememo::path_for(index)), root);
    if dirs.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("trails-prefetch".into())
        .spawn(move || {
            dirs.into_iter()
                .map(|d| {
                    let w = walk::walk(&d);
                    (d, w)
                })
                .collect()
        });
    if let (Ok(handle), Ok(mut slot)) = (spawned, PREFETCH.lock()) {
        *slot = Some(handle);
    }
}

/// The memo's latest folders that lie strictly inside `root`, named
/// without `.` or `..`.
fn prefetch_dirs(memo: &TreeMemo, root: &Path) -> Vec<std::path::PathBuf> {
    use std::path::Component;
    let plain = |d: &Path| {
        d.components()
            .all(|c| !matches!(c, Component::ParentDir | Component::CurDir))
    };
    memo.last_dirs()
        .into_iter()
        .filter(|d| d.starts_with(root) && d != root && plain(d))
        .collect()
}

fn take_prefetched() -> Walks {
    let handle = PREFETCH.lock().ok().and_then(|mut slot| slot.take());
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// `hash_paths` through the tree memo beside `index` (`treememo`): a path
/// whose stats all match what the memo recorded takes its hash from there;
/// the stat index is loaded only if some path misses. Each directory is
/// walked once either way. Returns the stat index's warning, if any.
pub fn hash_paths_memo(paths: &[&Path], index: &Path) -> Result<(Vec<PathState>, Option<String>)> {
    let mut early = take_prefetched();
    let mut memo = TreeMemo::open(&treememo::path_for(index));
    let metas: Vec<Result<Option<std::fs::Metadata>>> = pool::run(|| {
        paths
            .par_iter()
            .map(|p| match stat(p) {
                Ok(m) => Ok(Some(m)),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    Ok(None)
                }
                Err(e) => Err(e),
            })
            .collect()
    });
    // First pass: what the memo answers; misses keep their walk.
    let mut out: Vec<Option<PathState>> = Vec::with_capacity(paths.len());
    let mut misses: Vec<(usize, Option<Vec<Found>>)> = Vec::new();
    for (i, (p, meta)) in paths.iter().zip(metas).enumerate() {
        noop::unconfirm(p);
        let Some(meta) = meta? else {
            out.push(Some(PathState::Missing));
            continue;
        };
        if meta.is_dir() {
            let found = match early.remove(*p) {
                Some(Ok(found)) => found,
                _ => walk::walk(p)?,
            };
            let fp = treememo::fingerprint_dir(&found);
            if let Some(r) = memo.get(p, fp) {
                noop::confirm(p, fp, noop::newest(&found));
                out.push(Some(PathState::Known(r)));
            } else {
                out.push(None);
                misses.push((i, Some(found)));
            }
        } else {
            let (key, executable) = (StatKey::of(&meta), hash::is_executable(&meta));
            let fp = treememo::fingerprint_file(&key, executable);
            match memo.get(p, fp) {
                Some(r) if meta.is_file() => {
                    noop::confirm(p, fp, key.mtime_ns);
                    out.push(Some(PathState::File(FileDigest {
                        digest: r.digest,
                        key,
                        executable,
                    })));
                }
                _ => {
                    out.push(None);
                    misses.push((i, None));
                }
            }
        }
    }
    let mut warning = None;
    if !misses.is_empty() {
        let mut idx = StatIndex::open(index);
        warning = idx.warning.take();
        for (i, found) in misses {
            let p = paths[i];
            out[i] = Some(match found {
                Some(found) => {
                    let fp = treememo::fingerprint_dir(&found);
                    let newest = noop::newest(&found);
                    let s = scan_walked(p, found, &mut idx)?;
                    if s.racy == 0 {
                        noop::confirm(p, fp, newest);
                        memo.record(
                            p,
                            Remembered {
                                fingerprint: fp,
                                digest: hash::hash_bytes(&s.bytes),
                                nfiles: s.nfiles as u64,
                                size: s.size,
                                dir: true,
                                executable: false,
                            },
                        );
                    }
                    PathState::Dir(s)
                }
                None => {
                    let (d, read) = digest(p, &idx)?;
                    if read {
                        idx.insert(d.key, d.digest);
                    }
                    if crate::state::trusted(&d.key) {
                        let fp = treememo::fingerprint_file(&d.key, d.executable);
                        noop::confirm(p, fp, d.key.mtime_ns);
                        memo.record(
                            p,
                            Remembered {
                                fingerprint: fp,
                                digest: d.digest,
                                nfiles: 1,
                                size: d.key.size,
                                dir: false,
                                executable: d.executable,
                            },
                        );
                    }
                    PathState::File(d)
                }
            });
        }
        if let Err(e) = idx.save() {
            warning.get_or_insert(format!("stat index not saved: {e}"));
        }
    }
    let dirs: Vec<&Path> = paths
        .iter()
        .zip(&out)
        .filter(|(_, s)| matches!(s, Some(PathState::Dir(_) | PathState::Known(_))))
        .map(|(p, _)| *p)
        .collect();
    if !dirs.is_empty() {
        memo.set_last(&dirs);
    }
    let _ = memo.save();
    Ok((
        out.into_iter()
            .map(|s| s.expect("every path answered"))
            .collect(),
        warning,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn second_scan_reads_nothing() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..20 {
            let p = d.path().join(format!("d{}/f{i}", i % 3));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, format!("content {i}")).unwrap();
        }
        // Age the files past the racy window so the index trusts them.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        for f in walk::walk(d.path()).unwrap() {
            fs::File::options()
                .write(true)
                .open(f.path(d.path()))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let mut idx = StatIndex::in_memory();
        let a = scan(d.path(), &mut idx).unwrap();
        assert_eq!(a.hashed, 20);
        let b = scan(d.path(), &mut idx).unwrap();
        assert_eq!(b.hashed, 0);
        assert_eq!(a.manifest, b.manifest);
        let direct = scan_bytes(d.path(), &mut idx).unwrap();
        assert_eq!(
            direct.bytes,
            a.manifest.to_bytes(),
            "the direct writer is canonical too"
        );
        assert_eq!((direct.nfiles, direct.hashed), (20, 0));
        let e = &a.manifest.entries()[0];
        assert_eq!(e.relpath, "d0/f0");
        assert_eq!(e.blake3, hash::to_hex(&hash::hash_bytes(b"content 0")));
    }

    #[test]
    fn prefetch_walks_only_folders_inside_the_project() {
        let d = tempfile::tempdir().unwrap();
        let index = d.path().join("index");
        let mut memo = TreeMemo::open(&treememo::path_for(&index));
        let root = Path::new("/p/root");
        let named = [
            "/p/root/data",
            "/p/root",
            "/p/rootless",
            "/etc",
            "/p/root/../../etc",
        ];
        let named: Vec<&Path> = named.iter().map(Path::new).collect();
        memo.set_last(&named);
        memo.save().unwrap();
        let memo = TreeMemo::open(&treememo::path_for(&index));
        assert_eq!(prefetch_dirs(&memo, root), [Path::new("/p/root/data")]);
    }

    #[test]
    fn a_prefetched_walk_is_taken_once() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("dir")).unwrap();
        fs::write(d.path().join("dir/x"), b"x").unwrap();
        let index = d.path().join("index");
        let dir = d.path().join("dir");
        let (first, _) = hash_paths_memo(&[&dir], &index).unwrap();
        assert!(matches!(&first[0], PathState::Dir(s) if s.nfiles == 1));
        prefetch(&index, d.path());
        fs::write(d.path().join("dir/y"), b"y").unwrap();
        let memo = TreeMemo::open(&treememo::path_for(&index));
        assert_eq!(memo.last_dirs(), std::slice::from_ref(&dir));
        let early = take_prefetched();
        assert!(early.contains_key(&dir), "{early:?}");
        assert!(take_prefetched().is_empty());
    }

    #[test]
    fn hash_paths_sorts_out_files_dirs_and_missing() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("f"), b"f").unwrap();
        fs::create_dir(d.path().join("dir")).unwrap();
        fs::write(d.path().join("dir/x"), b"x").unwrap();
        let (f, dir, gone) = (
            d.path().join("f"),
            d.path().join("dir"),
            d.path().join("gone"),
        );
        let got = hash_paths(&[&f, &dir, &gone], &mut StatIndex::in_memory()).unwrap();
        assert!(matches!(&got[0], PathState::File(x) if x.digest == hash::hash_bytes(b"f")));
        assert!(matches!(&got[1], PathState::Dir(s) if s.nfiles == 1));
        assert!(matches!(got[2], PathState::Missing));
    }
}
