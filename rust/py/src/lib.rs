//! `trails._core`: the PyO3 face of trails-core. Plain functions over str
//! paths, bytes, ints and tuples; the GIL is released around all I/O; no
//! Python callbacks. Core errors become `OSError` (with errno and filename)
//! or `trails.errors.CoreError`, here and nowhere else.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use trails_core::cache::Cache;
use trails_core::checkout;
use trails_core::hash;
use trails_core::link::{LinkType, Linker};
use trails_core::scan;
use trails_core::state::StatIndex;
use trails_core::tree::{self, Entry, Manifest};
use trails_core::Error;

type EntryTuple = (String, String, u64, bool);

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

fn tuple_of(e: Entry) -> EntryTuple {
    (e.relpath, e.blake3, e.size, e.isexec)
}

/// blake3 hex digest of `data`.
#[pyfunction]
fn hash_bytes(py: Python<'_>, data: &[u8]) -> String {
    py.detach(|| hash::to_hex(&hash::hash_bytes(data)))
}

/// (hex digest, size, executable) of one file.
#[pyfunction]
fn hash_file(py: Python<'_>, path: PathBuf) -> PyResult<(String, u64, bool)> {
    let d = py
        .detach(|| hash::hash_file(&path))
        .map_err(|e| to_py(py, e))?;
    Ok((hash::to_hex(&d.digest), d.key.size, d.executable))
}

/// `hash_file` for many paths, in parallel; the first error is raised.
#[pyfunction]
fn hash_files(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Vec<(String, u64, bool)>> {
    let results = py.detach(|| {
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        hash::hash_files(&refs)
    });
    results
        .into_iter()
        .map(|r| {
            r.map(|d| (hash::to_hex(&d.digest), d.key.size, d.executable))
                .map_err(|e| to_py(py, e))
        })
        .collect()
}

/// Scan a directory: (tree hash, manifest bytes, files, bytes, files read).
#[pyfunction]
#[pyo3(signature = (root, index=None))]
fn scan_tree(
    py: Python<'_>,
    root: PathBuf,
    index: Option<PathBuf>,
) -> PyResult<(String, Py<PyBytes>, usize, u64, usize)> {
    let (digest, bytes, n, size, hashed) = with_index(py, index, |idx| {
        let s = scan::scan_bytes(&root, idx)?;
        Ok((
            hash::hash_bytes(&s.bytes),
            s.bytes,
            s.nfiles,
            s.size,
            s.hashed,
        ))
    })?;
    Ok((
        hash::to_hex(&digest),
        PyBytes::new(py, &bytes).unbind(),
        n,
        size,
        hashed,
    ))
}

/// A path's state: None if missing, else (hash, size, executable, manifest
/// bytes for a directory or None for a file, number of files).
type PathTuple = Option<(String, u64, bool, Option<Py<PyBytes>>, usize)>;

/// Hash many files and directories with one stat index.
#[pyfunction]
#[pyo3(signature = (paths, index=None))]
fn hash_paths(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    index: Option<PathBuf>,
) -> PyResult<Vec<PathTuple>> {
    let states = with_index(py, index, |idx| {
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        scan::hash_paths(&refs, idx)
    })?;
    Ok(states
        .into_iter()
        .map(|s| match s {
            scan::PathState::Missing => None,
            scan::PathState::File(d) => {
                Some((hash::to_hex(&d.digest), d.key.size, d.executable, None, 1))
            }
            scan::PathState::Dir(s) => {
                let h = hash::to_hex(&hash::hash_bytes(&s.bytes));
                Some((
                    h,
                    s.size,
                    false,
                    Some(PyBytes::new(py, &s.bytes).unbind()),
                    s.nfiles,
                ))
            }
        })
        .collect())
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

/// Parse manifest bytes (validated) into entry tuples.
#[pyfunction]
fn parse_manifest(py: Python<'_>, data: &[u8]) -> PyResult<Vec<EntryTuple>> {
    let m = Manifest::from_bytes(data, Path::new("<manifest>")).map_err(|e| to_py(py, e))?;
    Ok(m.into_entries().into_iter().map(tuple_of).collect())
}

/// Diff two manifests: (added, modified, deleted).
#[pyfunction]
#[pyo3(signature = (old, new, old_name="<old>", new_name="<new>"))]
fn diff_manifests(
    py: Python<'_>,
    old: &[u8],
    new: &[u8],
    old_name: &str,
    new_name: &str,
) -> PyResult<(Vec<EntryTuple>, Vec<EntryTuple>, Vec<String>)> {
    let a = Manifest::from_bytes(old, Path::new(old_name)).map_err(|e| to_py(py, e))?;
    let b = Manifest::from_bytes(new, Path::new(new_name)).map_err(|e| to_py(py, e))?;
    let d = py.detach(|| tree::diff(&a, &b));
    Ok((
        d.added.into_iter().map(tuple_of).collect(),
        d.modified.into_iter().map(tuple_of).collect(),
        d.deleted,
    ))
}

/// Store one file: (hex digest, size, executable, new object written).
/// With `link_types`, the file then uses the object as a checkout would.
#[pyfunction]
#[pyo3(signature = (cache, path, index=None, link_types=None))]
fn store_file(
    py: Python<'_>,
    cache: PathBuf,
    path: PathBuf,
    index: Option<PathBuf>,
    link_types: Option<Vec<String>>,
) -> PyResult<(String, u64, bool, bool)> {
    let linker = link_types.map(|t| linker_of(py, t)).transpose()?;
    let s = with_index(py, index, |idx| {
        let s = Cache::new(&cache).store_file(&path, idx, linker.as_ref())?;
        if s.read {
            idx.insert(s.file.key, s.file.digest);
        }
        if let Some(k) = s.object_key {
            idx.insert_object(k, s.file.digest);
        }
        Ok(s)
    })?;
    Ok((
        hash::to_hex(&s.file.digest),
        s.file.key.size,
        s.file.executable,
        s.written,
    ))
}

/// Store a directory: (tree hash, manifest bytes, files, bytes, files read, objects written).
#[pyfunction]
#[pyo3(signature = (cache, root, index=None, link_types=None))]
fn store_tree(
    py: Python<'_>,
    cache: PathBuf,
    root: PathBuf,
    index: Option<PathBuf>,
    link_types: Option<Vec<String>>,
) -> PyResult<(String, Py<PyBytes>, usize, u64, usize, usize)> {
    let linker = link_types.map(|t| linker_of(py, t)).transpose()?;
    let t = with_index(py, index, |idx| {
        Cache::new(&cache).store_tree(&root, idx, linker.as_ref())
    })?;
    let bytes = t.manifest.to_bytes();
    let n = t.manifest.entries().len();
    Ok((
        hash::to_hex(&t.digest),
        PyBytes::new(py, &bytes).unbind(),
        n,
        t.manifest.total_size(),
        t.read,
        t.written,
    ))
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

/// Check out a tree: (link type used or None, added, modified, deleted, unchanged).
#[pyfunction]
#[pyo3(signature = (cache, tree_hash, dest, link_types, index=None))]
fn checkout_tree(
    py: Python<'_>,
    cache: PathBuf,
    tree_hash: &str,
    dest: PathBuf,
    link_types: Vec<String>,
    index: Option<PathBuf>,
) -> PyResult<(Option<&'static str>, usize, usize, usize, usize)> {
    let digest = digest_of(py, tree_hash, &dest)?;
    let linker = linker_of(py, link_types)?;
    let o = with_index(py, index, |idx| {
        checkout::checkout_tree(&Cache::new(&cache), &digest, &dest, &linker, idx)
    })?;
    Ok((
        o.link.map(LinkType::name),
        o.added,
        o.modified,
        o.deleted,
        o.unchanged,
    ))
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
    m.add_function(wrap_pyfunction!(hash_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(hash_file, m)?)?;
    m.add_function(wrap_pyfunction!(hash_files, m)?)?;
    m.add_function(wrap_pyfunction!(scan_tree, m)?)?;
    m.add_function(wrap_pyfunction!(hash_paths, m)?)?;
    m.add_function(wrap_pyfunction!(store_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(parse_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(diff_manifests, m)?)?;
    m.add_function(wrap_pyfunction!(store_file, m)?)?;
    m.add_function(wrap_pyfunction!(store_tree, m)?)?;
    m.add_function(wrap_pyfunction!(read_tree, m)?)?;
    m.add_function(wrap_pyfunction!(object_path, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_file, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_tree, m)?)?;
    m.add_function(wrap_pyfunction!(threads, m)?)?;
    m.add_function(wrap_pyfunction!(progress, m)?)?;
    m.add_function(wrap_pyfunction!(fsmonitor_serve, m)?)?;
    Ok(())
}
