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
use crate::pool;
use crate::scan;
use crate::state::{temp_name, StatIndex};
use crate::tree::{Entry, Manifest};
use crate::walk;

pub struct Cache {
    root: PathBuf,
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
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
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

    fn temp_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("tmp");
        fs::create_dir_all(&dir).at(&dir)?;
        Ok(dir)
    }

    /// Move a finished temp file to `dest`, read-only. If `dest` appeared in
    /// the meantime (another process), ours is dropped. Returns whether ours
    /// became the object.
    fn publish(&self, tmp: &Path, dest: &Path) -> Result<bool> {
        if dest.exists() {
            let _ = fs::remove_file(tmp);
            return Ok(false);
        }
        let r = fs::set_permissions(tmp, fs::Permissions::from_mode(0o444))
            .at(tmp)
            .and_then(|_| {
                let parent = dest.parent().expect("objects live in a folder");
                fs::create_dir_all(parent).at(parent)?;
                fs::rename(tmp, dest).at(dest)
            });
        if r.is_err() {
            let _ = fs::remove_file(tmp);
        }
        r.map(|_| true)
    }

    /// Copy `src` into a temp file while hashing the copied bytes (one read).
    /// The hash is of exactly the bytes the object holds; a source that
    /// changed meanwhile is an error.
    fn copy_in(&self, src: &Path) -> Result<(FileDigest, PathBuf)> {
        let (mut file, before) = hash::open_regular(src)?;
        let tmp = temp_name(&self.temp_dir()?.join("object"));
        let result = (|| {
            let mut out = fs::File::create(&tmp).at(&tmp)?;
            let mut hasher = blake3::Hasher::new();
            let total = hash::with_buffer(|buf| -> Result<u64> {
                let mut total = 0u64;
                loop {
                    let n = file.read(buf).at(src)?;
                    if n == 0 {
                        return Ok(total);
                    }
                    hasher.update(&buf[..n]);
                    out.write_all(&buf[..n]).at(&tmp)?;
                    total += n as u64;
                }
            })?;
            let after = file.metadata().at(src)?;
            let key = StatKey::of(&before);
            if total != before.len() || StatKey::of(&after) != key {
                return Err(Error::Changed {
                    path: src.to_path_buf(),
                });
            }
            Ok(FileDigest {
                digest: *hasher.finalize().as_bytes(),
                key,
                executable: hash::is_executable(&before),
            })
        })();
        match result {
            Ok(d) => Ok((d, tmp)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Store one file. Reads nothing if the index knows the file and the
    /// object exists.
    pub fn store_file(&self, src: &Path, index: &StatIndex) -> Result<Stored> {
        let meta = scan::stat(src)?;
        if !meta.is_file() {
            return Err(crate::error::os_error(src, libc::EISDIR));
        }
        self.store_known(src, StatKey::of(&meta), hash::is_executable(&meta), index)
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
        let (file, tmp) = self.copy_in(src)?;
        crate::progress::add(file.key.size);
        let dest = self.object_path(&file.digest);
        let written = self.publish(&tmp, &dest)?;
        let object_key = if written {
            fs::metadata(&dest).ok().map(|m| StatKey::of(&m))
        } else {
            None
        };
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
            let tmp = temp_name(&self.temp_dir()?.join("tree"));
            fs::write(&tmp, &bytes).at(&tmp)?;
            self.publish(&tmp, &dest)?;
        }
        Ok(digest)
    }

    /// Store every file under `root` and the tree's manifest.
    pub fn store_tree(&self, root: &Path, index: &mut StatIndex) -> Result<StoredTree> {
        let found = walk::walk(root)?;
        let results: Vec<Result<Stored>> = {
            let idx = &*index;
            pool::run(|| {
                found
                    .par_iter()
                    .map(|f| self.store_known(&f.path(root), f.key, f.executable, idx))
                    .collect()
            })
        };
        let mut entries: Vec<Entry> = Vec::with_capacity(found.len());
        let (mut read, mut written) = (0, 0);
        for (f, r) in found.iter().zip(results) {
            let s = r?;
            if s.read {
                read += 1;
                index.insert(s.file.key, s.file.digest);
            }
            if let Some(k) = s.object_key {
                index.insert_object(k, s.file.digest);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_idempotent_and_read_only() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(&d.path().join("cache"));
        let src = d.path().join("f");
        fs::write(&src, b"hello").unwrap();
        let idx = StatIndex::in_memory();
        let a = cache.store_file(&src, &idx).unwrap();
        assert!(a.written && a.read);
        let obj = cache.object_path(&a.file.digest);
        assert_eq!(fs::read(&obj).unwrap(), b"hello");
        assert_eq!(
            fs::metadata(&obj).unwrap().permissions().mode() & 0o777,
            0o444
        );
        let b = cache.store_file(&src, &idx).unwrap();
        assert!(!b.written);
        assert_eq!(a.file.digest, b.file.digest);
        // Nothing is left in the temp folder.
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
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
        let t = cache.store_tree(&data, &mut idx).unwrap();
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
}
