//! Materialising a cache object at a workspace path: reflink, hardlink,
//! symlink or copy, the first that works from a configured list.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::hash::StatKey;
use crate::state::temp_name;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Reflink,
    Hardlink,
    Symlink,
    Copy,
}

impl LinkType {
    pub fn name(self) -> &'static str {
        match self {
            LinkType::Reflink => "reflink",
            LinkType::Hardlink => "hardlink",
            LinkType::Symlink => "symlink",
            LinkType::Copy => "copy",
        }
    }

    pub fn parse(name: &str) -> Result<LinkType> {
        match name.trim() {
            "reflink" => Ok(LinkType::Reflink),
            "hardlink" => Ok(LinkType::Hardlink),
            "symlink" => Ok(LinkType::Symlink),
            "copy" => Ok(LinkType::Copy),
            other => Err(Error::BadLinkType {
                name: other.to_string(),
            }),
        }
    }
}

/// The reference tool's default: clone where the file system can, else copy.
pub const DEFAULT: [LinkType; 2] = [LinkType::Reflink, LinkType::Copy];

/// Errors that mean "this link type is not possible here", as opposed to a
/// real failure (no space, permission denied on the workspace).
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EXDEV
                | libc::EOPNOTSUPP
                | libc::ENOTTY
                | libc::EINVAL
                | libc::ENOSYS
                | libc::EPERM
                | libc::EMLINK
        )
    )
}

/// The process umask, read once from `/proc/self/status` (`umask(2)` can
/// only read it by setting it, a race with the threads creating files);
/// 022 where that line is missing.
pub(crate) fn umask() -> u32 {
    static MASK: OnceLock<u32> = OnceLock::new();
    *MASK.get_or_init(|| {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

/// Mode of a materialised writable file: what creating it would give
/// (0666, or 0777 for an executable, less the umask), so a user whose
/// umask keeps files private (077) gets 0600, not a world-readable 0644.
fn file_mode(exec: bool) -> u32 {
    (if exec { 0o777 } else { 0o666 }) & !umask()
}

/// Create `dest` (which must not exist) from the object `src`.
pub fn make(t: LinkType, src: &Path, dest: &Path, exec: bool) -> io::Result<()> {
    match t {
        LinkType::Hardlink => {
            if exec {
                // The object is shared by every link; an exec bit on a
                // read-only object is harmless to the others.
                let mode = fs::metadata(src)?.permissions().mode();
                if mode & 0o111 == 0 {
                    fs::set_permissions(src, fs::Permissions::from_mode(0o555))?;
                }
            }
            fs::hard_link(src, dest)
        }
        LinkType::Symlink => {
            let abs = fs::canonicalize(src)?;
            std::os::unix::fs::symlink(abs, dest)
        }
        LinkType::Reflink => via_temp(dest, exec, |tmp| reflink(src, tmp)),
        LinkType::Copy => copy_new(src, dest, exec).map(|_| ()),
    }
}

/// Write a new file under a temporary name and rename it into place, so an
/// interrupted checkout never leaves a half-written file at `dest`.
fn via_temp(
    dest: &Path,
    exec: bool,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_name(dest);
    let r = write(&tmp)
        .and_then(|_| fs::set_permissions(&tmp, fs::Permissions::from_mode(file_mode(exec))))
        .and_then(|_| fs::rename(&tmp, dest));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// Copy the object `src` to a new file at `dest` (whatever is there is
/// replaced by the rename), in the fewest syscalls a checkout of many small
/// files can make: the temporary file is created with its final mode (no
/// chmod after), the bytes go by `copy_file_range` until it returns 0 (no
/// stat of either file first, as `fs::copy` takes two), and the stat the
/// stat index needs is taken on the open descriptor (the rename keeps it).
/// 8 syscalls where `fs::copy` in a temporary file took 12.
pub fn copy_new(src: &Path, dest: &Path, exec: bool) -> io::Result<StatKey> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = temp_name(dest);
    let r = (|| {
        let mut s = fs::File::open(src)?;
        let mut d = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file_mode(exec))
            .open(&tmp)?;
        copy_fd(&mut s, &mut d)?;
        let key = StatKey::of(&d.metadata()?);
        fs::rename(&tmp, dest)?;
        Ok(key)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// All of `s` (from its offset) into `d`: in the kernel where it can, else
/// through a buffer (a kernel or file system without `copy_file_range`).
fn copy_fd(s: &mut fs::File, d: &mut fs::File) -> io::Result<()> {
    loop {
        // SAFETY: both descriptors are open; null offsets use and advance
        // the files' own, so a fallback after a partial copy goes on from
        // where the kernel stopped.
        let n = unsafe {
            libc::copy_file_range(
                s.as_raw_fd(),
                std::ptr::null_mut(),
                d.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 30,
                0,
            )
        };
        match n {
            0 => return Ok(()),
            n if n > 0 => continue,
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) => {
                        return io::copy(s, d).map(|_| ())
                    }
                    _ => return Err(e),
                }
            }
        }
    }
}

/// Clone `src` into a new file `dest` (Linux FICLONE ioctl).
pub(crate) fn reflink(src: &Path, dest: &Path) -> io::Result<()> {
    const FICLONE: libc::c_ulong = 0x4004_9409;
    let s = fs::File::open(src)?;
    let d = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)?;
    // SAFETY: both descriptors are open for the duration of the call.
    let rc = unsafe { libc::ioctl(d.as_raw_fd(), FICLONE as _, s.as_raw_fd()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Links files with the first type in `types` that works, remembering it so
/// that later files start with the type that worked.
pub struct Linker {
    types: Vec<LinkType>,
    start: AtomicUsize,
}

impl Linker {
    pub fn new(types: Vec<LinkType>) -> Linker {
        let types = if types.is_empty() {
            DEFAULT.to_vec()
        } else {
            types
        };
        Linker {
            types,
            start: AtomicUsize::new(0),
        }
    }

    pub fn types(&self) -> &[LinkType] {
        &self.types
    }

    /// The type the next file starts with (the first that worked so far).
    pub fn current(&self) -> LinkType {
        self.types[self.start.load(Ordering::Relaxed).min(self.types.len() - 1)]
    }

    /// Find out once, with two empty files in `dir`, whether reflinks work
    /// there, and if not start from the next type: storing a file tries
    /// the current type on the real file after hashing it, and a failed
    /// reflink would then cost a second pass over the bytes (a plain copy
    /// after the hash, instead of the copy that hashes as it goes).
    pub fn settle_reflink(&self, dir: &Path) {
        let start = self.start.load(Ordering::Relaxed);
        if self.types.get(start) != Some(&LinkType::Reflink) || start + 1 >= self.types.len() {
            return;
        }
        let (src, dest) = (temp_name(&dir.join("probe")), temp_name(&dir.join("probe")));
        let r = fs::File::create(&src).and_then(|_| reflink(&src, &dest));
        let _ = fs::remove_file(&src);
        let _ = fs::remove_file(&dest);
        if matches!(&r, Err(e) if unsupported(e)) {
            self.start.fetch_max(start + 1, Ordering::Relaxed);
        }
    }

    /// Materialise `src` at `dest`; returns the link type used.
    pub fn link(&self, src: &Path, dest: &Path, exec: bool) -> Result<LinkType> {
        self.first_working(dest, |t| make(t, src, dest, exec))
    }

    /// As `link`, with `copy_new` for copies, which also returns the new
    /// file's stat (None for the other types: links share the object's
    /// inode, and a reflink's stat is taken by the caller).
    pub fn link_keyed(
        &self,
        src: &Path,
        dest: &Path,
        exec: bool,
    ) -> Result<(LinkType, Option<StatKey>)> {
        let mut key = None;
        let t = self.first_working(dest, |t| match t {
            LinkType::Copy => copy_new(src, dest, exec).map(|k| key = Some(k)),
            _ => make(t, src, dest, exec),
        })?;
        Ok((t, key))
    }

    /// Run `op` with each type in turn, from the first that worked before,
    /// until one works; a type the file system does not support moves on to
    /// the next, any other error stops. `path` names the file in errors.
    pub fn first_working(
        &self,
        path: &Path,
        mut op: impl FnMut(LinkType) -> io::Result<()>,
    ) -> Result<LinkType> {
        let start = self.start.load(Ordering::Relaxed);
        let mut last: Option<io::Error> = None;
        for (i, t) in self.types.iter().enumerate().skip(start) {
            match op(*t) {
                Ok(()) => {
                    self.start.fetch_max(i, Ordering::Relaxed);
                    return Ok(*t);
                }
                Err(e) if unsupported(&e) => last = Some(e),
                Err(e) => {
                    return Err(Error::Io {
                        path: path.to_path_buf(),
                        source: e,
                    });
                }
            }
        }
        Err(Error::NoLinkType {
            path: path.to_path_buf(),
            tried: self
                .types
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", "),
            source: last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn each_type_materialises_the_bytes() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("obj");
        fs::write(&src, b"payload").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o444)).unwrap();
        for t in [LinkType::Hardlink, LinkType::Symlink, LinkType::Copy] {
            let dest = d.path().join(t.name());
            make(t, &src, &dest, false).unwrap();
            assert_eq!(fs::read(&dest).unwrap(), b"payload");
        }
        let dest = d.path().join("fast");
        fs::write(&dest, b"replaced").unwrap();
        let key = copy_new(&src, &dest, true).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"payload");
        let meta = fs::metadata(&dest).unwrap();
        assert_eq!(
            key,
            StatKey::of(&meta),
            "the stat is the file's after the rename"
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o777 & !umask());
        let same = fs::metadata(d.path().join("hardlink")).unwrap().ino()
            == fs::metadata(&src).unwrap().ino();
        assert!(same);
        let copy_mode = fs::metadata(d.path().join("copy"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(copy_mode & 0o777, 0o666 & !umask(), "copies are writable");
    }

    #[test]
    fn falls_back_and_remembers() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("obj");
        fs::write(&src, b"x").unwrap();
        // Either reflink works here or it is unsupported and copy takes over.
        let linker = Linker::new(vec![LinkType::Reflink, LinkType::Copy]);
        let used = linker.link(&src, &d.path().join("a"), false).unwrap();
        let again = linker.link(&src, &d.path().join("b"), false).unwrap();
        assert_eq!(used, again);
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"x");
    }

    #[test]
    fn unknown_type_is_named() {
        assert_eq!(
            LinkType::parse("hardlnk").unwrap_err().to_string(),
            "unknown link type 'hardlnk'; use reflink, hardlink, symlink or copy"
        );
    }
}
