//! The one error type of the core. Every variant names the path it concerns so
//! that the Python layer can show the user a single line: path and reason.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on `path` (not found, permission denied, ...).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file's size or mtime moved while its bytes were read: the hash
    /// would describe no version of the file that ever existed.
    #[error("{}: the file changed while it was being hashed; try again once it is no longer being written", path.display())]
    Changed { path: PathBuf },
    /// A symlink whose target does not exist.
    #[error("{}: dangling symlink (its target does not exist)", path.display())]
    DanglingSymlink { path: PathBuf },
    /// Something we cannot hash: a socket, a FIFO, a device.
    #[error("{}: not a regular file or directory", path.display())]
    NotRegular { path: PathBuf },
    /// A file name that is not UTF-8 cannot go into a manifest.
    #[error("{}: file name is not valid UTF-8; rename it", path.display())]
    NonUtf8Name { path: PathBuf },
    /// A tree manifest (a `.dir` object or a manifest given by the caller)
    /// that does not parse or does not match its hash.
    #[error("{}: damaged tree manifest: {reason}", path.display())]
    BadManifest { path: PathBuf, reason: String },
    /// A cache object that a manifest or a caller refers to is absent.
    #[error("{}: cache object {hash} is missing", path.display())]
    MissingObject { path: PathBuf, hash: String },
    /// A cache object whose bytes no longer match its name.
    #[error("{}: cache object {} is corrupt (its content does not match its hash); nothing was changed; add the data again ('trails add') or reproduce the stage", path.display(), object.display())]
    CorruptObject { path: PathBuf, object: PathBuf },
    /// A hash string that is not 64 hex characters.
    #[error("{}: not a blake3 hash: '{hash}'", path.display())]
    BadHash { path: PathBuf, hash: String },
    /// None of the configured link types could materialise `path`.
    #[error("{}: no link type in [{tried}] worked: {source}", path.display())]
    NoLinkType {
        path: PathBuf,
        tried: String,
        #[source]
        source: io::Error,
    },
    /// An unknown link type name in the configuration.
    #[error("unknown link type '{name}'; use reflink, hardlink, symlink or copy")]
    BadLinkType { name: String },
    /// A `.dvcignore` pattern that does not parse.
    #[error("{}: {reason}", path.display())]
    Ignore { path: PathBuf, reason: String },
}

impl Error {
    /// The path the error is about, for the Python exception's `filename`.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::Changed { path }
            | Error::DanglingSymlink { path }
            | Error::NotRegular { path }
            | Error::NonUtf8Name { path }
            | Error::BadManifest { path, .. }
            | Error::MissingObject { path, .. }
            | Error::CorruptObject { path, .. }
            | Error::BadHash { path, .. }
            | Error::NoLinkType { path, .. }
            | Error::Ignore { path, .. } => Some(path),
            Error::BadLinkType { .. } => None,
        }
    }

    /// The OS error number when the error is a plain OS error, so that Python
    /// can raise the matching `OSError` subclass (`FileNotFoundError`, ...).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach a path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// An `Error::Io` made from a raw errno, for conditions we detect ourselves
/// (a directory where a file was expected).
pub fn os_error(path: &Path, errno: i32) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: io::Error::from_raw_os_error(errno),
    }
}
