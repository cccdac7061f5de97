//! The content-addressed cache: `<root>/files/blake3/<2 hex>/<62 hex>` for
//! files, the same name plus `.dir` for tree manifests. Objects are written
//! under a temporary name in `<root>/tmp/` and renamed into place, then never
//! modified (read-only); storing an object that exists is a no-op, and two
//! processes storing one object at once both succeed with the same bytes.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::hash::{self, Digest, FileDigest, StatKey};
use crate::link::{self, LinkType, Linker};
use crate::pool;
use crate::scan;
use crate::state::{temp_name, StatIndex};
use crate::tree::{Entry, Manifest};
use crate::walk;

pub struct Cache {
    root: PathBuf,
    /// `<root>/tmp`, once made (asked for by every stored file).
    tmp: std::sync::OnceLock<PathBuf>,
}

/// The outcome of storing one file.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    pub file: FileDigest,
    /// The bytes were read (the stat index did not know the file).
    pub read: bool,
    /// A new object was written (it was not in the cache yet).
    pub written: bool,
    /// The stat of the new object, so that hardlinks to it are known to the
    /// index without being read.
    pub object_key: Option<StatKey>,
}

impl Stored {
    /// Remember in `index` what storing learned: the file's hash if its
    /// bytes were read, and a new object's stat, so that neither is read
    /// again (a hardlinked checkout of the object is known by its inode).
    pub fn record(&self, index: &mut StatIndex) {
        if self.read {
            index.insert(self.file.key, self.file.digest);
        }
        if let Some(k) = self.object_key {
            index.insert_object(k, self.file.digest);
        }
    }
}

/// The outcome of storing a directory.
#[derive(Debug)]
pub struct StoredTree {
    pub digest: Digest,
    pub manifest: Manifest,
    pub read: usize,
    pub written: usize,
}

impl Cache {
    pub fn new(root: &Path) -> Cache {
        Cache {
            root: root.to_path_buf(),
            tmp: std::sync::OnceLock::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the symlink `src` leads into this cache (a checked-out
    /// object), as opposed to a file of the user's elsewhere.
    fn holds_target(&self, src: &Path) -> bool {
        match (fs::canonicalize(src), fs::canonicalize(&self.root)) {
            (Ok(target), Ok(root)) => target.starts_with(root),
            _ => false,
        }
    }

    pub fn object_path(&self, digest: &Digest) -> PathBuf {
        let hex = hash::to_hex(digest);
        self.root
            .join("files")
            .join(hash::ALGORITHM)
            .join(&hex[..2])
            .join(&hex[2..])
    }

    pub fn tree_path(&self, digest: &Digest) -> PathBuf {
        let mut p = self.object_path(digest).into_os_string();
        p.push(".dir");
        PathBuf::from(p)
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.object_path(digest).is_file()
    }

    pub(crate) fn temp_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = self.tmp.get() {
            return Ok(dir.clone());
        }
        let dir = self.root.join("tmp");
        fs::create_dir_all(&dir).at(&dir)?;
        Ok(self.tmp.get_or_init(|| dir).clone())
    }

    /// A new, empty, already read-only temp file (an open descriptor may
    /// still write it): no `chmod` before publishing.
    pub(crate) fn create_temp(&self, prefix: &str) -> Result<(fs::File, PathBuf)> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = temp_name(&self.temp_dir()?.join(prefix));
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&tmp)
            .at(&tmp)?;
        Ok((f, tmp))
    }

    /// Move a finished, read-only temp file to `dest`. If `dest` exists
    /// (another process, or a duplicate file), ours is dropped. Returns
    /// whether ours became the object. The object's folder is made only when
    /// the rename says it is missing: one syscall per object, not three.
    pub(crate) fn publish(&self, tmp: &Path, dest: &Path) -> Result<bool> {
        let mut r = rename_noreplace(tmp, dest);
        if matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            let parent = dest.parent().expect("objects live in a folder");
            if let Err(e) = fs::create_dir_all(parent) {
                let _ = fs::remove_file(tmp);
                return Err(Error::Io {
                    path: parent.to_path_buf(),
                    source: e,
                });
            }
            r = rename_noreplace(tmp, dest);
        }
        if !matches!(r, Ok(true)) {
            let _ = fs::remove_file(tmp);
        }
        r.at(dest)
    }

    /// Copy `src` into a temp file while hashing the copied bytes (one read).
    /// The hash is of exactly the bytes the object holds; a source that
    /// changed meanwhile is an error. Also returns the temp file's stat
    /// (the object's, after the rename), taken on the open descriptor.
    fn copy_in(&self, src: &Path) -> Result<(FileDigest, PathBuf, StatKey)> {
        let (file, before) = hash::open_regular(src)?;
        let (out, tmp) = self.create_temp("object")?;
        let result = if before.len() >= hash::PARALLEL_THRESHOLD {
            copy_and_hash_large(&file, src, &out, &tmp, before.len())
        } else {
            copy_and_hash(&file, src, &out, &tmp)
        }
        .and_then(|(digest, total)| {
            let after = file.metadata().at(src)?;
            let key = StatKey::of(&before);
            if total != before.len() || StatKey::of(&after) != key {
                return Err(Error::Changed {
                    path: src.to_path_buf(),
                });
            }
            let object = StatKey::of(&out.metadata().at(&tmp)?);
            Ok((
                FileDigest {
                    digest,
                    key,
                    executable: hash::is_executable(&before),
                },
                object,
            ))
        });
        match result {
            Ok((d, object)) => Ok((d, tmp, object)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Store one file. Reads nothing if the index knows the file and the
    /// object exists; what was read, and a new object's stat, are then
    /// recorded in the index (`Stored::record`). With a `linker`, the
    /// workspace file then uses the object as a checkout with that linker
    /// would (see `store_linked`).
    pub fn store_file(
        &self,
        src: &Path,
        index: &mut StatIndex,
        linker: Option<&Linker>,
    ) -> Result<Stored> {
        let meta = scan::stat(src)?;
        if !meta.is_file() {
            return Err(crate::error::os_error(src, libc::EISDIR));
        }
        let (key, exec) = (StatKey::of(&meta), hash::is_executable(&meta));
        self.settle(linker)?;
        let stored = self.store_with(src, key, exec, index, linker)?;
        stored.record(index);
        Ok(stored)
    }

    fn settle(&self, linker: Option<&Linker>) -> Result<()> {
        if let Some(l) = linker {
            l.settle_reflink(&self.temp_dir()?);
        }
        Ok(())
    }

    fn store_with(
        &self,
        src: &Path,
        key: StatKey,
        executable: bool,
        index: &StatIndex,
        linker: Option<&Linker>,
    ) -> Result<Stored> {
        match linker {
            Some(l) if l.current() != LinkType::Copy && !is_symlink(src) => {
                self.store_linked(src, key, executable, index, l)
            }
            // A symlink: its target's bytes are copied in, never the link
            // itself. A link into the cache (a checkout whose object root
            // changed in place) is then linked to the new object, as a
            // checkout would: left alone it would point at an object gc may
            // remove. A link to a file elsewhere (a data folder holding a
            // link to `~/notes.txt`, issue #14) is the user's: it stays, and
            // its target is neither chmodded nor linked into the cache.
            Some(l) => {
                let stored = self.store_known(src, key, executable, index)?;
                let t = l.current();
                if matches!(t, LinkType::Hardlink | LinkType::Symlink) && self.holds_target(src) {
                    relink(src, &self.object_path(&stored.file.digest), t, executable)?;
                }
                Ok(stored)
            }
            None => self.store_known(src, key, executable, index),
        }
    }

    /// Store a file the way `linker` checks objects out: with a hardlink
    /// the workspace file *becomes* the object (linked into the cache,
    /// read-only, no byte copied), with a symlink it is then replaced by a
    /// link to the object, with a reflink the object is a clone. So adding
    /// a large data set with `cache.type = hardlink` costs one read (the
    /// hash) and one `link` per file, as a checkout would. The file's stat
    /// is checked after the link: a file changed since it was hashed is an
    /// error and nothing is stored.
    fn store_linked(
        &self,
        src: &Path,
        key: StatKey,
        executable: bool,
        index: &StatIndex,
        linker: &Linker,
    ) -> Result<Stored> {
        let known = index.get(&key);
        let file = match known {
            Some(digest) => FileDigest {
                digest,
                key,
                executable,
            },
            None => hash::hash_known(src, key, executable)?,
        };
        if known.is_none() {
            crate::progress::add(key.size);
        }
        let dest = self.object_path(&file.digest);
        let mut written = false;
        let mut object_key = None;
        let used = if dest.is_file() {
            linker.current()
        } else {
            let tmp = temp_name(&self.temp_dir()?.join("object"));
            let read_only = fs::Permissions::from_mode(if executable { 0o555 } else { 0o444 });
            let used = linker.first_working(src, |t| match t {
                LinkType::Reflink => link::reflink(src, &tmp)
                    .and_then(|_| fs::set_permissions(&tmp, read_only.clone()))
                    .inspect_err(|_| {
                        let _ = fs::remove_file(&tmp);
                    }),
                // The object is the workspace file: read-only from now on.
                LinkType::Hardlink => fs::set_permissions(src, read_only.clone())
                    .and_then(|_| fs::hard_link(src, &tmp)),
                // The workspace file becomes a symlink below; until then the
                // object shares its inode, or is a copy across file systems.
                LinkType::Symlink => fs::hard_link(src, &tmp)
                    .or_else(|_| fs::copy(src, &tmp).map(|_| ()))
                    .and_then(|_| fs::set_permissions(&tmp, read_only.clone())),
                LinkType::Copy => {
                    fs::copy(src, &tmp).and_then(|_| fs::set_permissions(&tmp, read_only.clone()))
                }
            });
            let used = match used {
                Ok(t) => t,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            let now = fs::symlink_metadata(src).map(|m| StatKey::of(&m));
            if now.ok() != Some(key) {
                let _ = fs::remove_file(&tmp);
                return Err(Error::Changed {
                    path: src.to_path_buf(),
                });
            }
            written = self.publish(&tmp, &dest)?;
            if written {
                // A hardlinked object is the workspace file: same stat.
                object_key = if used == LinkType::Hardlink {
                    Some(key)
                } else {
                    fs::metadata(&dest).ok().map(|m| StatKey::of(&m))
                };
            }
            used
        };
        // A file just published by hardlink is the object already.
        let linked = written && used == LinkType::Hardlink;
        if !linked && matches!(used, LinkType::Hardlink | LinkType::Symlink) {
            relink(src, &dest, used, executable)?;
        }
        Ok(Stored {
            file,
            read: known.is_none(),
            written,
            object_key,
        })
    }

    /// `store_file` for a file whose stat is known (from a walk).
    fn store_known(
        &self,
        src: &Path,
        key: StatKey,
        executable: bool,
        index: &StatIndex,
    ) -> Result<Stored> {
        if let Some(digest) = index.get(&key) {
            if self.contains(&digest) {
                let file = FileDigest {
                    digest,
                    key,
                    executable,
                };
                return Ok(Stored {
                    file,
                    read: false,
                    written: false,
                    object_key: None,
                });
            }
        }
        let (file, tmp, object) = self.copy_in(src)?;
        crate::progress::add(file.key.size);
        let dest = self.object_path(&file.digest);
        let written = self.publish(&tmp, &dest)?;
        let object_key = written.then_some(object);
        Ok(Stored {
            file,
            read: true,
            written,
            object_key,
        })
    }

    /// Write a tree's manifest as an object; returns its digest.
    pub fn store_manifest(&self, manifest: &Manifest) -> Result<Digest> {
        let bytes = manifest.to_bytes();
        let digest = hash::hash_bytes(&bytes);
        let dest = self.tree_path(&digest);
        if !dest.exists() {
            let (mut f, tmp) = self.create_temp("tree")?;
            if let Err(e) = f.write_all(&bytes) {
                let _ = fs::remove_file(&tmp);
                return Err(Error::Io {
                    path: tmp,
                    source: e,
                });
            }
            drop(f);
            self.publish(&tmp, &dest)?;
        }
        Ok(digest)
    }

    /// Store every file under `root` and the tree's manifest; with a
    /// `linker`, as `store_file` does.
    pub fn store_tree(
        &self,
        root: &Path,
        index: &mut StatIndex,
        linker: Option<&Linker>,
    ) -> Result<StoredTree> {
        let found = walk::walk(root)?;
        self.settle(linker)?;
        let results: Vec<Result<Stored>> = {
            let idx = &*index;
            pool::run(|| {
                found
                    .par_iter()
                    .map(|f| self.store_with(&f.path(root), f.key, f.executable, idx, linker))
                    .collect()
            })
        };
        let mut entries: Vec<Entry> = Vec::with_capacity(found.len());
        let (mut read, mut written) = (0, 0);
        for (f, r) in found.iter().zip(results) {
            let s = r?;
            s.record(index);
            read += usize::from(s.read);
            written += usize::from(s.written);
            entries.push(scan::entry_of(f, &s.file));
        }
        let manifest = Manifest::new(entries, root)?;
        let digest = self.store_manifest(&manifest)?;
        Ok(StoredTree {
            digest,
            manifest,
            read,
            written,
        })
    }

    /// Read and verify a tree manifest object.
    pub fn load_tree(&self, digest: &Digest) -> Result<Manifest> {
        let path = self.tree_path(digest);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingObject {
                    path: path.clone(),
                    hash: hash::to_hex(digest),
                }
            } else {
                Error::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        if hash::hash_bytes(&bytes) != *digest {
            return Err(Error::BadManifest {
                path,
                reason: "content does not match its hash".into(),
            });
        }
        Manifest::from_bytes(&bytes, &path)
    }
}

/// The small-file copy: one 1 MiB buffer, each chunk hashed then written.
fn copy_and_hash(file: &fs::File, src: &Path, out: &fs::File, tmp: &Path) -> Result<(Digest, u64)> {
    let (mut file, mut out) = (file, out);
    let mut hasher = blake3::Hasher::new();
    let total = hash::with_buffer(|buf| -> Result<u64> {
        let mut total = 0u64;
        loop {
            let n = file.read(buf).at(src)?;
            if n == 0 {
                return Ok(total);
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).at(tmp)?;
            total += n as u64;
        }
    })?;
    Ok((*hasher.finalize().as_bytes(), total))
}

/// A large file: the kernel copies it (`copy_file_range`, no user-space
/// buffer) while the pool's threads hash it through a memory map, at once;
/// the copy dominates (writing new pages), so the hash costs about nothing
/// on top. Both read the same page-cache pages; the caller's stat re-check
/// catches a source changed meanwhile.
fn copy_and_hash_large(
    file: &fs::File,
    src: &Path,
    out: &fs::File,
    tmp: &Path,
    size: u64,
) -> Result<(Digest, u64)> {
    let (hashed, copied) = std::thread::scope(|s| {
        let copier = s.spawn(|| copy_range(file, src, out, tmp, size));
        let mut hasher = blake3::Hasher::new();
        let hashed = hash::hash_mapped(file, src, &mut hasher).map(|n| (hasher, n));
        let copied = copier.join().expect("the copy thread does not panic");
        (hashed, copied)
    });
    let (hasher, n) = hashed?;
    let copied = copied?;
    if n != copied {
        return Err(Error::Changed {
            path: src.to_path_buf(),
        });
    }
    Ok((*hasher.finalize().as_bytes(), copied))
}

/// Copy `size` bytes from the start of `file` into `out` in the kernel;
/// where `copy_file_range` is not available, through a buffer.
fn copy_range(file: &fs::File, src: &Path, out: &fs::File, tmp: &Path, size: u64) -> Result<u64> {
    use std::os::unix::io::AsRawFd;
    let (mut off_in, mut off_out): (libc::loff_t, libc::loff_t) = (0, 0);
    let mut total = 0u64;
    while total < size {
        let want = (size - total).min(1 << 30) as usize;
        // SAFETY: valid descriptors; the offsets are ours (the files' own
        // positions are not used or moved).
        let n = unsafe {
            libc::copy_file_range(
                file.as_raw_fd(),
                &mut off_in,
                out.as_raw_fd(),
                &mut off_out,
                want,
                0,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if total == 0
                && matches!(
                    e.raw_os_error(),
                    Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP)
                )
            {
                return copy_buffered(file, src, out, tmp);
            }
            return Err(Error::Io {
                path: tmp.to_path_buf(),
                source: e,
            });
        }
        if n == 0 {
            break; // the file shrank: the caller's checks report it
        }
        total += n as u64;
    }
    Ok(total)
}

fn copy_buffered(file: &fs::File, src: &Path, out: &fs::File, tmp: &Path) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut total = 0u64;
    hash::with_buffer(|buf| loop {
        let n = file.read_at(buf, total).at(src)?;
        if n == 0 {
            return Ok(total);
        }
        out.write_all_at(&buf[..n], total).at(tmp)?;
        total += n as u64;
    })
}

/// Rename `tmp` to `dest` unless `dest` exists (false then): with two
/// writers of one object, the first stays the object, so a workspace file
/// linked to it stays linked. Falls back to a plain rename (last writer
/// wins, same bytes) where the file system lacks `RENAME_NOREPLACE`.
fn rename_noreplace(tmp: &Path, dest: &Path) -> std::io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let (Ok(from), Ok(to)) = (
        CString::new(tmp.as_os_str().as_bytes()),
        CString::new(dest.as_os_str().as_bytes()),
    ) else {
        return fs::rename(tmp, dest).map(|_| true);
    };
    // SAFETY: both paths are NUL-terminated and live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EEXIST) => Ok(false),
        Some(libc::EINVAL | libc::ENOSYS) => fs::rename(tmp, dest).map(|_| true),
        _ => Err(e),
    }
}

/// Whether `src` itself is a symlink. A linked store would chmod and link
/// what it points to, which may be outside the project (issue #14: a data
/// folder holding a link to `~/notes.txt` made that file read-only): such a
/// file is stored by copy, read through the link (`Cache::store_with` says
/// when the link is then replaced).
fn is_symlink(src: &Path) -> bool {
    fs::symlink_metadata(src).is_ok_and(|m| m.file_type().is_symlink())
}

/// Make the workspace file `src` a hardlink or symlink to the object
/// `obj`, unless it already is one: a new link under a temporary name,
/// renamed over `src`, so `src` is never missing. A file system that cannot
/// link leaves `src` as it is (it holds the same bytes).
fn relink(src: &Path, obj: &Path, t: LinkType, exec: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(s), Ok(o)) = (fs::symlink_metadata(src), fs::metadata(obj)) else {
        return Ok(());
    };
    let done = match t {
        LinkType::Hardlink => s.ino() == o.ino() && s.dev() == o.dev(),
        _ => s.file_type().is_symlink() && fs::read_link(src).is_ok_and(|l| l == obj),
    };
    if done {
        return Ok(());
    }
    let tmp = temp_name(src);
    match link::make(t, obj, &tmp, exec) {
        Ok(()) => fs::rename(&tmp, src).at(src).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        }),
        Err(_) => {
            let _ = fs::remove_file(&tmp);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_idempotent_and_read_only() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let src = d.path().join("f");
        fs::write(&src, b"hello").unwrap();
        let mut idx = StatIndex::in_memory();
        let a = cache.store_file(&src, &mut idx, None).unwrap();
        assert!(a.written && a.read);
        let obj = cache.object_path(&a.file.digest);
        assert_eq!(fs::read(&obj).unwrap(), b"hello");
        assert_eq!(
            fs::metadata(&obj).unwrap().permissions().mode() & 0o777,
            0o444
        );
        let b = cache.store_file(&src, &mut idx, None).unwrap();
        assert!(!b.written);
        assert_eq!(a.file.digest, b.file.digest);
        // Nothing is left in the temp folder.
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn store_file_records_what_it_learned_in_the_index() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let src = d.path().join("f");
        fs::write(&src, b"known later").unwrap();
        // Older than the racy window, so the index may remember it.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
        fs::File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut idx = StatIndex::in_memory();
        let a = cache.store_file(&src, &mut idx, None).unwrap();
        assert!(a.read && a.written);
        assert_eq!(idx.get(&a.file.key), Some(a.file.digest), "the file's stat");
        let obj = fs::metadata(cache.object_path(&a.file.digest)).unwrap();
        assert_eq!(
            idx.get(&StatKey::of(&obj)),
            Some(a.file.digest),
            "the new object's stat"
        );
        let b = cache.store_file(&src, &mut idx, None).unwrap();
        assert!(!b.read && !b.written, "known: nothing read again");
    }

    #[test]
    fn tree_round_trips_and_detects_damage() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        fs::create_dir_all(data.join("x")).unwrap();
        fs::write(data.join("x/a"), b"a").unwrap();
        fs::write(data.join("b"), b"b").unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let mut idx = StatIndex::in_memory();
        let t = cache.store_tree(&data, &mut idx, None).unwrap();
        assert_eq!(t.written, 2);
        assert_eq!(cache.load_tree(&t.digest).unwrap(), t.manifest);
        let p = cache.tree_path(&t.digest);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"[]").unwrap();
        assert!(matches!(
            cache.load_tree(&t.digest),
            Err(Error::BadManifest { .. })
        ));
        assert!(matches!(
            cache.load_tree(&[0; 32]),
            Err(Error::MissingObject { .. })
        ));
    }

    #[test]
    fn linked_store_makes_the_workspace_use_the_object() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let mut idx = StatIndex::in_memory();
        for t in [LinkType::Hardlink, LinkType::Symlink] {
            let data = d.path().join(t.name());
            fs::create_dir_all(data.join("x")).unwrap();
            fs::write(data.join("x/a"), b"same").unwrap();
            fs::write(data.join("b"), b"same").unwrap();
            fs::write(data.join("c"), t.name()).unwrap();
            let linker = Linker::new(vec![t, LinkType::Copy]);
            let first = cache.store_tree(&data, &mut idx, Some(&linker)).unwrap();
            let copied = cache.store_tree(&data, &mut idx, None).unwrap();
            assert_eq!(
                first.digest, copied.digest,
                "{t:?}: same tree as a copying store"
            );
            for rel in ["x/a", "b", "c"] {
                let p = data.join(rel);
                let digest = first
                    .manifest
                    .entries()
                    .iter()
                    .find(|e| e.relpath == rel)
                    .map(|e| hash::from_hex(&e.blake3).unwrap())
                    .unwrap();
                let obj = cache.object_path(&digest);
                let (w, o) = (fs::metadata(&p).unwrap(), fs::metadata(&obj).unwrap());
                assert_eq!(
                    w.ino(),
                    o.ino(),
                    "{t:?} {rel}: workspace file is the object"
                );
                let is_link = fs::symlink_metadata(&p).unwrap().file_type().is_symlink();
                assert_eq!(is_link, t == LinkType::Symlink, "{t:?} {rel}");
                assert_eq!(
                    o.permissions().mode() & 0o222,
                    0,
                    "{t:?} {rel}: objects are read-only"
                );
            }
            // Storing again reads nothing and writes nothing.
            let again = cache.store_tree(&data, &mut idx, Some(&linker)).unwrap();
            assert_eq!((again.read, again.written), (0, 0), "{t:?}");
        }
    }

    #[test]
    fn a_large_file_is_copied_and_hashed_at_once() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let src = d.path().join("big");
        let bytes: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 251) as u8).collect();
        fs::write(&src, &bytes).unwrap();
        let s = cache
            .store_file(&src, &mut StatIndex::in_memory(), None)
            .unwrap();
        assert!(s.written && s.read);
        assert_eq!(s.file.digest, hash::hash_file(&src).unwrap().digest);
        let obj = cache.object_path(&s.file.digest);
        assert!(
            fs::read(&obj).unwrap() == bytes,
            "the object holds the bytes"
        );
        assert_eq!(
            fs::metadata(&obj).unwrap().permissions().mode() & 0o777,
            0o444
        );
        let key = StatKey::of(&fs::metadata(&obj).unwrap());
        assert_eq!(
            s.object_key,
            Some(key),
            "the object's stat, taken before the rename"
        );
    }

    #[test]
    fn a_default_linker_on_a_file_system_without_reflinks_copies_while_hashing() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let linker = Linker::new(vec![LinkType::Reflink, LinkType::Copy]);
        let src = d.path().join("f");
        fs::write(&src, b"bytes").unwrap();
        let probe = d.path().join("probe");
        fs::write(&probe, b"p").unwrap();
        let reflinks = link::reflink(&probe, &d.path().join("probe2")).is_ok();
        cache
            .store_file(&src, &mut StatIndex::in_memory(), Some(&linker))
            .unwrap();
        let expected = if reflinks {
            LinkType::Reflink
        } else {
            LinkType::Copy
        };
        assert_eq!(linker.current(), expected, "settled before the first file");
        assert_eq!(
            fs::read_dir(cache.root().join("tmp")).unwrap().count(),
            0,
            "probe removed"
        );
    }

    #[test]
    fn linked_store_falls_back_from_reflink() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let src = d.path().join("f");
        fs::write(&src, b"bytes").unwrap();
        let linker = Linker::new(vec![LinkType::Reflink, LinkType::Hardlink]);
        let s = cache
            .store_file(&src, &mut StatIndex::in_memory(), Some(&linker))
            .unwrap();
        assert!(s.written);
        assert_eq!(
            fs::read(cache.object_path(&s.file.digest)).unwrap(),
            b"bytes"
        );
        assert_eq!(fs::read(&src).unwrap(), b"bytes");
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn linked_store_of_a_file_changed_after_hashing_stores_nothing() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let src = d.path().join("f");
        fs::write(&src, b"v1").unwrap();
        let meta = fs::metadata(&src).unwrap();
        let stale = StatKey {
            mtime_ns: StatKey::of(&meta).mtime_ns - 1,
            ..StatKey::of(&meta)
        };
        let idx = StatIndex::in_memory();
        let linker = Linker::new(vec![LinkType::Hardlink]);
        let r = cache.store_linked(&src, stale, false, &idx, &linker);
        assert!(matches!(r, Err(Error::Changed { .. })), "{r:?}");
        let objects = cache.root().join("files");
        assert!(!objects.exists() || walk::walk(&objects).unwrap().is_empty());
        assert_eq!(fs::read(&src).unwrap(), b"v1");
    }

    #[test]
    fn linked_store_of_a_symlink_copies_and_leaves_its_target_alone() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside.txt");
        fs::write(&outside, b"mine").unwrap();
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
        let src = d.path().join("link");
        std::os::unix::fs::symlink(&outside, &src).unwrap();
        for t in [LinkType::Hardlink, LinkType::Symlink] {
            let cache = Cache::new(&d.path().join(format!("cache-{t:?}")));
            let mut idx = StatIndex::in_memory();
            let r = cache
                .store_file(&src, &mut idx, Some(&Linker::new(vec![t])))
                .unwrap();
            let obj = cache.object_path(&r.file.digest);
            assert!(!fs::symlink_metadata(&obj).unwrap().file_type().is_symlink());
            assert_eq!(fs::read(&obj).unwrap(), b"mine");
            let mode = fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{t:?} changed the link's target");
            assert_eq!(fs::read_link(&src).unwrap(), outside);
        }
    }

    #[test]
    fn a_symlink_is_stored_as_its_target_bytes_and_relinked() {
        // A link to an object whose bytes changed in place (root edits a
        // linked file): the object holds the target's bytes, never the link
        // itself, and the link is moved to the new object.
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let mut idx = StatIndex::in_memory();
        for t in [LinkType::Hardlink, LinkType::Symlink] {
            // A checked-out object whose bytes changed in place.
            let target = d.path().join("cache/files/blake3/00").join(t.name());
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::write(&target, t.name()).unwrap();
            let src = d.path().join(format!("link-{}", t.name()));
            std::os::unix::fs::symlink(&target, &src).unwrap();
            let linker = Linker::new(vec![t, LinkType::Copy]);
            let stored = cache.store_file(&src, &mut idx, Some(&linker)).unwrap();
            let obj = cache.object_path(&stored.file.digest);
            let meta = fs::symlink_metadata(&obj).unwrap();
            assert!(meta.is_file(), "{t:?}: the object is a regular file");
            assert_eq!(fs::read(&obj).unwrap(), t.name().as_bytes());
            assert_eq!(fs::read(&src).unwrap(), t.name().as_bytes());
            let is_link = fs::symlink_metadata(&src).unwrap().file_type().is_symlink();
            assert_eq!(is_link, t == LinkType::Symlink, "{t:?}");
            if t == LinkType::Symlink {
                assert_eq!(
                    fs::read_link(&src).unwrap(),
                    obj,
                    "points at the object now"
                );
            }
            assert_eq!(
                fs::read(&target).unwrap(),
                t.name().as_bytes(),
                "the old object's file is not written"
            );
        }
    }
}
