//! [`FileDigests`]: a persistent cache of file digests keyed by inode, size, mtime and ctime, so
//! unchanged files are not re-read (as git's index and Bazel do).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bld_core::Digest;

use crate::{Store, StoreError, digest_file};

const FORMAT: &[u8; 16] = b"bld-filedigest-1";
/// Files changed this recently are hashed but not remembered: a write within the same
/// timestamp tick could otherwise go unnoticed (git's "racy clean" problem). The window covers
/// the tick: whole seconds (2 s, FAT's) where a file's times have no fraction, else a
/// generous multiple of the kernel's (a jiffy, at most 10 ms), so that files copied just
/// before a build are remembered by it rather than hashed again by the next.
const RACY_WINDOW_NS: i128 = 2_000_000_000;
const FINE_RACY_WINDOW_NS: i128 = 100_000_000;

/// What bld needs to know of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// sha256 of the content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    mode: u32,
}

impl Stamp {
    /// Equal but for ctime: the same file, not written since.
    fn same_content_as(&self, other: &Stamp) -> bool {
        Stamp {
            ctime_ns: other.ctime_ns,
            ..*self
        } == *other
    }

    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
            mode: meta.mode(),
        }
    }
}

/// Cached digests of files, loaded from and saved to the store.
pub struct FileDigests {
    path: PathBuf,
    entries: Mutex<HashMap<PathBuf, (Stamp, Digest)>>,
    dirty: AtomicBool,
}

impl FileDigests {
    /// Loads the cache of `store` (an unreadable or foreign file is an empty cache).
    pub fn load(store: &Store) -> FileDigests {
        let path = store.root().join("file-digests");
        let entries = fs::read(&path)
            .ok()
            .and_then(|bytes| decode(&bytes))
            .unwrap_or_default();
        FileDigests {
            path,
            entries: Mutex::new(entries),
            dirty: AtomicBool::new(false),
        }
    }

    /// The digest of the file at `path` (following symlinks), from the cache when the file's
    /// inode, size, mtime, ctime and mode are unchanged.
    pub fn get(&self, path: &Path) -> io::Result<FileInfo> {
        let meta = fs::metadata(path)?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let stamp = Stamp::of(&meta);
        let mode = stamp.mode & 0o7777;
        if let Some((_, digest)) = self.lock().get(path).filter(|(cached, _)| *cached == stamp) {
            return Ok(FileInfo {
                digest: *digest,
                size: stamp.size,
                mode,
            });
        }
        let (digest, size) = digest_file(path)?;
        let after = fs::metadata(path).map(|m| Stamp::of(&m))?;
        if after == stamp && size == stamp.size && !is_racy(&stamp) {
            self.lock().insert(path.to_owned(), (stamp, digest));
            self.dirty.store(true, Ordering::Relaxed);
        }
        Ok(FileInfo { digest, size, mode })
    }

    /// Whether the store blob at `path` still holds `digest`'s content: one `stat` when its
    /// inode, size, mode, mtime and ctime are as last seen (a write changes the ctime even
    /// when the mtime is set back), otherwise a re-hash. bld's own hard links into `bld-out/`
    /// change the ctime too: [`FileDigests::relinked`] records the new one.
    pub fn blob_is_intact(&self, path: &Path, digest: &Digest) -> bool {
        let Ok(meta) = fs::metadata(path) else {
            return false;
        };
        let stamp = Stamp::of(&meta);
        let known = self
            .lock()
            .get(path)
            .is_some_and(|(cached, cached_digest)| *cached == stamp && cached_digest == digest);
        known || self.get(path).is_ok_and(|info| info.digest == *digest)
    }

    /// Records the blob at `path` as still holding `digest` after bld hard-linked it (which
    /// changed only its ctime), if it held it just before.
    pub fn relinked(&self, path: &Path, digest: &Digest, before: &fs::Metadata) {
        let Ok(meta) = fs::metadata(path) else {
            return;
        };
        let (before, now) = (Stamp::of(before), Stamp::of(&meta));
        let mut entries = self.lock();
        let was_known = entries
            .get(path)
            .is_some_and(|(cached, cached_digest)| *cached == before && cached_digest == digest);
        if was_known && before.same_content_as(&now) {
            entries.insert(path.to_owned(), (now, *digest));
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Records that the store blob at `path`, which bld just wrote, holds `digest`'s content.
    pub fn remember_blob(&self, path: &Path, digest: &Digest) {
        if let Ok(meta) = fs::metadata(path) {
            self.lock()
                .insert(path.to_owned(), (Stamp::of(&meta), *digest));
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Writes the cache back to the store if anything was added.
    pub fn save(&self, store: &Store) -> Result<(), StoreError> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let bytes = encode(&self.lock());
        store.write_atomically(&self.path, &bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Stamp, Digest)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn is_racy(stamp: &Stamp) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let whole_seconds = stamp.mtime_ns % 1_000_000_000 == 0 && stamp.ctime_ns % 1_000_000_000 == 0;
    let window = if whole_seconds {
        RACY_WINDOW_NS
    } else {
        FINE_RACY_WINDOW_NS
    };
    now - i128::from(stamp.mtime_ns.max(stamp.ctime_ns)) < window
}

fn encode(entries: &HashMap<PathBuf, (Stamp, Digest)>) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::with_capacity(16 + entries.len() * 120);
    out.extend_from_slice(FORMAT);
    for (path, (stamp, digest)) in entries {
        let path = path.as_os_str().as_bytes();
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        for v in [
            stamp.dev,
            stamp.ino,
            stamp.size,
            stamp.mtime_ns as u64,
            stamp.ctime_ns as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&stamp.mode.to_le_bytes());
        out.extend_from_slice(digest.as_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Option<HashMap<PathBuf, (Stamp, Digest)>> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let mut rest = bytes.strip_prefix(FORMAT.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    // A record is at least 88 bytes; most paths are a few dozen.
    let mut entries = HashMap::with_capacity(bytes.len() / 128);
    while let Some(len) = take(4) {
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let path = PathBuf::from(OsStr::from_bytes(take(len)?));
        let mut u = [0u64; 5];
        for v in &mut u {
            *v = u64::from_le_bytes(take(8)?.try_into().ok()?);
        }
        let mode = u32::from_le_bytes(take(4)?.try_into().ok()?);
        let digest = Digest::from_bytes(take(32)?.try_into().ok()?);
        let stamp = Stamp {
            dev: u[0],
            ino: u[1],
            size: u[2],
            mtime_ns: u[3] as i64,
            ctime_ns: u[4] as i64,
            mode,
        };
        entries.insert(path, (stamp, digest));
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file written a moment ago is remembered once its times are past the kernel's tick;
    /// times in whole seconds (a coarse file system) wait out 2 s.
    #[test]
    fn the_racy_window_follows_the_timestamps_granularity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("fresh.txt");
        fs::write(&file, b"fresh").expect("write");
        let digests = FileDigests {
            path: dir.path().join("file-digests"),
            entries: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
        };
        std::thread::sleep(std::time::Duration::from_millis(150));
        digests.get(&file).expect("digest");
        assert!(
            digests.lock().contains_key(&file),
            "remembered after 150 ms"
        );
        let now_ns = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("time")
                .as_nanos(),
        )
        .expect("fits");
        let stamp = |ns: i64| Stamp {
            dev: 1,
            ino: 1,
            size: 1,
            mtime_ns: ns,
            ctime_ns: ns,
            mode: 0o644,
        };
        let a_second_ago = (now_ns / 1_000_000_000 - 1) * 1_000_000_000;
        assert!(is_racy(&stamp(a_second_ago)), "whole seconds wait 2 s");
        assert!(!is_racy(&stamp(a_second_ago + 1)), "fine times wait a tick");
        assert!(
            is_racy(&stamp(now_ns - 10_000_000)),
            "10 ms is within the tick's margin"
        );
    }

    #[test]
    fn remembers_old_files_and_notices_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        let file = dir.path().join("a.txt");
        fs::write(&file, b"one").expect("write");
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&file)
            .expect("open")
            .set_modified(old)
            .expect("mtime");
        let cache = FileDigests::load(&store);
        assert_eq!(cache.get(&file).expect("digest").digest, Digest::of(b"one"));
        cache.save(&store).expect("save");
        let reloaded = FileDigests::load(&store);
        fs::write(&file, b"two").expect("write");
        assert_eq!(
            reloaded.get(&file).expect("digest").digest,
            Digest::of(b"two")
        );
    }
}
