//! Directory walks that honour `.dvcignore` files (gitignore syntax, in any
//! folder) and skip `.git` and `.dvc`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::{WalkBuilder, WalkState};

use crate::error::{Error, IoContext, Result};
use crate::pool;

pub const IGNORE_FILE: &str = ".dvcignore";
const SKIPPED_DIRS: [&str; 2] = [".git", ".dvc"];

/// A file found by a walk: its `/`-separated path relative to the root, and
/// its full path.
#[derive(Clone, Debug)]
pub struct Found {
    pub relpath: String,
    pub path: PathBuf,
}

/// All non-directory entries under `root` (files and symlinks), sorted by
/// relative path. Walked in parallel; readdir only, no stat.
pub fn walk(root: &Path) -> Result<Vec<Found>> {
    let meta = std::fs::metadata(root).at(root)?;
    if !meta.is_dir() {
        return Err(crate::error::os_error(root, libc::ENOTDIR));
    }
    let found: Mutex<Vec<Found>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let root_buf = root.to_path_buf();
    WalkBuilder::new(root)
        .standard_filters(false)
        .hidden(false)
        .parents(true)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .threads(pool::threads())
        .filter_entry(|e| {
            !(e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && SKIPPED_DIRS.iter().any(|s| e.file_name() == *s))
        })
        .build_parallel()
        .run(|| {
            let found = &found;
            let first_error = &first_error;
            let root = &root_buf;
            // Flush this thread's batch when the closure is dropped.
            struct Flush<'a>(&'a Mutex<Vec<Found>>, Vec<Found>);
            impl Drop for Flush<'_> {
                fn drop(&mut self) {
                    if let Ok(mut v) = self.0.lock() {
                        v.append(&mut self.1);
                    }
                }
            }
            let mut batch = Flush(found, Vec::new());
            Box::new(move |entry| {
                let entry = match entry {
                    Ok(e) => e,
                    Err(err) => {
                        let path = error_path(&err).unwrap_or_else(|| root.clone());
                        let e = match err.into_io_error() {
                            Some(io) => Error::Io { path, source: io },
                            None => Error::Ignore {
                                path,
                                reason: "invalid ignore pattern".into(),
                            },
                        };
                        first_error.lock().expect("lock").get_or_insert(e);
                        return WalkState::Quit;
                    }
                };
                if entry.file_type().is_some_and(|t| t.is_dir()) {
                    return WalkState::Continue;
                }
                match relative(root, entry.path()) {
                    Ok(relpath) => {
                        batch.1.push(Found {
                            relpath,
                            path: entry.into_path(),
                        });
                        WalkState::Continue
                    }
                    Err(e) => {
                        first_error.lock().expect("lock").get_or_insert(e);
                        WalkState::Quit
                    }
                }
            })
        });
    if let Some(e) = first_error.into_inner().expect("lock") {
        return Err(e);
    }
    let mut out = found.into_inner().expect("lock");
    out.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));
    Ok(out)
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
    }
}

/// `path` relative to `root`, `/`-separated, or an error for a non-UTF-8 name.
pub fn relative(root: &Path, path: &Path) -> Result<String> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for (i, part) in rel.components().enumerate() {
        let s = part
            .as_os_str()
            .to_str()
            .ok_or_else(|| Error::NonUtf8Name {
                path: path.to_path_buf(),
            })?;
        if i > 0 {
            out.push('/');
        }
        out.push_str(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn honours_dvcignore_and_skips_state_dirs() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for p in [
            "a.txt",
            "sub/b.txt",
            "sub/skip.log",
            ".git/HEAD",
            ".dvc/config",
            "deep/x/y.txt",
            "tmp/z",
        ] {
            let full = r.join(p);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, p).unwrap();
        }
        fs::write(r.join(".dvcignore"), "*.log\n/tmp\n").unwrap();
        let got: Vec<String> = walk(r).unwrap().into_iter().map(|f| f.relpath).collect();
        assert_eq!(got, [".dvcignore", "a.txt", "deep/x/y.txt", "sub/b.txt"]);
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "x").unwrap();
        assert_eq!(walk(&f).unwrap_err().errno(), Some(libc::ENOTDIR));
    }
}
