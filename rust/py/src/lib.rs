//! `trails._core`: the PyO3 face of trails-core. Plain functions over str
//! paths, bytes and ints, returning frozen records with named fields
//! (`records.rs`); the GIL is released around all I/O; no Python
//! callbacks. Core errors become `OSError` (with errno and filename)
//! or `trails.errors.CoreError`, here and nowhere else.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use trails_core::cache::Cache;
use trails_core::checkout;
use trails_core::hash;
use trails_core::link::{LinkType, Linker};
use trails_core::noop;
use trails_core::scan;
use trails_core::state::StatIndex;
use trails_core::transfer::{self, Name, Outcome};
use trails_core::tree::{self, Manifest};
use trails_core::treememo::{self, TreeMemo};
use trails_core::walk;
use trails_core::Error;

mod records;
use records::{
    entry_list, CheckoutResult, FileHash, ManifestDiff, PathState, StoredFile, TreeState,
};

fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let filename = e.path().map(|p| p.to_string_lossy().into_owned());
    if let (Some(errno), Some(f)) = (e.errno(), filename.as_ref()) {
        let reason = std::io::Error::from_raw_os_error(errno).to_string();
        let reason = reason
            .split(" (os error")
            .next()
            .unwrap_or(&reason)
            .to_string();
        // OSError(errno, strerror, filename) becomes FileNotFoundError,
        // PermissionError, IsADirectoryError, ... by itself.
        return PyOSError::new_err((errno, reason, f.clone()));
    }
    let message = e.to_string();
    match py
        .import("trails.errors")
        .and_then(|m| m.getattr("CoreError"))
        .and_then(|c| c.call1((message, filename)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

fn warn(py: Python<'_>, message: Option<String>) -> PyResult<()> {
    if let Some(m) = message {
        let category = py.import("trails.errors")?.getattr("StateWarning")?;
        let text = std::ffi::CString::new(m).unwrap_or_default();
        PyErr::warn(py, &category, &text, 1)?;
    }
    Ok(())
}

/// Run `f` with the stat index at `index` (or an in-memory one), save it,
/// and report any warning about the index file to Python.
fn with_index<T: Send>(
    py: Python<'_>,
    index: Option<PathBuf>,
    f: impl FnOnce(&mut StatIndex) -> trails_core::Result<T> + Send,
) -> PyResult<T> {
    let (result, warning) = py.detach(|| {
        let mut idx = index
            .as_deref()
            .map_or_else(StatIndex::in_memory, StatIndex::open);
        let mut warning = idx.warning.take();
        let result = f(&mut idx);
        if result.is_ok() {
            if let Err(e) = idx.save() {
                warning.get_or_insert(format!("stat index not saved: {e}"));
            }
        }
        (result, warning)
    });
    warn(py, warning)?;
    result.map_err(|e| to_py(py, e))
}

fn digest_of(py: Python<'_>, hex: &str, context: &Path) -> PyResult<hash::Digest> {
    hash::from_hex(hex).ok_or_else(|| {
        to_py(
            py,
            Error::BadHash {
                path: context.to_path_buf(),
                hash: hex.to_string(),
            },
        )
    })
}

fn linker_of(py: Python<'_>, names: Vec<String>) -> PyResult<Linker> {
    let types = names
        .iter()
        .map(|n| LinkType::parse(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| to_py(py, e))?;
    Ok(Linker::new(types))
}

/// blake3 hex digest of `data`.
#[pyfunction]
fn hash_bytes(py: Python<'_>, data: &[u8]) -> String {
    py.detach(|| hash::to_hex(&hash::hash_bytes(data)))
}

/// Hash one file.
#[pyfunction]
fn hash_file(py: Python<'_>, path: PathBuf) -> PyResult<FileHash> {
    let d = py
        .detach(|| hash::hash_file(&path))
        .map_err(|e| to_py(py, e))?;
    Ok(FileHash::of(&d))
}

/// `hash_file` for many paths, in parallel; the first error is raised.
#[pyfunction]
fn hash_files(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Vec<FileHash>> {
    let results = py.detach(|| {
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        hash::hash_files(&refs)
    });
    results
        .into_iter()
        .map(|r| r.map(|d| FileHash::of(&d)).map_err(|e| to_py(py, e)))
        .collect()
}

/// Scan a directory (nothing written but the stat index).
#[pyfunction]
#[pyo3(signature = (root, index=None))]
fn scan_tree(py: Python<'_>, root: PathBuf, index: Option<PathBuf>) -> PyResult<TreeState> {
    let (digest, s) = with_index(py, index, |idx| {
        let s = scan::scan_bytes(&root, idx)?;
        Ok((hash::hash_bytes(&s.bytes), s))
    })?;
    Ok(TreeState {
        hash: hash::to_hex(&digest),
        manifest: PyBytes::new(py, &s.bytes).unbind(),
        nfiles: s.nfiles,
        size: s.size,
        files_read: s.hashed,
        objects_written: 0,
    })
}

/// Hash many files and directories with one stat index; None for a
/// missing path. With an index, through the tree memo beside it: a
/// directory whose stats all match gives its hash without the manifest
/// (`manifest` None, `dir` true); `memo` false: every directory's manifest.
#[pyfunction]
#[pyo3(signature = (paths, index=None, memo=true))]
fn hash_paths(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    index: Option<PathBuf>,
    memo: bool,
) -> PyResult<Vec<Option<PathState>>> {
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let states = match index {
        Some(index) if memo => {
            let (result, warning) = py.detach(|| match scan::hash_paths_memo(&refs, &index) {
                Ok((states, warning)) => (Ok(states), warning),
                Err(e) => (Err(e), None),
            });
            warn(py, warning)?;
            result.map_err(|e| to_py(py, e))?
        }
        index => with_index(py, index, |idx| scan::hash_paths(&refs, idx))?,
    };
    Ok(states
        .into_iter()
        .map(|s| match s {
            scan::PathState::Missing => None,
            scan::PathState::File(d) => Some(PathState {
                hash: hash::to_hex(&d.digest),
                size: d.key.size,
                executable: d.executable,
                manifest: None,
                files: 1,
                dir: false,
            }),
            scan::PathState::Dir(s) => Some(PathState {
                hash: hash::to_hex(&hash::hash_bytes(&s.bytes)),
                size: s.size,
                executable: false,
                manifest: Some(PyBytes::new(py, &s.bytes).unbind()),
                files: s.nfiles,
                dir: true,
            }),
            scan::PathState::Known(r) => Some(PathState {
                hash: hash::to_hex(&r.digest),
                size: r.size,
                executable: false,
                manifest: None,
                files: r.nfiles as usize,
                dir: true,
            }),
        })
        .collect())
}

/// Start walking the folders the latest check walked (see
/// `scan::prefetch`); returns at once.
#[pyfunction]
fn prefetch_walks(index: PathBuf, root: PathBuf) {
    scan::prefetch(&index, &root);
}

/// Whether a kept no-op answer still holds: every `(path, follow, stamp)`
/// as stamped and every `(path, fingerprint)` tree as fingerprinted
/// (`noop::unchanged`).
#[pyfunction]
fn noop_unchanged(
    py: Python<'_>,
    stamps: Vec<(PathBuf, bool, noop::Stamp)>,
    trees: Vec<(PathBuf, u128)>,
) -> bool {
    py.detach(|| noop::unchanged(&stamps, &trees))
}

/// The stamps of `(path, follow)` now, for a kept answer to record.
#[pyfunction]
fn noop_stamps(py: Python<'_>, paths: Vec<(PathBuf, bool)>) -> Vec<noop::Stamp> {
    py.detach(|| paths.iter().map(|(p, f)| noop::stamp(p, *f)).collect())
}

/// The fingerprints this process's checks confirmed for `paths`, with the
/// newest mtime of their files, if any.
#[pyfunction]
fn noop_confirmed(paths: Vec<PathBuf>) -> Vec<Option<(u128, i64)>> {
    noop::confirmed(&paths)
}

/// Store manifest bytes (validated) as a tree object; returns the tree hash.
#[pyfunction]
fn store_manifest(py: Python<'_>, cache: PathBuf, data: &[u8]) -> PyResult<String> {
    let m = Manifest::from_bytes(data, Path::new("<manifest>")).map_err(|e| to_py(py, e))?;
    let digest = py
        .detach(|| Cache::new(&cache).store_manifest(&m))
        .map_err(|e| to_py(py, e))?;
    Ok(hash::to_hex(&digest))
}

/// Parse manifest bytes (validated) into a list of `Entry`.
#[pyfunction]
fn parse_manifest(py: Python<'_>, data: &[u8]) -> PyResult<Py<PyList>> {
    let m = Manifest::from_bytes(data, Path::new("<manifest>")).map_err(|e| to_py(py, e))?;
    entry_list(py, m.into_entries())
}

/// Diff two manifests.
#[pyfunction]
#[pyo3(signature = (old, new, old_name="<old>", new_name="<new>"))]
fn diff_manifests(
    py: Python<'_>,
    old: &[u8],
    new: &[u8],
    old_name: &str,
    new_name: &str,
) -> PyResult<ManifestDiff> {
    let a = Manifest::from_bytes(old, Path::new(old_name)).map_err(|e| to_py(py, e))?;
    let b = Manifest::from_bytes(new, Path::new(new_name)).map_err(|e| to_py(py, e))?;
    let d = py.detach(|| tree::diff(&a, &b));
    Ok(ManifestDiff {
        added: entry_list(py, d.added)?,
        modified: entry_list(py, d.modified)?,
        deleted: PyList::new(py, d.deleted)?.unbind(),
    })
}

/// Store one file (the stat index learns it, as the core's `store_file`
/// says). With `link_types`, the file then uses the object as a checkout
/// would.
#[pyfunction]
#[pyo3(signature = (cache, path, index=None, link_types=None))]
fn store_file(
    py: Python<'_>,
    cache: PathBuf,
    path: PathBuf,
    index: Option<PathBuf>,
    link_types: Option<Vec<String>>,
) -> PyResult<StoredFile> {
    let linker = link_types.map(|t| linker_of(py, t)).transpose()?;
    let s = with_index(py, index, |idx| {
        Cache::new(&cache).store_file(&path, idx, linker.as_ref())
    })?;
    Ok(StoredFile {
        hash: hash::to_hex(&s.file.digest),
        size: s.file.key.size,
        executable: s.file.executable,
        written: s.written,
    })
}

/// Store a directory: every file, then the manifest as a tree object.
#[pyfunction]
#[pyo3(signature = (cache, root, index=None, link_types=None))]
fn store_tree(
    py: Python<'_>,
    cache: PathBuf,
    root: PathBuf,
    index: Option<PathBuf>,
    link_types: Option<Vec<String>>,
) -> PyResult<TreeState> {
    let linker = link_types.map(|t| linker_of(py, t)).transpose()?;
    let t = with_index(py, index, |idx| {
        Cache::new(&cache).store_tree(&root, idx, linker.as_ref())
    })?;
    Ok(TreeState {
        hash: hash::to_hex(&t.digest),
        manifest: PyBytes::new(py, &t.manifest.to_bytes()).unbind(),
        nfiles: t.manifest.entries().len(),
        size: t.manifest.total_size(),
        files_read: t.read,
        objects_written: t.written,
    })
}

fn names_of(py: Python<'_>, cache: &Path, names: &[String]) -> PyResult<Vec<Name>> {
    names
        .iter()
        .map(|s| {
            Name::parse(s).ok_or_else(|| {
                to_py(
                    py,
                    Error::BadHash {
                        path: cache.to_path_buf(),
                        hash: s.clone(),
                    },
                )
            })
        })
        .collect()
}

fn outcome_code(o: Outcome) -> i8 {
    match o {
        Outcome::Written => 1,
        Outcome::Present => 0,
        Outcome::Corrupt => -1,
    }
}

/// Store objects fetched from a remote: `items` are (name, offset, length)
/// slices of `data`, each stored only if it hashes to its name. Per item: 1
/// written, 0 already there, -1 corrupt (not stored). `index`: the stat
/// index to vouch for the file objects written in (their bytes were hashed
/// here), so the checkout after a fetch does not read them again.
#[pyfunction]
#[pyo3(signature = (cache, data, items, index=None))]
fn store_blobs(
    py: Python<'_>,
    cache: PathBuf,
    data: &[u8],
    items: Vec<(String, usize, usize)>,
    index: Option<PathBuf>,
) -> PyResult<Vec<i8>> {
    // The threads of one fetch each store a pack: their index saves take
    // turns, so none overwrites what another just recorded.
    static RECORDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let names: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
    let parsed = names_of(py, &cache, &names)?;
    let slices: Vec<(Name, usize, usize)> = parsed
        .into_iter()
        .zip(&items)
        .map(|(n, i)| (n, i.1, i.2))
        .collect();
    let (out, warning) = py
        .detach(|| {
            let stored = transfer::store_blobs(&Cache::new(&cache), data, &slices)?;
            let mut warning = None;
            if let Some(path) = index
                .as_deref()
                .filter(|_| stored.iter().any(|s| s.1.is_some()))
            {
                let _turn = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
                let mut idx = StatIndex::open(path);
                warning = idx.warning.take();
                transfer::record(&mut idx, &slices, &stored);
                if let Err(e) = idx.save() {
                    warning.get_or_insert(format!("stat index not saved: {e}"));
                }
            }
            Ok((stored, warning))
        })
        .map_err(|e| to_py(py, e))?;
    warn(py, warning)?;
    Ok(out.into_iter().map(|s| outcome_code(s.0)).collect())
}

/// Make the file `tmp` (in the cache's tmp folder) the object `name` if it
/// hashes to it, else remove it: 1 written, 0 already there, -1 corrupt.
#[pyfunction]
fn adopt_file(py: Python<'_>, cache: PathBuf, tmp: PathBuf, name: String) -> PyResult<i8> {
    let n = names_of(py, &cache, &[name])?[0];
    let o = py
        .detach(|| transfer::adopt_file(&Cache::new(&cache), &tmp, &n))
        .map_err(|e| to_py(py, e))?;
    Ok(outcome_code(o))
}

/// The objects' bytes concatenated, and each one's length.
#[pyfunction]
fn read_objects(
    py: Python<'_>,
    cache: PathBuf,
    names: Vec<String>,
) -> PyResult<(Py<PyBytes>, Vec<u64>)> {
    let parsed = names_of(py, &cache, &names)?;
    let (body, lengths) = py
        .detach(|| transfer::read_objects(&Cache::new(&cache), &parsed))
        .map_err(|e| to_py(py, e))?;
    Ok((PyBytes::new(py, &body).unbind(), lengths))
}

/// Indices of the named objects the cache lacks.
#[pyfunction]
fn missing_objects(py: Python<'_>, cache: PathBuf, names: Vec<String>) -> PyResult<Vec<usize>> {
    let parsed = names_of(py, &cache, &names)?;
    Ok(py.detach(|| transfer::missing(&Cache::new(&cache), &parsed)))
}

/// Each named object's size in the cache, -1 where it lacks it.
#[pyfunction]
fn object_sizes(py: Python<'_>, cache: PathBuf, names: Vec<String>) -> PyResult<Vec<i64>> {
    let parsed = names_of(py, &cache, &names)?;
    let sizes = py.detach(|| transfer::sizes(&Cache::new(&cache), &parsed));
    Ok(sizes
        .into_iter()
        .map(|s| s.map_or(-1, |n| n as i64))
        .collect())
}

/// The verified manifest bytes of a tree object.
#[pyfunction]
fn read_tree(py: Python<'_>, cache: PathBuf, tree_hash: &str) -> PyResult<Py<PyBytes>> {
    let digest = digest_of(py, tree_hash, &cache)?;
    let m = py
        .detach(|| Cache::new(&cache).load_tree(&digest))
        .map_err(|e| to_py(py, e))?;
    Ok(PyBytes::new(py, &m.to_bytes()).unbind())
}

/// Path of the object for a file hash (it may not exist).
#[pyfunction]
fn object_path(py: Python<'_>, cache: PathBuf, file_hash: &str) -> PyResult<String> {
    let digest = digest_of(py, file_hash, &cache)?;
    Ok(Cache::new(&cache)
        .object_path(&digest)
        .to_string_lossy()
        .into_owned())
}

/// Check out a file object: the link type used, or None if `dest` already held it.
#[pyfunction]
#[pyo3(signature = (cache, file_hash, dest, link_types, index=None, executable=false))]
fn checkout_file(
    py: Python<'_>,
    cache: PathBuf,
    file_hash: &str,
    dest: PathBuf,
    link_types: Vec<String>,
    index: Option<PathBuf>,
    executable: bool,
) -> PyResult<Option<&'static str>> {
    let digest = digest_of(py, file_hash, &dest)?;
    let linker = linker_of(py, link_types)?;
    let t = with_index(py, index, |idx| {
        checkout::checkout_file(
            &Cache::new(&cache),
            &digest,
            &dest,
            &linker,
            idx,
            executable,
        )
    })?;
    Ok(t.map(LinkType::name))
}

/// Check out a tree: only differing files are written, strays removed.
#[pyfunction]
#[pyo3(signature = (cache, tree_hash, dest, link_types, index=None))]
fn checkout_tree(
    py: Python<'_>,
    cache: PathBuf,
    tree_hash: &str,
    dest: PathBuf,
    link_types: Vec<String>,
    index: Option<PathBuf>,
) -> PyResult<CheckoutResult> {
    let digest = digest_of(py, tree_hash, &dest)?;
    let linker = linker_of(py, link_types)?;
    // The tree memo beside the stat index may vouch that `dest` holds the
    // tree already; a full checkout that finds it so records that it does.
    let mut memo = index
        .as_deref()
        .map(|i| TreeMemo::open(&treememo::path_for(i)));
    if let Some(n) = memo
        .as_mut()
        .and_then(|m| py.detach(|| checkout::memo_holds(&dest, &digest, m)))
    {
        return Ok(CheckoutResult {
            link: None,
            added: 0,
            modified: 0,
            deleted: 0,
            unchanged: n,
        });
    }
    let o = with_index(py, index, |idx| {
        checkout::checkout_tree(&Cache::new(&cache), &digest, &dest, &linker, idx)
    })?;
    if let Some(m) = memo.as_mut() {
        checkout::remember(&dest, &digest, &o, m);
        let _ = m.save();
    }
    Ok(CheckoutResult {
        link: o.link.map(LinkType::name),
        added: o.added,
        modified: o.modified,
        deleted: o.deleted,
        unchanged: o.unchanged,
    })
}

/// Total bytes read by xxh3-128 over `paths` (in parallel), for `trails
/// bench hash`'s comparison; the digests are not returned: never a content
/// address. The first error is raised.
#[pyfunction]
fn xxh3_files(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<u64> {
    let results = py.detach(|| {
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        trails_core::digest::xxh3_files(&refs)
    });
    let mut total = 0;
    for r in results {
        total += r.map_err(|e| to_py(py, e))?.1;
    }
    Ok(total)
}

/// For each repo-relative file path, whether `.dvcignore` (any folder's,
/// negations included) leaves it out of the project: the walk's own rules.
#[pyfunction]
fn ignored_files(py: Python<'_>, root: PathBuf, relpaths: Vec<String>) -> PyResult<Vec<bool>> {
    py.detach(|| walk::ignored_files(&root, &relpaths))
        .map_err(|e| to_py(py, e))
}

/// (files, bytes) hashed, stored or checked out by this process so far; poll
/// it from another thread to show progress during a long call.
#[pyfunction]
fn progress() -> (u64, u64) {
    trails_core::progress::get()
}

/// Run the file watcher of `trails daemon` until it stops (asked to, its
/// socket removed, the project gone); returns why. The GIL is released for
/// the daemon's whole life: the process does nothing else.
#[pyfunction]
#[pyo3(signature = (root, dir, max_watches=None))]
fn fsmonitor_serve(
    py: Python<'_>,
    root: PathBuf,
    dir: PathBuf,
    max_watches: Option<usize>,
) -> PyResult<String> {
    #[cfg(target_os = "linux")]
    {
        let opts = trails_core::fsmonitor::Options {
            root,
            dir,
            max_watches,
        };
        py.detach(|| trails_core::fsmonitor::serve(opts))
            .map_err(|e| to_py(py, e))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (root, dir, max_watches);
        Err(PyOSError::new_err("the file watcher needs Linux (inotify)"))
    }
}

/// Worker threads a call will use (`TRAILS_THREADS` or the CPU count).
#[pyfunction]
fn threads() -> usize {
    trails_core::pool::threads()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ALGORITHM", hash::ALGORITHM)?;
    m.add("STATE_VERSION", trails_core::state::VERSION)?;
    records::register(m)?;
    m.add_function(wrap_pyfunction!(hash_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(hash_file, m)?)?;
    m.add_function(wrap_pyfunction!(hash_files, m)?)?;
    m.add_function(wrap_pyfunction!(scan_tree, m)?)?;
    m.add_function(wrap_pyfunction!(hash_paths, m)?)?;
    m.add_function(wrap_pyfunction!(prefetch_walks, m)?)?;
    m.add_function(wrap_pyfunction!(noop_unchanged, m)?)?;
    m.add_function(wrap_pyfunction!(noop_stamps, m)?)?;
    m.add_function(wrap_pyfunction!(noop_confirmed, m)?)?;
    m.add_function(wrap_pyfunction!(store_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(parse_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(diff_manifests, m)?)?;
    m.add_function(wrap_pyfunction!(store_file, m)?)?;
    m.add_function(wrap_pyfunction!(store_tree, m)?)?;
    m.add_function(wrap_pyfunction!(read_tree, m)?)?;
    m.add_function(wrap_pyfunction!(object_path, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_file, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_tree, m)?)?;
    m.add_function(wrap_pyfunction!(ignored_files, m)?)?;
    m.add_function(wrap_pyfunction!(threads, m)?)?;
    m.add_function(wrap_pyfunction!(progress, m)?)?;
    m.add_function(wrap_pyfunction!(store_blobs, m)?)?;
    m.add_function(wrap_pyfunction!(adopt_file, m)?)?;
    m.add_function(wrap_pyfunction!(read_objects, m)?)?;
    m.add_function(wrap_pyfunction!(missing_objects, m)?)?;
    m.add_function(wrap_pyfunction!(object_sizes, m)?)?;
    m.add_function(wrap_pyfunction!(xxh3_files, m)?)?;
    m.add_function(wrap_pyfunction!(fsmonitor_serve, m)?)?;
    Ok(())
}
