//! Directory walks that honour `.dvcignore` files (gitignore syntax, in any
//! folder, and in the folders above up to the repository root) and skip
//! `.git` and `.dvc`.
//!
//! One rayon task per directory: `readdir`, then `fstatat` of each entry
//! relative to the open directory (one path component to resolve instead
//! of the whole path). Measured on 100k files here: 30 ms of readdir and
//! 120 ms of stat on 2 threads, where the `ignore` crate's walker alone took
//! 95 ms; the walk is the whole cost of a no-op re-check, so it is ours.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use rayon::prelude::*;

use crate::error::{os_error, Error, IoContext, Result};
use crate::hash::StatKey;
use crate::pool;

pub const IGNORE_FILE: &str = ".dvcignore";
const SKIPPED_DIRS: [&[u8]; 2] = [b".git", b".dvc"];

/// A file found by a walk: its `/`-separated path relative to the root and
/// its stat (symlinks followed).
#[derive(Clone, Debug)]
pub struct Found {
    pub relpath: String,
    pub key: StatKey,
    pub executable: bool,
}

impl Found {
    pub fn path(&self, root: &Path) -> PathBuf {
        root.join(&self.relpath)
    }
}

type Matchers = Vec<Arc<Gitignore>>;

/// All files under `root` (symlinks to files count as files), sorted by
/// relative path, each with its stat.
pub fn walk(root: &Path) -> Result<Vec<Found>> {
    let meta = std::fs::metadata(root).at(root)?;
    if !meta.is_dir() {
        return Err(os_error(root, libc::ENOTDIR));
    }
    let matchers = parent_matchers(root)?;
    let mut out = pool::run(|| visit(root, "", &matchers))?;
    out.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));
    Ok(out)
}

/// `.dvcignore` files of the folders above `root`, up to the repository
/// root (the nearest folder holding `.dvc` or `.git`), outermost first.
fn parent_matchers(root: &Path) -> Result<Matchers> {
    let abs = std::fs::canonicalize(root).at(root)?;
    let mut chain = Vec::new();
    let mut found_repo = false;
    for dir in abs.ancestors().skip(1) {
        chain.push(dir.to_path_buf());
        if dir.join(".dvc").is_dir() || dir.join(".git").exists() {
            found_repo = true;
            break;
        }
    }
    if !found_repo || abs.join(".dvc").is_dir() || abs.join(".git").exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for dir in chain.iter().rev() {
        if let Some(m) = matcher(dir)? {
            out.push(m);
        }
    }
    Ok(out)
}

/// The matcher of `dir/.dvcignore`, if the file exists. Paths are matched
/// as full paths, so matchers of parent folders apply as they are.
fn matcher(dir: &Path) -> Result<Option<Arc<Gitignore>>> {
    let file = dir.join(IGNORE_FILE);
    if !file.is_file() {
        return Ok(None);
    }
    let mut b = GitignoreBuilder::new(dir);
    if let Some(err) = b.add(&file) {
        return Err(Error::Ignore {
            path: file,
            reason: err.to_string(),
        });
    }
    let g = b.build().map_err(|e| Error::Ignore {
        path: file,
        reason: e.to_string(),
    })?;
    Ok(Some(Arc::new(g)))
}

fn ignored(matchers: &Matchers, path: &Path, is_dir: bool) -> bool {
    for m in matchers.iter().rev() {
        match m.matched(path, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
    }
    false
}

/// For each of `relpaths` (`/`-separated, relative to `root`, the project
/// root; files, or folders when they end with `/`), whether a walk of
/// `root` would leave it out: a
/// `.dvcignore` matches it or one of its folders (negations included, and a
/// file in an ignored folder stays ignored, as in the walk), or it lies in
/// `.git`/`.dvc`. Files found another way (Git's listing of pipeline and
/// `.dvc` files) are judged by the walk's own rules, so the project has one
/// reading of `.dvcignore`. Each folder's matcher is built once.
pub fn ignored_files(root: &Path, relpaths: &[String]) -> Result<Vec<bool>> {
    let mut cache: HashMap<PathBuf, Option<Arc<Gitignore>>> = HashMap::new();
    let mut chain_of = |dir: &Path| -> Result<Option<Arc<Gitignore>>> {
        if let Some(m) = cache.get(dir) {
            return Ok(m.clone());
        }
        let m = matcher(dir)?;
        cache.insert(dir.to_path_buf(), m.clone());
        Ok(m)
    };
    let mut out = Vec::with_capacity(relpaths.len());
    'paths: for rel in relpaths {
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let last_is_dir = rel.ends_with('/');
        let mut dir = root.to_path_buf();
        let mut matchers: Matchers = chain_of(root)?.into_iter().collect();
        for (i, part) in parts.iter().enumerate() {
            let is_dir = i + 1 < parts.len() || last_is_dir;
            let path = dir.join(part);
            if (is_dir && SKIPPED_DIRS.contains(&part.as_bytes()))
                || ignored(&matchers, &path, is_dir)
            {
                out.push(true);
                continue 'paths;
            }
            if is_dir {
                matchers.extend(chain_of(&path)?);
                dir = path;
            }
        }
        out.push(false);
    }
    Ok(out)
}

/// One directory: its files, then its subdirectories in parallel.
fn visit(dir: &Path, prefix: &str, inherited: &Matchers) -> Result<Vec<Found>> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| Error::NonUtf8Name {
        path: dir.to_path_buf(),
    })?;
    // SAFETY: a plain open(2); the fd is owned by `File` below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: fd is a fresh descriptor we own.
    let dir_file = unsafe { File::from_raw_fd(fd) };
    let names = read_names(&dir_file, dir)?;
    let mut matchers = inherited.clone();
    if names
        .iter()
        .any(|(n, _)| n.as_bytes() == IGNORE_FILE.as_bytes())
    {
        if let Some(m) = matcher(dir)? {
            matchers.push(m);
        }
    }
    // Full paths are built only where needed (ignore rules, errors,
    // subfolders): 100k PathBuf allocations were a visible share of a walk.
    let full = |bytes: &[u8]| dir.join(OsStr::from_bytes(bytes));
    let filtering = !matchers.is_empty();
    let mut files = Vec::with_capacity(names.len());
    let mut subdirs = Vec::new();
    for (name, dtype) in names {
        let bytes = name.as_bytes();
        let rel = join_rel(prefix, bytes, dir)?;
        if dtype == libc::DT_DIR {
            if SKIPPED_DIRS.contains(&bytes)
                || (filtering && ignored(&matchers, &full(bytes), true))
            {
                continue;
            }
            subdirs.push((full(bytes), rel));
            continue;
        }
        if filtering && ignored(&matchers, &full(bytes), false) {
            continue;
        }
        let st = fstatat(&dir_file, &name, || full(bytes))?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => files.push(Found {
                relpath: rel,
                key: key_of(&st),
                executable: st.st_mode & 0o100 != 0,
            }),
            libc::S_IFDIR if dtype == libc::DT_UNKNOWN => subdirs.push((full(bytes), rel)),
            _ => return Err(Error::NotRegular { path: full(bytes) }),
        }
    }
    drop(dir_file);
    let nested: Vec<Result<Vec<Found>>> = subdirs
        .par_iter()
        .map(|(d, rel)| visit(d, rel, &matchers))
        .collect();
    for n in nested {
        files.extend(n?);
    }
    Ok(files)
}

/// Names and types of a directory's entries, read through its open
/// descriptor (no second open, no per-entry `DirEntry`).
fn read_names(dir_file: &File, dir: &Path) -> Result<Vec<(CString, u8)>> {
    // SAFETY: dup gives readdir its own descriptor, closed by closedir.
    let fd = unsafe { libc::dup(dir_file.as_raw_fd()) };
    if fd < 0 {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: fd is a directory descriptor we own; fdopendir takes it.
    let stream = unsafe { libc::fdopendir(fd) };
    if stream.is_null() {
        let e = std::io::Error::last_os_error();
        unsafe { libc::close(fd) };
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: e,
        });
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: stream is open; the entry is copied before the next call.
        let ent = unsafe { libc::readdir64(stream) };
        if ent.is_null() {
            break;
        }
        let (name, dtype) = unsafe { (CStr::from_ptr((*ent).d_name.as_ptr()), (*ent).d_type) };
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        names.push((name.to_owned(), dtype));
    }
    // SAFETY: closes the stream and its descriptor.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

fn join_rel(prefix: &str, name: &[u8], dir: &Path) -> Result<String> {
    let name = std::str::from_utf8(name).map_err(|_| Error::NonUtf8Name {
        path: dir.join(OsStr::from_bytes(name)),
    })?;
    let mut rel = String::with_capacity(prefix.len() + 1 + name.len());
    if !prefix.is_empty() {
        rel.push_str(prefix);
        rel.push('/');
    }
    rel.push_str(name);
    Ok(rel)
}

fn fstatat(dir: &File, name: &CStr, full: impl Fn() -> PathBuf) -> Result<libc::stat> {
    // SAFETY: `st` is written by the kernel; `dir` is an open directory.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, 0) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        let path = full();
        if e.kind() == std::io::ErrorKind::NotFound && crate::hash::is_symlink(&path) {
            return Err(Error::DanglingSymlink { path });
        }
        return Err(Error::Io { path, source: e });
    }
    Ok(st)
}

fn key_of(st: &libc::stat) -> StatKey {
    StatKey {
        dev: st.st_dev,
        ino: st.st_ino,
        mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
        size: st.st_size as u64,
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

    fn write(root: &Path, files: &[&str]) {
        for p in files {
            let full = root.join(p);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, p).unwrap();
        }
    }

    fn rels(root: &Path) -> Vec<String> {
        walk(root).unwrap().into_iter().map(|f| f.relpath).collect()
    }

    #[test]
    fn honours_dvcignore_and_skips_state_dirs() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            &[
                "a.txt",
                "sub/b.txt",
                "sub/skip.log",
                ".git/HEAD",
                ".dvc/config",
                "deep/x/y.txt",
                "tmp/z",
                "sub/keep.log",
            ],
        );
        fs::write(r.join(".dvcignore"), "*.log\n/tmp\n!keep.log\n").unwrap();
        fs::write(r.join("deep/.dvcignore"), "x/\n").unwrap();
        assert_eq!(
            rels(r),
            [
                ".dvcignore",
                "a.txt",
                "deep/.dvcignore",
                "sub/b.txt",
                "sub/keep.log"
            ]
        );
    }

    #[test]
    fn ignored_files_agree_with_the_walk() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let files = [
            "a/dvc.yaml",
            "a/b/dvc.yaml",
            "keep/dvc.yaml",
            "skip/dvc.yaml",
            "skip/x.dvc",
            "n/deep/dvc.yaml",
            "n/ok/dvc.yaml",
            ".dvc/x.dvc",
            "top.dvc",
        ];
        write(r, &files);
        fs::write(r.join(".dvcignore"), "skip/\n*.dvc\n!top.dvc\na/b\n").unwrap();
        fs::write(r.join("n/.dvcignore"), "deep\n").unwrap();
        let folders = ignored_files(r, &["skip/".into(), "n/deep/".into(), "n/".into()]).unwrap();
        assert_eq!(folders, [true, true, false]);
        let paths: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        let ignored = ignored_files(r, &paths).unwrap();
        let kept: Vec<&str> = files
            .iter()
            .zip(&ignored)
            .filter(|(_, i)| !**i)
            .map(|(f, _)| *f)
            .collect();
        assert_eq!(
            kept,
            ["a/dvc.yaml", "keep/dvc.yaml", "n/ok/dvc.yaml", "top.dvc"]
        );
        let walked: Vec<String> = rels(r)
            .into_iter()
            .filter(|p| files.contains(&p.as_str()))
            .collect();
        assert_eq!(walked, kept);
    }

    #[test]
    fn parent_ignore_files_apply_to_a_subfolder_walk() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir(r.join(".dvc")).unwrap();
        write(
            r,
            &[
                "data/a.csv",
                "data/a.tmp",
                "data/sub/b.tmp",
                "data/sub/c.csv",
            ],
        );
        fs::write(r.join(".dvcignore"), "*.tmp\n").unwrap();
        assert_eq!(rels(&r.join("data")), ["a.csv", "sub/c.csv"]);
    }

    #[test]
    fn symlinks_to_files_are_files_and_dangling_ones_are_named() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r, &["real"]);
        std::os::unix::fs::symlink(r.join("real"), r.join("link")).unwrap();
        let found = walk(r).unwrap();
        assert_eq!(
            found.iter().map(|f| f.relpath.as_str()).collect::<Vec<_>>(),
            ["link", "real"]
        );
        assert_eq!(found[0].key, found[1].key);
        std::os::unix::fs::symlink(r.join("gone"), r.join("dangling")).unwrap();
        assert!(matches!(walk(r), Err(Error::DanglingSymlink { .. })));
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "x").unwrap();
        assert_eq!(walk(&f).unwrap_err().errno(), Some(libc::ENOTDIR));
    }
}
