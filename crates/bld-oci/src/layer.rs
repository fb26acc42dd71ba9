//! Deterministic layer tars: sorted entries, fixed mtimes, explicit owners and modes, implicit
//! parent directories, gzip at a fixed level; hashed (diff ID and blob digest) while streaming.

mod add_archive;
mod content_size;
mod special_entries;

pub use content_size::content_size;
pub use special_entries::carries_xattr;

use special_entries::{append_xattrs, hard_link_mode, node_header};

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_store::Store;

use crate::OciError;
use crate::chunked::ChunkedGzip;

/// The gzip level of every layer bld writes; part of what makes layers reproducible.
pub(crate) const GZIP_LEVEL: u32 = 6;

/// One entry to put in a layer.
#[derive(Debug, Clone)]
pub struct LayerItem {
    /// Path inside the tar: relative, normalized, `/`-separated.
    pub path: String,
    /// What it is.
    pub kind: ItemKind,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Its extended attributes (name, value). Those a layer carries ([`carries_xattr`]) are
    /// written as PAX `SCHILY.xattr.NAME` records before the entry, sorted by name; the rest
    /// are dropped. Not used for an [`ItemKind::Archive`], whose entries keep their own.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// What a layer entry is.
#[derive(Debug, Clone)]
pub enum ItemKind {
    /// A regular file whose content is read from `source`.
    File {
        /// Where its content is read from.
        source: PathBuf,
        /// Permission bits.
        mode: u32,
    },
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link.
    Symlink {
        /// The link target.
        target: String,
    },
    /// A hard link (tar type `1`) to `target`, a [`ItemKind::File`] of the same layer whose
    /// path sorts before this one (so a reader has made it already); the entry takes the
    /// target's mode.
    HardLink {
        /// The path of the file it is another name of.
        target: String,
    },
    /// A FIFO (named pipe, tar type `6`).
    Fifo {
        /// Permission bits.
        mode: u32,
    },
    /// A character (tar type `3`) or block (type `4`) device.
    Device {
        /// Whether it is a block device.
        block: bool,
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
        /// Permission bits.
        mode: u32,
    },
    /// The entries of the tar archive at `source` (plain or gzip), under the item's path.
    Archive {
        /// The archive.
        source: PathBuf,
    },
}

/// A layer written to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerBlob {
    /// Digest of the compressed blob (its name in the store and in manifests).
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
}

const IMPLICIT_DIR: ItemKind = ItemKind::Dir { mode: 0o755 };

/// Packs `items` into a gzip-compressed tar in the store.
///
/// Entries are sorted by path; missing parent directories are added (mode 0755, owner 0:0);
/// every entry gets `mtime`. The same arguments always give the same bytes.
pub fn pack_layer(store: &Store, items: &[LayerItem], mtime: u64) -> Result<LayerBlob, OciError> {
    let entries = with_parents(items);
    // The tar is written on this thread while its chunks are compressed by jobs of the scope.
    rayon::in_place_scope(|scope| write_layer(store, scope, &entries, mtime))
}

/// What a layer entry is, with its owner and extended attributes.
#[derive(Clone, Copy)]
struct Entry<'i> {
    kind: &'i ItemKind,
    uid: u32,
    gid: u32,
    xattrs: &'i [(String, Vec<u8>)],
}

/// `items` by path, with every missing parent directory added (mode 0755, owner 0:0).
fn with_parents(items: &[LayerItem]) -> BTreeMap<&str, Entry<'_>> {
    let implicit = Entry {
        kind: &IMPLICIT_DIR,
        uid: 0,
        gid: 0,
        xattrs: &[],
    };
    let mut entries: BTreeMap<&str, Entry<'_>> = BTreeMap::new();
    for item in items {
        let entry = Entry {
            kind: &item.kind,
            uid: item.uid,
            gid: item.gid,
            xattrs: &item.xattrs,
        };
        entries.insert(&item.path, entry);
    }
    let paths: Vec<&str> = entries.keys().copied().collect();
    for path in paths {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            entries.entry(&path[..end]).or_insert(implicit);
            end += 1;
        }
    }
    entries
}

/// Writes `entries` as a tar into a new blob of `store`, its chunks compressed in `scope`.
fn write_layer<'s>(
    store: &'s Store,
    scope: &rayon::Scope<'s>,
    entries: &BTreeMap<&str, Entry<'_>>,
    mtime: u64,
) -> Result<LayerBlob, OciError> {
    let chunked = ChunkedGzip::new(store, scope, GZIP_LEVEL)?;
    let mut tar = tar::Builder::new(chunked);
    let tmp = store.root().join("tmp");
    let write_error = |source: io::Error| OciError::Write {
        path: tmp.clone(),
        source,
    };
    for (path, entry) in entries {
        append_entry(&mut tar, entries, (path, entry), mtime, &tmp)?;
        tar.get_mut().entry_written(path).map_err(write_error)?;
    }
    let chunked = tar.into_inner().map_err(write_error)?;
    let (mut blob, diff_id) = chunked.finish().map_err(write_error)?;
    blob.flush().map_err(write_error)?;
    let (digest, size) = blob.commit()?;
    Ok(LayerBlob {
        digest,
        size,
        diff_id,
    })
}

/// Appends the entry at `path` (its extended attributes first) to `tar`; `entries` are all
/// the layer's, where a hard link's target is looked up. A failed write names `tmp`, where
/// the layer is being written.
fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    entries: &BTreeMap<&str, Entry<'_>>,
    (path, entry): (&str, &Entry<'_>),
    mtime: u64,
    tmp: &Path,
) -> Result<(), OciError> {
    let write_error = |source: io::Error| OciError::Write {
        path: tmp.to_owned(),
        source,
    };
    let mut header = tar::Header::new_gnu();
    header.set_mtime(mtime);
    header.set_uid(entry.uid.into());
    header.set_gid(entry.gid.into());
    header.set_size(0);
    if !matches!(entry.kind, ItemKind::Archive { .. }) {
        let xattrs = entry.xattrs.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        append_xattrs(tar, xattrs).map_err(write_error)?;
    }
    let typed = |header: &mut tar::Header, kind, mode| {
        header.set_entry_type(kind);
        header.set_mode(mode);
    };
    match entry.kind {
        ItemKind::Dir { mode } => {
            typed(&mut header, tar::EntryType::Directory, *mode);
            tar.append_data(&mut header, format!("{path}/"), io::empty())
                .map_err(write_error)?;
        }
        ItemKind::File { source, mode } => {
            let unreadable = |e| OciError::Source {
                path: source.clone(),
                source: e,
            };
            let file = File::open(source).map_err(unreadable)?;
            let len = file.metadata().map_err(unreadable)?.len();
            typed(&mut header, tar::EntryType::Regular, *mode);
            header.set_size(len);
            tar.append_data(&mut header, path, io::Read::take(file, len))
                .map_err(write_error)?;
        }
        ItemKind::Symlink { target } => {
            typed(&mut header, tar::EntryType::Symlink, 0o777);
            tar.append_link(&mut header, path, target)
                .map_err(write_error)?;
        }
        ItemKind::HardLink { target } => {
            let mode = hard_link_mode(entries, path, target)?;
            typed(&mut header, tar::EntryType::Link, mode);
            tar.append_link(&mut header, path, target)
                .map_err(write_error)?;
        }
        ItemKind::Fifo { .. } | ItemKind::Device { .. } => {
            node_header(&mut header, entry.kind).map_err(write_error)?;
            tar.append_data(&mut header, path, io::empty())
                .map_err(write_error)?;
        }
        ItemKind::Archive { source } => {
            if !path.is_empty() {
                typed(&mut header, tar::EntryType::Directory, 0o755);
                tar.append_data(&mut header, format!("{path}/"), io::empty())
                    .map_err(write_error)?;
            }
            add_archive::append_archive(tar, source, path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn listing(store: &Store, blob: &LayerBlob) -> Vec<String> {
        let gz = flate2::read::MultiGzDecoder::new(store.open_blob(&blob.digest).expect("blob"));
        let mut archive = tar::Archive::new(gz);
        let mut out = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let h = entry.header().clone();
            let mut body = String::new();
            entry.read_to_string(&mut body).expect("read");
            out.push(format!(
                "{} {:o} {}:{} {} {}",
                entry.path().expect("path").display(),
                h.mode().expect("mode"),
                h.uid().expect("uid"),
                h.gid().expect("gid"),
                h.mtime().expect("mtime"),
                body
            ));
        }
        out
    }

    #[test]
    fn layers_are_sorted_with_parents_and_reproducible() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        std::fs::write(dir.path().join("b"), "bee").expect("write");
        std::fs::write(dir.path().join("a"), "ay").expect("write");
        let file = |path: &str, source: &str, mode, uid, gid| LayerItem {
            path: path.into(),
            kind: ItemKind::File {
                source: dir.path().join(source),
                mode,
            },
            uid,
            gid,
            xattrs: Vec::new(),
        };
        let mut items = vec![
            file("usr/bin/b", "b", 0o755, 0, 0),
            file("etc/a", "a", 0o644, 1, 2),
            LayerItem {
                path: "usr/bin/c".into(),
                kind: ItemKind::Symlink { target: "b".into() },
                uid: 0,
                gid: 0,
                xattrs: Vec::new(),
            },
            LayerItem {
                path: "var/empty".into(),
                kind: ItemKind::Dir { mode: 0o700 },
                uid: 5,
                gid: 5,
                xattrs: Vec::new(),
            },
        ];
        let blob = pack_layer(&store, &items, 7).expect("pack");
        assert_eq!(
            listing(&store, &blob),
            [
                "etc/ 755 0:0 7 ",
                "etc/a 644 1:2 7 ay",
                "usr/ 755 0:0 7 ",
                "usr/bin/ 755 0:0 7 ",
                "usr/bin/b 755 0:0 7 bee",
                "usr/bin/c 777 0:0 7 ",
                "var/ 755 0:0 7 ",
                "var/empty/ 700 5:5 7 ",
            ]
        );
        items.reverse();
        assert_eq!(pack_layer(&store, &items, 7).expect("pack"), blob);
    }

    #[test]
    fn a_changed_file_recompresses_only_its_chunk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let mut items = Vec::new();
        for i in 0..300u32 {
            let path = dir.path().join(format!("f{i}"));
            let content: Vec<u8> = (0..40_000u32)
                .map(|j| b'a' + ((j.wrapping_mul(2_654_435_761) ^ i) % 26) as u8)
                .collect();
            std::fs::write(&path, content).expect("write");
            items.push(LayerItem {
                path: format!("data/f{i:03}"),
                kind: ItemKind::File {
                    source: path,
                    mode: 0o644,
                },
                uid: 0,
                gid: 0,
                xattrs: Vec::new(),
            });
        }
        let chunks = || {
            std::fs::read_dir(store.root().join("chunks"))
                .expect("chunks")
                .count()
        };
        let first = pack_layer(&store, &items, 0).expect("pack");
        let before = chunks();
        assert!(before > 4, "a 12 MB layer is several members: {before}");
        assert_eq!(
            listing(&store, &first).len(),
            301,
            "every member decompresses, in order"
        );
        assert_eq!(pack_layer(&store, &items, 0).expect("again"), first);
        assert_eq!(chunks(), before, "an identical layer reuses every member");
        std::fs::write(dir.path().join("f150"), b"changed").expect("write");
        let second = pack_layer(&store, &items, 0).expect("pack");
        assert_ne!(second, first);
        assert!(
            chunks() - before <= 2,
            "only the changed file's chunk is new: {} more",
            chunks() - before
        );
        assert_eq!(listing(&store, &second).len(), 301);
    }
}

#[cfg(test)]
mod pinned {
    use super::*;

    /// About 2,000 files in 40 directories (a few over [`crate::chunked`]'s longest chunk), so
    /// many members are compressed at once and some cuts are forced inside a file.
    fn generated_tree(dir: &std::path::Path) -> Vec<LayerItem> {
        let mut items = Vec::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..2_000u32 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let size = if i % 500 == 7 {
                5_000_000
            } else {
                (state >> 50) as usize
            };
            let content: Vec<u8> = (0..size)
                .map(|j| b"function return const ;\n"[(j * 7 + i as usize) % 24])
                .chain((state >> 8).to_le_bytes())
                .collect();
            let source = dir.join(format!("s{i}"));
            std::fs::write(&source, content).expect("write");
            items.push(LayerItem {
                path: format!("node_modules/p{}/f{i}.js", i % 40),
                kind: ItemKind::File {
                    source,
                    mode: 0o644,
                },
                uid: 0,
                gid: 0,
                xattrs: Vec::new(),
            });
        }
        items
    }

    #[test]
    fn a_generated_tree_keeps_its_digests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let items = generated_tree(dir.path());
        let blob = pack_layer(&store, &items, 0).expect("pack");
        assert_eq!(
            blob.digest.to_string(),
            "sha256:24046cdf4c729208ed32c4e360b77682609ecc5a85407fd5ddd120e5c6663061"
        );
        assert_eq!(
            blob.diff_id.to_string(),
            "sha256:90b0f5d33e25d706177c42285e47cea80ea1616e7040247c38ea3d4d4b0a01bc"
        );
    }
}
