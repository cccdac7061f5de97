//! What `trails._core` returns: frozen records with named, read-only
//! fields (no methods; those without bytes compare by value), so the
//! facade reads `r.hash`, not `r[0]`. Built
//! here from the core's results; nothing in them calls back into Rust.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use trails_core::hash::{self, FileDigest};
use trails_core::tree;

/// One hashed file.
#[pyclass(frozen, get_all, eq, module = "trails._core")]
#[derive(PartialEq)]
pub struct FileHash {
    pub hash: String,
    pub size: u64,
    pub executable: bool,
}

impl FileHash {
    pub fn of(d: &FileDigest) -> FileHash {
        FileHash {
            hash: hash::to_hex(&d.digest),
            size: d.key.size,
            executable: d.executable,
        }
    }
}

/// One stored file; `written` is false when the object was already there.
#[pyclass(frozen, get_all, eq, module = "trails._core")]
#[derive(PartialEq)]
pub struct StoredFile {
    pub hash: String,
    pub size: u64,
    pub executable: bool,
    pub written: bool,
}

/// One file of a tree manifest.
#[pyclass(frozen, get_all, eq, module = "trails._core")]
#[derive(PartialEq)]
pub struct Entry {
    pub relpath: String,
    pub hash: String,
    pub size: u64,
    pub executable: bool,
}

impl From<tree::Entry> for Entry {
    fn from(e: tree::Entry) -> Entry {
        Entry {
            relpath: e.relpath,
            hash: e.blake3,
            size: e.size,
            executable: e.isexec,
        }
    }
}

/// A scanned or stored directory: its hash, canonical manifest bytes,
/// files and bytes in it, files whose bytes were read, objects written.
#[pyclass(frozen, get_all, module = "trails._core")]
pub struct TreeState {
    pub hash: String,
    pub manifest: Py<PyBytes>,
    pub nfiles: usize,
    pub size: u64,
    pub files_read: usize,
    pub objects_written: usize,
}

/// A file's or a directory's state; `manifest` is None for a file and for
/// a directory the tree memo answered (`dir` tells them apart), and
/// `files` counts a directory's files (1 for a file).
#[pyclass(frozen, get_all, module = "trails._core")]
pub struct PathState {
    pub hash: String,
    pub size: u64,
    pub executable: bool,
    pub manifest: Option<Py<PyBytes>>,
    pub files: usize,
    pub dir: bool,
}

/// Two manifests' difference: lists of `Entry` added and modified, and the
/// relative paths deleted.
#[pyclass(frozen, get_all, module = "trails._core")]
pub struct ManifestDiff {
    pub added: Py<PyList>,
    pub modified: Py<PyList>,
    pub deleted: Py<PyList>,
}

/// A checkout: the link type used (None if nothing changed) and the
/// files added, modified, deleted and left as they were.
#[pyclass(frozen, get_all, eq, module = "trails._core")]
#[derive(PartialEq)]
pub struct CheckoutResult {
    pub link: Option<&'static str>,
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    pub unchanged: usize,
}

/// A list of `Entry` records.
pub fn entry_list(py: Python<'_>, entries: Vec<tree::Entry>) -> PyResult<Py<PyList>> {
    let items = entries
        .into_iter()
        .map(|e| Py::new(py, Entry::from(e)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.unbind())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FileHash>()?;
    m.add_class::<StoredFile>()?;
    m.add_class::<Entry>()?;
    m.add_class::<TreeState>()?;
    m.add_class::<PathState>()?;
    m.add_class::<ManifestDiff>()?;
    m.add_class::<CheckoutResult>()?;
    Ok(())
}
