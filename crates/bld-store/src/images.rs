//! The local image store's index: tags (`name:tag` → manifest), the images kept (tagged, built
//! on by a kept image, or loaded without a name), the locks that keep concurrent bld processes
//! consistent, and garbage collection of blobs no kept image refers to.
//!
//! ```text
//! <root>/tags/<reference>   a tag: its manifest digest (`/`, `:` and `%` escaped in the name)
//! <root>/images/<hex>       an image kept in the store, by manifest digest
//! <root>/index.lock         held exclusively while tags and images change
//! <root>/store.lock         held shared by every process using the store, exclusively by gc
//! ```

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use walkdir::WalkDir;

use crate::{Store, StoreError, io_error, read_if_present, remove_if_present};

/// While held, no other process changes tags or image records (released on drop).
pub struct IndexLock {
    _file: File,
}

/// What [`Store::collect_garbage`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: usize,
    /// Unpacked layer directories deleted.
    pub unpacked: usize,
    /// Action cache entries deleted (their blobs were).
    pub actions: usize,
    /// Bytes freed, blobs, unpacked layers and leftover temporary files together.
    pub bytes: u64,
}

fn escape(reference: &str) -> String {
    let mut escaped = String::with_capacity(reference.len());
    for c in reference.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '/' => escaped.push_str("%2F"),
            ':' => escaped.push_str("%3A"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn unescape(name: &str) -> String {
    name.replace("%2F", "/")
        .replace("%3A", ":")
        .replace("%25", "%")
}

/// Takes a `flock` on `path` (creating it), waiting for conflicting holders.
pub(crate) fn lock_file(path: &Path, exclusive: bool) -> Result<File, StoreError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_error("open", path))?;
    let operation = if exclusive {
        rustix::fs::FlockOperation::LockExclusive
    } else {
        rustix::fs::FlockOperation::LockShared
    };
    rustix::fs::flock(&file, operation).map_err(|e| io_error("lock", path)(io::Error::from(e)))?;
    Ok(file)
}

/// The size of a file or of everything under a directory (symlinks not followed, not even
/// `path` itself; walkdir keeps its own stack, so no depth of tree exhausts bld's). What cannot
/// be listed or `stat`ed counts nothing.
fn disk_usage(path: &Path) -> u64 {
    WalkDir::new(path)
        .follow_links(false)
        .follow_root_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok())
        .filter(|meta| !meta.is_dir())
        .map(|meta| meta.len())
        .sum()
}

/// Removes a file or a whole directory, never following a symlink. A directory is first
/// renamed into `trash` (a fresh temporary path), so no reader ever sees it half-deleted
/// under its own name, even if bld is killed while deleting.
pub(crate) fn remove_any(path: &Path, trash: &Path) -> io::Result<()> {
    let target = if fs::symlink_metadata(path)?.is_dir() {
        fs::rename(path, trash)?;
        trash
    } else {
        path
    };
    let parent = target.parent().unwrap_or(Path::new("/"));
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let dir = bld_core::beneath::RootDir::open(parent)?;
    bld_core::beneath::remove_at(dir.fd(), &name)
}

impl Store {
    fn tag_path(&self, reference: &str) -> PathBuf {
        self.root.join("tags").join(escape(reference))
    }

    fn image_path(&self, manifest: &Digest) -> PathBuf {
        self.root.join("images").join(manifest.hex())
    }

    /// Holds the index lock: take it around any read-modify-write of tags and images.
    pub fn lock_index(&self) -> Result<IndexLock, StoreError> {
        Ok(IndexLock {
            _file: lock_file(&self.root.join("index.lock"), true)?,
        })
    }

    /// Points the tag `reference` (a normalized `name:tag`) at an image manifest, and keeps
    /// the image.
    pub fn put_tag(&self, reference: &str, manifest: &Digest) -> Result<(), StoreError> {
        self.add_image(manifest)?;
        if self.get_tag(reference)? == Some(*manifest) {
            return Ok(());
        }
        self.write_atomically(
            &self.tag_path(reference),
            format!("{manifest}\n").as_bytes(),
        )
    }

    /// The manifest the tag `reference` points at, if any (none for a damaged record, which
    /// [`Store::damaged_tags`] lists).
    pub fn get_tag(&self, reference: &str) -> Result<Option<Digest>, StoreError> {
        Ok(
            read_if_present(&self.tag_path(reference))?.and_then(|bytes| {
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|text| text.trim().parse().ok())
            }),
        )
    }

    /// Whether there is a record for the tag `reference`, damaged or not.
    pub fn has_tag_record(&self, reference: &str) -> bool {
        fs::symlink_metadata(self.tag_path(reference)).is_ok()
    }

    /// Tags whose records do not name a manifest (damaged), by name.
    pub fn damaged_tags(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("tags");
        let mut damaged = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error("list", &dir))? {
            let entry = entry.map_err(io_error("list", &dir))?;
            let reference = unescape(&entry.file_name().to_string_lossy());
            if self.get_tag(&reference)?.is_none() {
                damaged.push(reference);
            }
        }
        damaged.sort();
        Ok(damaged)
    }

    /// Removes the tag `reference`; returns the manifest it pointed at, if it existed.
    pub fn remove_tag(&self, reference: &str) -> Result<Option<Digest>, StoreError> {
        let manifest = self.get_tag(reference)?;
        let existed = remove_if_present(&self.tag_path(reference))?;
        Ok(if existed { manifest } else { None })
    }

    /// Every tag and the manifest it points at, sorted by name.
    pub fn tags(&self) -> Result<Vec<(String, Digest)>, StoreError> {
        let dir = self.root.join("tags");
        let mut tags = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error("list", &dir))? {
            let entry = entry.map_err(io_error("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let reference = unescape(&name);
            if let Some(manifest) = self.get_tag(&reference)? {
                tags.push((reference, manifest));
            }
        }
        tags.sort();
        Ok(tags)
    }

    /// Keeps the image `manifest` in the store (until [`Store::remove_image`]).
    pub fn add_image(&self, manifest: &Digest) -> Result<(), StoreError> {
        let path = self.image_path(manifest);
        if path.exists() {
            return Ok(());
        }
        self.write_atomically(&path, format!("{manifest}\n").as_bytes())
    }

    /// Stops keeping the image `manifest`; its blobs go at the next garbage collection.
    pub fn remove_image(&self, manifest: &Digest) -> Result<bool, StoreError> {
        remove_if_present(&self.image_path(manifest))
    }

    /// The images kept in the store, by manifest digest, sorted.
    pub fn images(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = self.root.join("images");
        let mut images = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error("list", &dir))? {
            let entry = entry.map_err(io_error("list", &dir))?;
            if let Ok(digest) = format!("sha256:{}", entry.file_name().to_string_lossy()).parse() {
                images.push(digest);
            }
        }
        images.sort();
        Ok(images)
    }

    /// Takes this process's hold on the store exclusively, waiting until no other bld process
    /// uses it, and calls `waiting` first if it has to wait.
    pub fn lock_exclusive(&self, waiting: &dyn Fn()) -> Result<(), StoreError> {
        let path = self.root.join("store.lock");
        let try_lock = rustix::fs::flock(
            &self.hold,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        );
        if try_lock.is_ok() {
            return Ok(());
        }
        waiting();
        rustix::fs::flock(&self.hold, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_error("lock", &path)(io::Error::from(e)))
    }

    /// Deletes every blob that the images `keep` (manifests or indexes) do not refer to, the
    /// chunk-cache entries and unpacked layers of deleted blobs, and leftover temporary files.
    /// Call with the store locked exclusively ([`Store::lock_exclusive`]).
    pub fn collect_garbage(&self, keep: &[Digest]) -> Result<GcReport, StoreError> {
        let kept = self.reachable(keep);
        let mut report = GcReport::default();
        self.remove_unkept_blobs(&kept, &mut report)?;
        self.remove_unkept_unpacked(&kept, &mut report)?;
        self.remove_unkept_chunks(&kept);
        self.remove_unkept_sizes(&kept);
        self.remove_stale_actions(&kept, &mut report);
        self.remove_temps(&mut report);
        Ok(report)
    }

    /// Action cache entries whose record names a blob that is gone, and the named parts of
    /// action keys (`explain/`, for `bld why`) whose entry is gone.
    fn remove_stale_actions(&self, kept: &Kept, report: &mut GcReport) {
        let entries = fs::read_dir(self.root.join("ac"))
            .into_iter()
            .flatten()
            .flatten();
        for entry in entries {
            let stale = fs::read(entry.path())
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                .map(|record| {
                    ["digest", "manifest", "config"]
                        .iter()
                        .filter_map(|field| record.get(field)?.as_str()?.parse::<Digest>().ok())
                        .any(|d| !kept.blobs.contains(&d))
                })
                .unwrap_or(true);
            if stale && fs::remove_file(entry.path()).is_ok() {
                report.actions += 1;
            }
        }
        let explained = fs::read_dir(self.root.join("explain"))
            .into_iter()
            .flatten()
            .flatten();
        for entry in explained.filter(|e| e.path().is_file()) {
            let gone = fs::read(entry.path())
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                .and_then(|record| record.get("key")?.as_str()?.parse::<Digest>().ok())
                .is_none_or(|key| !self.action_path(&key).is_file());
            if gone {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Everything the images `keep` refer to, following indexes, manifests and configs.
    fn reachable(&self, keep: &[Digest]) -> Kept {
        let mut kept = Kept::default();
        let mut pending: Vec<Digest> = keep.to_vec();
        while let Some(digest) = pending.pop() {
            if !kept.blobs.insert(digest) {
                continue;
            }
            let Ok(bytes) = fs::read(self.blob_path(&digest)) else {
                continue;
            };
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            pending.extend(referenced_blobs(&json));
            kept.layers.extend(diff_ids(&json));
        }
        kept
    }

    fn remove_unkept_blobs(&self, kept: &Kept, report: &mut GcReport) -> Result<(), StoreError> {
        let blobs = self.root.join("blobs/sha256");
        for entry in fs::read_dir(&blobs).map_err(io_error("list", &blobs))? {
            let entry = entry.map_err(io_error("list", &blobs))?;
            if !kept.has_blob_named(&entry.file_name().to_string_lossy()) {
                report.bytes += disk_usage(&entry.path());
                remove_any(&entry.path(), &self.temp_path("removing"))
                    .map_err(io_error("remove", &entry.path()))?;
                report.blobs += 1;
            }
        }
        Ok(())
    }

    /// Unpacked layer directories are named by diff ID.
    fn remove_unkept_unpacked(&self, kept: &Kept, report: &mut GcReport) -> Result<(), StoreError> {
        let Ok(entries) = fs::read_dir(self.root.join("unpacked")) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            if !kept
                .layers
                .contains(entry.file_name().to_string_lossy().as_ref())
            {
                report.bytes += disk_usage(&entry.path());
                remove_any(&entry.path(), &self.temp_path("removing"))
                    .map_err(io_error("remove", &entry.path()))?;
                report.unpacked += 1;
            }
        }
        Ok(())
    }

    /// Chunk-cache entries name gzip members; those whose member is gone are useless.
    fn remove_unkept_chunks(&self, kept: &Kept) {
        let Ok(entries) = fs::read_dir(self.root.join("chunks")) else {
            return;
        };
        for entry in entries.flatten() {
            let member_kept = fs::read_to_string(entry.path())
                .ok()
                .and_then(|text| text.trim().parse::<Digest>().ok())
                .is_some_and(|d| kept.blobs.contains(&d));
            if !member_kept {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Sizes remembered per layer blob (`sizes/<hex>`) go with their blob.
    fn remove_unkept_sizes(&self, kept: &Kept) {
        let Ok(entries) = fs::read_dir(self.root.join("sizes")) else {
            return;
        };
        for entry in entries.flatten() {
            if !kept.has_blob_named(&entry.file_name().to_string_lossy()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Leftover temporary files (gc runs with the store locked exclusively: none is in use).
    fn remove_temps(&self, report: &mut GcReport) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            report.bytes += disk_usage(&entry.path());
            let _ = remove_any(&entry.path(), &entry.path());
        }
    }
}

/// What garbage collection keeps.
#[derive(Default)]
struct Kept {
    /// Blobs, by digest.
    blobs: BTreeSet<Digest>,
    /// Unpacked layers, by diff ID (hex).
    layers: BTreeSet<String>,
}

impl Kept {
    /// Whether `hex` (a file name in `blobs/sha256` or `sizes`) names a kept blob.
    fn has_blob_named(&self, hex: &str) -> bool {
        format!("sha256:{hex}")
            .parse::<Digest>()
            .is_ok_and(|d| self.blobs.contains(&d))
    }
}

/// The blobs a JSON document refers to: an index lists manifests; a manifest names its config
/// and layers.
fn referenced_blobs(json: &serde_json::Value) -> Vec<Digest> {
    let digests_in = |key: &str| -> Vec<Digest> {
        json.get(key)
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|d| d.get("digest")?.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut blobs = digests_in("manifests");
    blobs.extend(digests_in("layers"));
    if let Some(config) = json
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse().ok())
    {
        blobs.push(config);
    }
    blobs
}

/// The layers' diff IDs a config lists (hex: the names of their unpacked directories).
fn diff_ids(json: &serde_json::Value) -> Vec<String> {
    json.get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|d| d.as_str()?.strip_prefix("sha256:").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_escaped_file_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let (manifest, _) = store.put_bytes(b"{}").expect("put");
        for name in ["docker.io/library/app:1", "localhost:5000/a/b:v%2"] {
            store.put_tag(name, &manifest).expect("tag");
            assert_eq!(store.get_tag(name).expect("get"), Some(manifest));
        }
        assert_eq!(
            store.tags().expect("tags"),
            [
                ("docker.io/library/app:1".to_owned(), manifest),
                ("localhost:5000/a/b:v%2".to_owned(), manifest)
            ]
        );
        assert_eq!(store.images().expect("images"), [manifest]);
        assert_eq!(
            store.remove_tag("docker.io/library/app:1").expect("rm"),
            Some(manifest)
        );
        assert_eq!(
            store.remove_tag("docker.io/library/app:1").expect("rm"),
            None
        );
    }

    #[test]
    fn disk_usage_counts_files_below_and_follows_no_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).expect("mkdir");
        fs::write(outside.join("big"), vec![0u8; 1000]).expect("write");
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("a/b")).expect("mkdir");
        fs::write(tree.join("top"), "123").expect("write");
        fs::write(tree.join("a/b/deep"), "45").expect("write");
        std::os::unix::fs::symlink(&outside, tree.join("a/link")).expect("symlink");
        let link_size = fs::symlink_metadata(tree.join("a/link"))
            .expect("lstat")
            .len();
        assert_eq!(disk_usage(&tree), 5 + link_size);
        std::os::unix::fs::symlink(&outside, dir.path().join("root-link")).expect("symlink");
        assert_eq!(
            disk_usage(&dir.path().join("root-link")),
            link_size,
            "a symlink given as the root is measured, not followed"
        );
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }

    #[test]
    fn garbage_collection_keeps_what_kept_images_refer_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let (layer, _) = store.put_bytes(b"layer bytes").expect("put");
        let (config, _) = store
            .put_bytes(br#"{"rootfs":{"diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]}}"#)
            .expect("put");
        let manifest_json =
            format!(r#"{{"config":{{"digest":"{config}"}},"layers":[{{"digest":"{layer}"}}]}}"#);
        let (manifest, _) = store.put_bytes(manifest_json.as_bytes()).expect("put");
        let (garbage, size) = store.put_bytes(b"nobody refers to this").expect("put");
        let unpacked = dir.path().join("unpacked");
        fs::create_dir_all(unpacked.join("1".repeat(64))).expect("mkdir");
        fs::create_dir_all(unpacked.join("2".repeat(64))).expect("mkdir");
        let sizes = dir.path().join("sizes");
        fs::create_dir_all(&sizes).expect("mkdir");
        for blob in [layer, garbage] {
            fs::write(sizes.join(blob.hex()), "1\n").expect("write");
        }
        store.lock_exclusive(&|| {}).expect("lock");
        let report = store.collect_garbage(&[manifest]).expect("gc");
        assert_eq!((report.blobs, report.unpacked), (1, 1));
        assert!(report.bytes >= size);
        for kept in [layer, config, manifest] {
            assert!(store.read_blob(&kept).is_ok());
        }
        assert!(store.read_blob(&garbage).is_err());
        assert!(unpacked.join("1".repeat(64)).exists());
        assert!(!unpacked.join("2".repeat(64)).exists());
        assert!(sizes.join(layer.hex()).exists());
        assert!(!sizes.join(garbage.hex()).exists());
    }
}
