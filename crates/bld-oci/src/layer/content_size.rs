//! A layer's size as Docker shows it (`docker images` SIZE, `inspect` `Size`/`VirtualSize`,
//! `history` SIZE): the bytes of the regular files the layer holds, not of its tar.
//!
//! Docker's layer store takes a layer's size from unpacking it (moby's `archive.UnpackLayer`
//! adds up each entry's `hdr.Size`), so directories, symbolic links, hard links (their tar
//! entries carry no data), devices, FIFOs and whiteouts count 0. Docker 20.10.24 shows a
//! layer holding one 12-byte file as `12B`, a layer of symbolic links only as `0B`, and the
//! busybox base as its binary's size (1982256 bytes) plus `0B` for `busybox --install -s`.
//!
//! That is what Docker shows for a layer BuildKit built. For a layer `docker load` unpacked,
//! Docker 20.10.24 (overlay2) measures the unpacked directory instead (moby's
//! `directory.Size`: a symlink counts its target's length, a hard-linked file once): the same
//! `busybox --install -s` layer shows 3216 bytes there. bld counts every layer as BuildKit
//! counts the layers it builds, so `bld build` and `docker build` of one Dockerfile agree.
//!
//! It is measured once per blob, by reading it (the blob is hashed as it is read: a corrupt
//! one is reported, not measured), and remembered in `<store>/sizes/<hex>` as
//! `content-bytes N`; garbage collection removes that file with its blob. A file written by
//! an earlier bld (the tar's length alone) is measured again.

use std::io::{self, BufRead, Read};

use bld_core::Digest;
use bld_store::Store;

use crate::OciError;

/// What starts a remembered content size in `<store>/sizes/<hex>`.
const REMEMBERED_PREFIX: &str = "content-bytes ";

/// The content size of the layer blob `layer` (gzip-compressed, or a plain tar as some
/// loaded archives hold): the sum of its regular files' sizes, as Docker counts it.
pub fn content_size(store: &Store, layer: &Digest) -> Result<u64, OciError> {
    let remembered = store.root().join("sizes").join(layer.hex());
    if let Some(size) = std::fs::read_to_string(&remembered).ok().and_then(|text| {
        text.strip_prefix(REMEMBERED_PREFIX)
            .and_then(|n| n.trim().parse().ok())
    }) {
        return Ok(size);
    }
    let size = measure(store, layer)?;
    let parent = store.root().join("sizes");
    std::fs::create_dir_all(&parent).map_err(|source| OciError::Write {
        path: parent,
        source,
    })?;
    store.write_atomically(
        &remembered,
        format!("{REMEMBERED_PREFIX}{size}\n").as_bytes(),
    )?;
    Ok(size)
}

/// Reads the blob once: the regular files' sizes from the tar headers, and its digest.
fn measure(store: &Store, layer: &Digest) -> Result<u64, OciError> {
    let read_error = |source| {
        OciError::Store(bld_store::StoreError::Io {
            action: "read",
            path: store.blob_path(layer),
            source,
        })
    };
    let corrupt = || {
        let actual = bld_store::digest_file(&store.blob_path(layer)).map(|(d, _)| d);
        match actual {
            Ok(actual) if actual != *layer => OciError::Store(bld_store::StoreError::CorruptBlob {
                expected: *layer,
                actual,
            }),
            _ => read_error(io::Error::other("the layer is not a (gzip-compressed) tar")),
        }
    };
    let mut blob = io::BufReader::new(bld_core::Sha256Reader::new(store.open_blob(layer)?));
    let gzip = blob
        .fill_buf()
        .map_err(read_error)?
        .starts_with(&[0x1f, 0x8b]);
    let size = if gzip {
        let mut tar = flate2::bufread::MultiGzDecoder::new(&mut blob);
        let size = file_bytes(&mut tar).map_err(|_| corrupt())?;
        // The rest of the tar (its end blocks) and of the gzip stream, which is checked.
        io::copy(&mut tar, &mut io::sink()).map_err(|_| corrupt())?;
        size
    } else {
        file_bytes(&mut blob).map_err(|_| corrupt())?
    };
    let (_, actual, _) = blob.into_inner().finish_all().map_err(read_error)?;
    if actual != *layer {
        return Err(corrupt());
    }
    Ok(size)
}

/// The sum of the sizes of the regular files in the tar read from `tar`.
fn file_bytes(tar: &mut dyn Read) -> io::Result<u64> {
    let mut archive = tar::Archive::new(tar);
    let mut total = 0u64;
    for entry in archive.entries()? {
        let entry = entry?;
        if entry.header().entry_type().is_file() {
            total = total.saturating_add(entry.size());
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ItemKind, LayerItem, pack_layer};

    fn item(path: &str, kind: ItemKind) -> LayerItem {
        LayerItem {
            path: path.to_owned(),
            kind,
            uid: 0,
            gid: 0,
            xattrs: Vec::new(),
        }
    }

    #[test]
    fn only_regular_files_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let twelve = dir.path().join("twelve");
        std::fs::write(&twelve, "hello world\n").expect("write");
        let layer = pack_layer(
            &store,
            &[
                item(
                    "a/f",
                    ItemKind::File {
                        source: twelve,
                        mode: 0o644,
                    },
                ),
                item(
                    "a/l",
                    ItemKind::Symlink {
                        target: "/some/where".into(),
                    },
                ),
                item("d", ItemKind::Dir { mode: 0o755 }),
            ],
            0,
        )
        .expect("pack");
        assert_eq!(content_size(&store, &layer.digest).expect("size"), 12);
        // Remembered: a second call reads the remembered size, not the blob.
        let remembered = dir.path().join("store/sizes").join(layer.digest.hex());
        assert_eq!(
            std::fs::read_to_string(&remembered).expect("read"),
            "content-bytes 12\n"
        );
        // A size an earlier bld remembered (the tar's length) is measured again.
        std::fs::write(&remembered, "4608\n").expect("write");
        assert_eq!(content_size(&store, &layer.digest).expect("size"), 12);
    }

    #[test]
    fn a_layer_of_links_only_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let layer = pack_layer(
            &store,
            &[item(
                "bin/sh",
                ItemKind::Symlink {
                    target: "/bin/busybox".into(),
                },
            )],
            0,
        )
        .expect("pack");
        assert_eq!(content_size(&store, &layer.digest).expect("size"), 0);
    }
}
