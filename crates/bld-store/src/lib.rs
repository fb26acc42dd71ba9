//! bld's content-addressed store.
//!
//! ```text
//! <root>/blobs/sha256/<hex>   content, named by its sha256
//! <root>/ac/<hex>             action cache: action key → the executor's record of its output
//! <root>/analysis/<hex>       analysis cache: the front-end's results and what they depend on
//! <root>/chunks/<hex>         layer chunk → digest of its compressed gzip member (a blob)
//! <root>/tags/<reference>     image tags: `name:tag` (with `/` and `:` escaped) → manifest digest
//! <root>/images/<hex>         images kept in the store (see `images.rs`)
//! <root>/sizes/<hex>          content sizes of layer blobs (Docker's SIZE), remembered by bld-oci
//! <root>/unpacked/<diff-id>   layers unpacked for RUN steps (`root/`, and `record`: complete)
//! <root>/cache-mounts/<hex>   `RUN --mount=type=cache` directories
//! <root>/containers/          the OCI runtime's state for containers bld started
//! <root>/file-digests         digests of files keyed by inode, size, mtime and ctime
//! <root>/tmp/                 files being written; renamed into place when complete
//! ```
//!
//! Every write goes to a unique temporary file first and is renamed into place, so readers never
//! see a partial blob and two bld processes sharing a store cannot corrupt it: the last rename
//! of identical content wins.

mod file_digests;
mod images;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bld_core::{Classify, Digest, ErrorKind, Sha256Writer};

pub use file_digests::{FileDigests, FileInfo};
pub use images::{GcReport, IndexLock};

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O operation on a store path failed.
    #[error("store: cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The store directory the user chose cannot be made or used (a bad `--store-dir`).
    #[error(
        "the store `{root}` cannot be used: cannot {action} `{path}`; choose another with `--store-dir DIR` or `BLD_STORE`"
    )]
    Unusable {
        /// The store's root.
        root: PathBuf,
        /// What failed.
        action: &'static str,
        /// The path it failed on.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A blob is missing.
    #[error("store: blob {0} is missing")]
    MissingBlob(Digest),
    /// A blob's content does not match its name.
    #[error("store: blob {expected} is corrupt (its content hashes to {actual})")]
    CorruptBlob {
        /// Its name.
        expected: Digest,
        /// What its content hashes to.
        actual: Digest,
    },
}

impl Classify for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unusable { .. } => ErrorKind::User,
            _ => ErrorKind::Internal,
        }
    }
}

pub(crate) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// The bytes of the file `path`, `None` when there is none.
pub(crate) fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path)(e)),
    }
}

/// Removes the file `path`; whether it was there.
pub(crate) fn remove_if_present(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("remove", path)(e)),
    }
}

/// A content-addressed store rooted at one directory.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// `store.lock`, held shared while this handle lives (exclusively during gc).
    hold: File,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The store's directories that only its owner may enter (see [`Store::private_dir`]).
pub const PRIVATE_DIRS: &[&str] = &["tmp", "unpacked", "cache-mounts", "containers"];

impl Store {
    /// The store directory used when none is given: `$BLD_STORE`, else `$XDG_CACHE_HOME/bld`,
    /// else `~/.cache/bld`.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("BLD_STORE").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("bld");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/tmp".into());
        home.join(".cache").join("bld")
    }

    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_dirs(root).map_err(|e| match e {
            StoreError::Io {
                action,
                path,
                source,
            } => StoreError::Unusable {
                root: root.to_owned(),
                action,
                path,
                source,
            },
            other => other,
        })
    }

    fn open_dirs(root: &Path) -> Result<Store, StoreError> {
        for dir in ["blobs/sha256", "ac", "analysis", "chunks", "tags", "images"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_error("create", &path))?;
        }
        let store = Store {
            // A relative store (`--store-dir s`) means the same place to the runtime and to
            // the processes bld starts in other directories.
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_owned()),
            hold: images::lock_file(&root.join("store.lock"), false)?,
        };
        for dir in PRIVATE_DIRS {
            store.private_dir(dir)?;
        }
        Ok(store)
    }

    /// The store directory `name`, created if needed and kept mode 0700 (only its owner may
    /// enter): unpacked layers, containers' files and files being written may hold setuid
    /// programs from any image, which no other local user may reach.
    pub fn private_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.root.join(name);
        fs::create_dir_all(&path).map_err(io_error("create", &path))?;
        let meta = fs::metadata(&path).map_err(io_error("stat", &path))?;
        if meta.permissions().mode() & 0o7777 != 0o700 {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
                .map_err(io_error("restrict the permissions of", &path))?;
        }
        Ok(path)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob exists with the expected size (a cheap check; see [`Store::verify_blob`]).
    pub fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// A unique path in the store's temporary directory, on the same filesystem as the blobs.
    pub fn temp_path(&self, hint: &str) -> PathBuf {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.root
            .join("tmp")
            .join(format!("{}-{n}-{nanos}-{hint}", bld_core::current_owner()))
    }

    /// Removes what processes that no longer run left in `tmp/` (a blob half-written, a run's
    /// directory, a layer half-unpacked or half-deleted); returns how many entries. Reap their
    /// containers first: a killed bld's container may still use its run directory.
    pub fn remove_abandoned_temps(&self) -> usize {
        self.remove_temps_where(&|name| match bld_core::owner_of(name) {
            Some(owner) => !bld_core::is_running(owner),
            // Named by an older bld (`<pid>-…`): gone when that pid is.
            None => name
                .split('-')
                .next()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()),
        })
        .0
    }

    /// Removes this process's own temporary files (when it is interrupted); returns how many
    /// could not be removed (still in use).
    pub fn remove_own_temps(&self) -> usize {
        let own = |name: &str| bld_core::owner_of(name) == Some(bld_core::current_owner());
        let (_, left) = self.remove_temps_where(&own);
        left
    }

    /// Removes the temporary files whose names `doomed` accepts; returns how many were removed
    /// and how many could not be.
    fn remove_temps_where(&self, doomed: &dyn Fn(&str) -> bool) -> (usize, usize) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return (0, 0);
        };
        let (mut removed, mut left) = (0, 0);
        for entry in entries.flatten() {
            if doomed(&entry.file_name().to_string_lossy()) {
                match images::remove_any(&entry.path(), &entry.path()) {
                    Ok(()) => removed += 1,
                    Err(_) => left += 1,
                }
            }
        }
        (removed, left)
    }

    /// Stores `bytes`, returning their digest and size.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64), StoreError> {
        let mut writer = self.blob_writer()?;
        writer
            .write_all(bytes)
            .map_err(io_error("write", &writer.path))?;
        writer.commit()
    }

    /// A writer for a new blob; [`BlobWriter::commit`] names it by its content.
    pub fn blob_writer(&self) -> Result<BlobWriter<'_>, StoreError> {
        let path = self.temp_path("blob");
        let file = File::create(&path).map_err(io_error("create", &path))?;
        Ok(BlobWriter {
            store: self,
            path,
            inner: Some(Sha256Writer::new(io::BufWriter::with_capacity(
                64 * 1024,
                file,
            ))),
        })
    }

    /// Reads a whole blob, checking its content against its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob(*digest));
            }
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(StoreError::CorruptBlob {
                expected: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Opens a blob for streaming reads (not verified).
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingBlob(*digest)
            } else {
                io_error("open", &path)(e)
            }
        })
    }

    /// Removes a blob (used when it is found corrupt).
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        remove_if_present(&self.blob_path(digest)).map(drop)
    }

    pub(crate) fn action_path(&self, key: &Digest) -> PathBuf {
        self.root.join("ac").join(key.hex())
    }

    /// The record stored for an action key, if any.
    pub fn get_action(&self, key: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        read_if_present(&self.action_path(key))
    }

    /// Records the result of an action (atomically).
    pub fn put_action(&self, key: &Digest, record: &[u8]) -> Result<(), StoreError> {
        self.write_atomically(&self.action_path(key), record)
    }

    /// Forgets the record of an action (when its outputs are found missing or corrupt).
    pub fn remove_action(&self, key: &Digest) -> Result<(), StoreError> {
        remove_if_present(&self.action_path(key)).map(drop)
    }

    /// The analysis cached under `key`, if any.
    pub fn get_analysis(&self, key: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        read_if_present(&self.root.join("analysis").join(key.hex()))
    }

    /// Caches an analysis under `key` (atomically).
    pub fn put_analysis(&self, key: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_atomically(&self.root.join("analysis").join(key.hex()), bytes)
    }

    /// Writes `bytes` to `path` through a temporary file and a rename.
    pub fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let temp = self.temp_path("write");
        fs::write(&temp, bytes).map_err(io_error("write", &temp))?;
        fs::rename(&temp, path).map_err(|e| {
            let _ = fs::remove_file(&temp);
            io_error("rename into", path)(e)
        })
    }
}

/// A blob being written: hashed as it streams, named by its digest on [`BlobWriter::commit`],
/// removed if dropped uncommitted.
pub struct BlobWriter<'a> {
    store: &'a Store,
    path: PathBuf,
    inner: Option<Sha256Writer<io::BufWriter<File>>>,
}

impl BlobWriter<'_> {
    /// Finishes the blob and moves it into place; returns its digest and size.
    pub fn commit(mut self) -> Result<(Digest, u64), StoreError> {
        let inner = self.inner.take().expect("invariant: committed once");
        let (buffered, digest, size) = inner.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| io_error("write", &self.path)(e.into_error()))?;
        drop(file);
        // Always rename, even over an existing blob of that name: it may be corrupt.
        let dest = self.store.blob_path(&digest);
        fs::rename(&self.path, &dest).map_err(io_error("rename into", &dest))?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .as_mut()
            .expect("invariant: not committed")
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .as_mut()
            .expect("invariant: not committed")
            .flush()
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Hashes a file's content by streaming it.
pub fn digest_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut file = File::open(path)?;
    let mut writer = Sha256Writer::new(io::sink());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        writer.write_all(&buf[..n])?;
    }
    let (_, digest, size) = writer.finish();
    Ok((digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_named_by_content_and_verified_on_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let (digest, size) = store.put_bytes(b"layer").expect("put");
        assert_eq!(digest, Digest::of(b"layer"));
        assert!(store.has_blob(&digest, size));
        assert_eq!(store.read_blob(&digest).expect("read"), b"layer");
        fs::write(store.blob_path(&digest), b"tampr").expect("tamper");
        assert!(matches!(
            store.read_blob(&digest),
            Err(StoreError::CorruptBlob { .. })
        ));
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
    }

    #[test]
    fn dropped_writers_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut w = store.blob_writer().expect("writer");
        w.write_all(b"partial").expect("write");
        drop(w);
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/sha256"))
                .expect("blobs")
                .count(),
            0
        );
    }
}
