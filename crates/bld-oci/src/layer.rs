//! Deterministic layer tars: sorted entries, fixed mtimes, explicit owners and modes, implicit
//! parent directories, gzip at a fixed level; hashed (diff ID and blob digest) while streaming.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use bld_core::{Digest, Sha256Writer};
use bld_store::Store;

use crate::OciError;
use crate::gzip::GzipWriter;

/// The gzip level of every layer bld writes; part of what makes layers reproducible.
const GZIP_LEVEL: u32 = 6;

/// One regular file to put in a layer.
#[derive(Debug, Clone)]
pub struct LayerFile {
    /// Path inside the tar: relative, normalized, `/`-separated.
    pub path: String,
    /// Where its content is read from.
    pub source: PathBuf,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
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

enum Entry<'a> {
    Dir,
    File(&'a LayerFile),
    Symlink(&'a str),
}

/// Packs `files` and `symlinks` (path → target) into a gzip-compressed tar in the store.
///
/// Entries are sorted by path; every parent directory is added (mode 0755, owner 0:0); every
/// entry gets `mtime`. The same arguments always give the same bytes.
pub fn pack_layer(
    store: &Store,
    files: &[LayerFile],
    symlinks: &[(String, String)],
    mtime: u64,
) -> Result<LayerBlob, OciError> {
    let mut entries: BTreeMap<&str, Entry<'_>> = BTreeMap::new();
    for file in files {
        entries.insert(&file.path, Entry::File(file));
    }
    for (path, target) in symlinks {
        entries.insert(path, Entry::Symlink(target));
    }
    let leaves: Vec<&str> = entries.keys().copied().collect();
    for path in leaves {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            entries.entry(&path[..end]).or_insert(Entry::Dir);
            end += 1;
        }
    }

    let blob = store.blob_writer()?;
    let gzip = GzipWriter::new(blob, GZIP_LEVEL).map_err(|source| OciError::Write {
        path: store.root().join("tmp"),
        source,
    })?;
    let mut tar = tar::Builder::new(Sha256Writer::new(gzip));
    let write_error = |source: io::Error| OciError::Write {
        path: store.root().join("tmp"),
        source,
    };
    for (path, entry) in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_uid(0);
                header.set_gid(0);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), io::empty())
                    .map_err(write_error)?;
            }
            Entry::File(file) => {
                let source = File::open(&file.source).map_err(|source| OciError::Source {
                    path: file.source.clone(),
                    source,
                })?;
                let len = source
                    .metadata()
                    .map_err(|source| OciError::Source {
                        path: file.source.clone(),
                        source,
                    })?
                    .len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(file.mode);
                header.set_uid(file.uid.into());
                header.set_gid(file.gid.into());
                header.set_size(len);
                tar.append_data(&mut header, path, io::Read::take(source, len))
                    .map_err(write_error)?;
            }
            Entry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_uid(0);
                header.set_gid(0);
                header.set_size(0);
                tar.append_link(&mut header, path, target)
                    .map_err(write_error)?;
            }
        }
    }
    let hashed = tar.into_inner().map_err(write_error)?;
    let (gzip, diff_id, _) = hashed.finish();
    let mut blob = gzip.finish().map_err(write_error)?;
    blob.flush().map_err(write_error)?;
    let (digest, size) = blob.commit()?;
    Ok(LayerBlob {
        digest,
        size,
        diff_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn listing(store: &Store, blob: &LayerBlob) -> Vec<String> {
        let gz = flate2::read::GzDecoder::new(store.open_blob(&blob.digest).expect("blob"));
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
        let files = vec![
            LayerFile {
                path: "usr/bin/b".into(),
                source: dir.path().join("b"),
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
            LayerFile {
                path: "etc/a".into(),
                source: dir.path().join("a"),
                mode: 0o644,
                uid: 1,
                gid: 2,
            },
        ];
        let links = vec![("usr/bin/c".to_owned(), "b".to_owned())];
        let blob = pack_layer(&store, &files, &links, 7).expect("pack");
        assert_eq!(
            listing(&store, &blob),
            [
                "etc/ 755 0:0 7 ",
                "etc/a 644 1:2 7 ay",
                "usr/ 755 0:0 7 ",
                "usr/bin/ 755 0:0 7 ",
                "usr/bin/b 755 0:0 7 bee",
                "usr/bin/c 777 0:0 7 ",
            ]
        );
        let mut reversed = files.clone();
        reversed.reverse();
        assert_eq!(
            pack_layer(&store, &reversed, &links, 7).expect("pack"),
            blob
        );
    }
}
