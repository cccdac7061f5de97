//! The file watcher behind `trails daemon`: one process per project, fed by
//! inotify, that answers "which paths changed since token T" over a Unix
//! socket, so that a no-op `status` stats only what changed.
//!
//! Never stale, by construction (git's fsmonitor protocol does the same):
//! - before answering, the daemon writes a cookie file and waits until its
//!   own event comes back through the inotify queue: every change made
//!   before the question was asked has then been read;
//! - a token names this daemon instance and a sequence number; a token of
//!   another instance (a restart), or older than the last loss of history
//!   (a queue overflow, a trimmed journal), gets "full": check everything;
//! - while the watches are incomplete (starting, re-scanning after an
//!   overflow) or could not all be added (the `max_user_watches` limit),
//!   every answer is "full", with no token to build on;
//! - symlinks are reported as changed on every answer (inotify does not see
//!   through them, and the check follows them).
//!
//! Protocol (one request line, ASCII; answers start with the same tag):
//! `TFM1 since <token>` -> `TFM1 ok <token> <n>\n` and n paths, each ended
//! by a NUL byte, or `TFM1 full <token|-> <reason>\n`; `TFM1 status` ->
//! `TFM1 status <key=value ...>\n`; `TFM1 stop` -> `TFM1 bye\n`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::error::{IoContext, Result};

pub const TAG: &str = "TFM1";
pub const SOCKET: &str = "sock";
pub const COOKIES: &str = "cookies";
/// Beyond this many changed paths the answer is "full": re-checking
/// everything is then as cheap as listing them.
const MAX_ANSWER: usize = 100_000;
/// The journal of changed paths is dropped (and older tokens refused) past
/// this size, so a long-lived daemon's memory stays bounded.
const MAX_JOURNAL: usize = 1_000_000;
const COOKIE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Options {
    /// The project root, watched recursively.
    pub root: PathBuf,
    /// The daemon's own folder (`.dvc/tmp/fsmonitor`): socket, cookies.
    pub dir: PathBuf,
    /// Behave as if the kernel refused watches beyond this many (tests of
    /// the `max_user_watches` fallback).
    pub max_watches: Option<usize>,
}

#[derive(Debug, Default)]
struct State {
    instance: String,
    seq: u64,
    /// Tokens below this lost history (overflow, trim): "full".
    floor: u64,
    /// The watches cover the tree (not starting, not re-scanning).
    valid: bool,
    /// Why the daemon cannot watch at all (watch limit): always "full".
    degraded: Option<String>,
    changed: HashMap<Vec<u8>, u64>,
    symlinks: HashSet<Vec<u8>>,
    cookies_seen: u64,
    /// Incremented by each re-scan: a cookie of an older generation is lost.
    generation: u64,
    watches: usize,
    overflows: u64,
    stop: Option<String>,
}

impl State {
    fn record(&mut self, rel: Vec<u8>) {
        self.seq += 1;
        self.changed.insert(rel, self.seq);
        if self.changed.len() > MAX_JOURNAL {
            self.changed.clear();
            self.floor = self.seq;
        }
    }

    fn token(&self) -> String {
        format!("{}.{}", self.instance, self.seq)
    }

    /// The answer to "what changed since `token`" (the cookie already seen).
    fn since(&self, token: &str) -> Vec<u8> {
        if !self.valid {
            let why = self
                .degraded
                .as_deref()
                .unwrap_or("the watcher is starting");
            return format!("{TAG} full - {why}\n").into_bytes();
        }
        let now = self.token();
        let seq = token
            .split_once('.')
            .filter(|(inst, _)| *inst == self.instance)
            .and_then(|(_, n)| n.parse::<u64>().ok());
        let Some(seq) = seq else {
            return format!("{TAG} full {now} new token (first use, or the daemon restarted)\n")
                .into_bytes();
        };
        if seq < self.floor {
            return format!("{TAG} full {now} events were lost (queue overflow)\n").into_bytes();
        }
        let mut paths: Vec<&[u8]> = self
            .changed
            .iter()
            .filter(|(_, s)| **s > seq)
            .map(|(p, _)| p.as_slice())
            .collect();
        paths.extend(self.symlinks.iter().map(|p| p.as_slice()));
        if paths.len() > MAX_ANSWER {
            return format!("{TAG} full {now} too many changes\n").into_bytes();
        }
        paths.sort_unstable();
        paths.dedup();
        let mut out = format!("{TAG} ok {now} {}\n", paths.len()).into_bytes();
        for p in paths {
            out.extend_from_slice(p);
            out.push(0);
        }
        out
    }

    fn status(&self) -> String {
        let state = match (&self.degraded, self.valid) {
            (Some(_), _) => "degraded",
            (None, true) => "ready",
            (None, false) => "starting",
        };
        let reason = self.degraded.as_deref().unwrap_or("");
        format!(
            "{TAG} status state={state} pid={} token={} watches={} overflows={} reason={reason}\n",
            std::process::id(),
            self.token(),
            self.watches,
            self.overflows
        )
    }
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    cookies: AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What to do with a folder met in the tree.
#[derive(PartialEq)]
enum Descend {
    /// Watch it and everything below.
    Full,
    /// Watch the folder itself only (`.git`: its index, config, info/).
    Only,
    Skip,
}

fn descend(rel: &[u8]) -> Descend {
    match rel {
        b".git" | b".git/info" => Descend::Only,
        b".dvc/tmp" => Descend::Skip,
        _ if rel.starts_with(b".git/") || rel.starts_with(b".dvc/tmp/") => Descend::Skip,
        _ => Descend::Full,
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

fn under(path: &[u8], dir: &[u8]) -> bool {
    path == dir || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'))
}

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::DONT_FOLLOW
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

/// The reader's side: the inotify instance and what each watch stands for.
struct Watcher {
    ino: Inotify,
    wds: HashMap<WatchDescriptor, Vec<u8>>,
    cookie_wd: Option<WatchDescriptor>,
    root_wd: Option<WatchDescriptor>,
    opts: Options,
}

/// A watch could not be added because of the kernel's (or the test knob's)
/// limit: the daemon cannot be trusted at all.
struct LimitReached(String);

fn limit_message(n: usize) -> String {
    let max = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!(
        "the inotify watch limit was reached after {n} folders \
         (fs.inotify.max_user_watches = {max}); raise it \
         ('sudo sysctl fs.inotify.max_user_watches=1048576'), then restart the daemon"
    )
}

impl Watcher {
    fn new(opts: Options) -> Result<Watcher> {
        let ino = Inotify::init().at(&opts.root)?;
        Ok(Watcher {
            ino,
            wds: HashMap::new(),
            cookie_wd: None,
            root_wd: None,
            opts,
        })
    }

    fn add(&mut self, rel: &[u8]) -> std::result::Result<Option<WatchDescriptor>, LimitReached> {
        if self.opts.max_watches.is_some_and(|m| self.wds.len() >= m) {
            return Err(LimitReached(limit_message(self.wds.len())));
        }
        let path = self.opts.root.join(OsStr::from_bytes(rel));
        match self.ino.watches().add(&path, mask()) {
            Ok(wd) => {
                self.wds.insert(wd.clone(), rel.to_vec());
                Ok(Some(wd))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                Err(LimitReached(limit_message(self.wds.len())))
            }
            // Gone already, or unreadable: the check meets it on its own.
            Err(_) => Ok(None),
        }
    }

    /// Watch `rel` and the folders below it; with `record`, every path
    /// found is recorded as changed (a folder that just appeared: files
    /// made in it before its watch existed were seen by nobody).
    fn watch_tree(
        &mut self,
        rel: &[u8],
        state: &Mutex<State>,
        record: bool,
    ) -> std::result::Result<(), LimitReached> {
        let mut todo = vec![rel.to_vec()];
        while let Some(dir) = todo.pop() {
            let how = descend(&dir);
            if how == Descend::Skip {
                continue;
            }
            let Some(wd) = self.add(&dir)? else {
                continue;
            };
            if dir.is_empty() {
                self.root_wd = Some(wd);
            }
            let Ok(entries) = std::fs::read_dir(self.opts.root.join(OsStr::from_bytes(&dir)))
            else {
                continue;
            };
            let mut found = Vec::new();
            let mut links = Vec::new();
            for e in entries.flatten() {
                let child = join(&dir, e.file_name().as_bytes());
                let Ok(kind) = e.file_type() else { continue };
                if kind.is_dir() && how == Descend::Full {
                    todo.push(child.clone());
                } else if kind.is_symlink() {
                    links.push(child.clone());
                }
                if record {
                    found.push(child);
                }
            }
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.symlinks.extend(links);
            for p in found {
                s.record(p);
            }
            s.watches = self.wds.len();
        }
        Ok(())
    }

    fn start(&mut self, state: &Mutex<State>) -> std::result::Result<(), LimitReached> {
        self.watch_tree(b"", state, false)?;
        let cookies = self.opts.dir.join(COOKIES);
        match self.ino.watches().add(&cookies, mask()) {
            Ok(wd) => self.cookie_wd = Some(wd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                return Err(LimitReached(limit_message(self.wds.len())))
            }
            Err(_) => {}
        }
        Ok(())
    }

    /// Forget the watches of a folder that moved away or was deleted.
    fn forget(&mut self, rel: &[u8], remove: bool) {
        let gone: Vec<WatchDescriptor> = self
            .wds
            .iter()
            .filter(|(_, p)| under(p, rel))
            .map(|(wd, _)| wd.clone())
            .collect();
        for wd in gone {
            self.wds.remove(&wd);
            if remove {
                let _ = self.ino.watches().remove(wd);
            }
        }
    }
}

/// Everything the reader thread does: the first walk, then events until
/// the process ends.
fn read_loop(opts: Options, shared: Arc<Shared>) {
    loop {
        let mut w = match Watcher::new(opts.clone()) {
            Ok(w) => w,
            Err(e) => return degrade(&shared, format!("inotify is not available: {e}")),
        };
        if let Err(LimitReached(why)) = w.start(&shared.state) {
            drop(w);
            return degrade(&shared, why);
        }
        {
            let mut s = shared.lock();
            s.floor = s.seq;
            s.valid = true;
            s.generation += 1;
            s.watches = w.wds.len();
        }
        shared.cond.notify_all();
        match events(&mut w, &shared) {
            Ok(()) => return,
            // Events were lost: start again from a fresh instance (no
            // stale watch left pointing at a renamed folder).
            Err(Lost::Overflow) => {
                let mut s = shared.lock();
                s.valid = false;
                s.overflows += 1;
                s.changed.clear();
                s.symlinks.clear();
            }
            Err(Lost::Limit(why)) => return degrade(&shared, why),
        }
    }
}

fn degrade(shared: &Shared, why: String) {
    let mut s = shared.lock();
    s.valid = false;
    s.degraded = Some(why);
    s.watches = 0;
    drop(s);
    shared.cond.notify_all();
}

enum Lost {
    Overflow,
    Limit(String),
}

fn events(w: &mut Watcher, shared: &Shared) -> std::result::Result<(), Lost> {
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let batch: Vec<(WatchDescriptor, EventMask, Option<Vec<u8>>)> =
            match w.ino.read_events_blocking(&mut buffer) {
                Ok(evs) => evs
                    .map(|e| (e.wd, e.mask, e.name.map(|n| n.as_bytes().to_vec())))
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Lost::Limit(format!("reading inotify events failed: {e}"))),
            };
        if batch
            .iter()
            .any(|(_, m, _)| m.contains(EventMask::Q_OVERFLOW))
        {
            return Err(Lost::Overflow);
        }
        for (wd, m, name) in batch {
            if w.cookie_wd.as_ref() == Some(&wd) {
                if m.contains(EventMask::CREATE) {
                    let n = name
                        .and_then(|n| std::str::from_utf8(&n).ok()?.parse::<u64>().ok())
                        .unwrap_or(0);
                    let mut s = shared.lock();
                    s.cookies_seen = s.cookies_seen.max(n);
                    drop(s);
                    shared.cond.notify_all();
                }
                continue;
            }
            if m.contains(EventMask::IGNORED) {
                w.wds.remove(&wd);
                continue;
            }
            let Some(dir) = w.wds.get(&wd).cloned() else {
                continue;
            };
            let Some(name) = name else {
                let gone = m.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF);
                if gone && w.root_wd.as_ref() == Some(&wd) {
                    let mut s = shared.lock();
                    s.stop = Some("the project folder was removed or moved".into());
                    s.valid = false;
                    return Ok(());
                }
                continue;
            };
            let rel = join(&dir, &name);
            {
                let mut s = shared.lock();
                s.record(rel.clone());
                if m.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                    s.symlinks.retain(|p| !under(p, &rel));
                }
            }
            let appeared = m.intersects(EventMask::CREATE | EventMask::MOVED_TO);
            if m.contains(EventMask::ISDIR) {
                if m.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                    w.forget(&rel, m.contains(EventMask::MOVED_FROM));
                }
                if appeared {
                    w.watch_tree(&rel, &shared.state, true)
                        .map_err(|LimitReached(why)| Lost::Limit(why))?;
                }
            } else if appeared {
                let path = w.opts.root.join(OsStr::from_bytes(&rel));
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                    shared.lock().symlinks.insert(rel);
                }
            }
        }
        shared.lock().watches = w.wds.len();
    }
}

/// Ask the reader for a cookie round trip: true once every event queued
/// before now has been read (false: timed out, or the watches were rebuilt
/// meanwhile; the caller then trusts only a valid state).
fn sync(shared: &Shared, dir: &Path) -> bool {
    let n = shared.cookies.fetch_add(1, Ordering::Relaxed) + 1;
    let generation = shared.lock().generation;
    let cookie = dir.join(COOKIES).join(n.to_string());
    if std::fs::File::create(&cookie).is_err() {
        return false;
    }
    let deadline = Instant::now() + COOKIE_WAIT;
    let mut s = shared.lock();
    let ok = loop {
        if s.cookies_seen >= n {
            break true;
        }
        if s.generation != generation || s.degraded.is_some() {
            break false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        s = shared
            .cond
            .wait_timeout(s, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    };
    drop(s);
    let _ = std::fs::remove_file(&cookie);
    ok
}

fn handle(stream: UnixStream, shared: &Shared, dir: &Path) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let mut reader = BufReader::new((&stream).take(4096));
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut words = line.split_whitespace();
    let answer = match (words.next(), words.next(), words.next()) {
        (Some(TAG), Some("since"), token) => {
            let token = token.unwrap_or("-");
            let valid = shared.lock().valid;
            let synced = valid && sync(shared, dir);
            let s = shared.lock();
            if synced || !s.valid {
                s.since(token)
            } else {
                format!("{TAG} full - the watcher did not see its cookie in time\n").into_bytes()
            }
        }
        (Some(TAG), Some("status"), _) => shared.lock().status().into_bytes(),
        (Some(TAG), Some("stop"), _) => {
            shared.lock().stop = Some("asked to stop".into());
            format!("{TAG} bye\n").into_bytes()
        }
        _ => format!("{TAG} error unknown request\n").into_bytes(),
    };
    let mut stream = stream;
    let _ = stream.write_all(&answer);
}

fn instance() -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{:x}{:x}", ns, std::process::id())
}

/// Run the daemon until it is asked to stop, its socket is removed or the
/// project folder goes away; returns why it stopped. The caller holds the
/// daemon lock (one daemon per project) and made `opts.dir`.
pub fn serve(opts: Options) -> Result<String> {
    let cookies = opts.dir.join(COOKIES);
    let _ = std::fs::remove_dir_all(&cookies);
    std::fs::create_dir_all(&cookies).at(&cookies)?;
    // Bound by a relative name: a socket path is limited to 108 bytes.
    std::env::set_current_dir(&opts.dir).at(&opts.dir)?;
    let sock = opts.dir.join(SOCKET);
    let _ = std::fs::remove_file(SOCKET);
    let listener = UnixListener::bind(SOCKET).at(&sock)?;
    let sock_ino = std::fs::metadata(SOCKET).at(&sock)?.ino();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            instance: instance(),
            ..State::default()
        }),
        cond: Condvar::new(),
        cookies: AtomicU64::new(0),
    });
    {
        let (opts, shared) = (opts.clone(), shared.clone());
        std::thread::spawn(move || read_loop(opts, shared));
    }
    let fd = listener.as_raw_fd();
    loop {
        let ours = std::fs::metadata(&sock).is_ok_and(|m| m.ino() == sock_ino);
        if let Some(why) = shared.lock().stop.clone() {
            if ours {
                let _ = std::fs::remove_file(&sock);
            }
            return Ok(why);
        }
        if !ours {
            return Ok("its socket was removed".into());
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the listener's descriptor.
        let ready = unsafe { libc::poll(&mut pfd, 1, 500) };
        if ready <= 0 {
            continue;
        }
        if let Ok((stream, _)) = listener.accept() {
            let shared = shared.clone();
            let dir = opts.dir.clone();
            std::thread::spawn(move || handle(stream, &shared, &dir));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn ask(dir: &Path, line: &str) -> Vec<u8> {
        let mut s = UnixStream::connect(dir.join(SOCKET)).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }

    fn header(answer: &[u8]) -> Vec<String> {
        let end = answer.iter().position(|b| *b == b'\n').unwrap();
        String::from_utf8_lossy(&answer[..end])
            .split(' ')
            .map(str::to_string)
            .collect()
    }

    fn paths(answer: &[u8]) -> Vec<String> {
        let end = answer.iter().position(|b| *b == b'\n').unwrap();
        answer[end + 1..]
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    fn project(max_watches: Option<usize>) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("proj");
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::create_dir_all(root.join(".dvc/tmp/fsmonitor")).unwrap();
        fs::write(root.join("data/sub/a"), b"a").unwrap();
        let dir = root.join(".dvc/tmp/fsmonitor");
        let opts = Options {
            root: root.clone(),
            dir: dir.clone(),
            max_watches,
        };
        std::thread::spawn(move || serve(opts));
        (d, root, dir)
    }

    #[test]
    fn the_watch_limit_means_always_full() {
        let (_d, _root, dir) = project(Some(2));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if dir.join(SOCKET).exists() {
                let s = String::from_utf8(ask(&dir, "TFM1 status\n")).unwrap();
                if s.contains("state=degraded") {
                    assert!(s.contains("max_user_watches"), "{s}");
                    break;
                }
            }
            assert!(Instant::now() < deadline, "never degraded");
            std::thread::sleep(Duration::from_millis(20));
        }
        let a = ask(&dir, "TFM1 since -\n");
        assert_eq!(header(&a)[1..3], ["full", "-"]);
        assert_eq!(ask(&dir, "TFM1 stop\n"), b"TFM1 bye\n");
    }

    #[test]
    fn answers_what_changed_since_a_token() {
        let (_d, root, dir) = project(None);
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            if dir.join(SOCKET).exists() {
                let a = ask(&dir, "TFM1 since -\n");
                if header(&a)[2] != "-" {
                    break a;
                }
            }
            assert!(Instant::now() < deadline, "daemon never became ready");
            std::thread::sleep(Duration::from_millis(20));
        };
        let h = header(&first);
        assert_eq!(h[1], "full", "a first token is never trusted");
        let token = h[2].clone();
        let quiet = ask(&dir, &format!("TFM1 since {token}\n"));
        assert_eq!(header(&quiet)[1], "ok");
        assert!(paths(&quiet).is_empty(), "cookies are not changes");
        fs::write(root.join("data/sub/a"), b"b").unwrap();
        fs::create_dir_all(root.join("new/deep")).unwrap();
        fs::write(root.join("new/deep/f"), b"f").unwrap();
        fs::rename(root.join("data/sub"), root.join("data/moved")).unwrap();
        fs::write(root.join(".dvc/tmp/ignored"), b"x").unwrap();
        let a = ask(&dir, &format!("TFM1 since {token}\n"));
        assert_eq!(header(&a)[1], "ok");
        let got = paths(&a);
        for p in ["data/sub/a", "new", "data/sub", "data/moved"] {
            assert!(got.contains(&p.to_string()), "{p} missing from {got:?}");
        }
        assert!(got.iter().all(|p| !p.starts_with(".dvc/tmp")), "{got:?}");
        // Files in the moved folder are still watched, under the new name.
        let t2 = header(&a)[2].clone();
        fs::write(root.join("data/moved/a"), b"c").unwrap();
        let b = ask(&dir, &format!("TFM1 since {t2}\n"));
        assert_eq!(paths(&b), vec!["data/moved/a".to_string()]);
        let other = ask(&dir, "TFM1 since 123.4\n");
        assert_eq!(header(&other)[1], "full", "another instance's token");
        assert_eq!(ask(&dir, "TFM1 stop\n"), b"TFM1 bye\n");
    }
}
