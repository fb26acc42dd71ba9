//! `save_archive` / `load_archive`: round trips, what skopeo makes of bld's archives, loading
//! archives skopeo wrote, and hostile archives refused without touching the store.

mod hostile;
mod load;
mod save;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use bld_core::{Classify, Digest, ErrorKind, ImageConfigSpec, host_platform};
use bld_oci::{
    ArchiveFormat, ImageBlobs, ItemKind, LayerItem, LoadedImage, OciError, SavedImage,
    assemble_image, load_archive, pack_layer, read_image, save_archive, write_layout,
};
use bld_store::Store;
use serde_json::{Value, json};

/// A store holding `base` (one layer) and `app` (base's layer and one more).
struct Images {
    dir: tempfile::TempDir,
    store: Store,
    base: ImageBlobs,
    app: ImageBlobs,
}

fn file(dir: &Path, path: &str, content: &[u8]) -> LayerItem {
    let source = dir.join(path.replace('/', "_"));
    std::fs::write(&source, content).expect("write source");
    LayerItem {
        path: path.into(),
        kind: ItemKind::File {
            source,
            mode: 0o644,
        },
        uid: 0,
        gid: 0,
        xattrs: Vec::new(),
    }
}

fn images() -> Images {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store")).expect("store");
    // Incompressible enough that half an archive ends inside a layer.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let tool: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let base_layer = pack_layer(
        &store,
        &[
            file(dir.path(), "etc/hello", b"hello\n"),
            file(dir.path(), "bin/tool", &tool),
        ],
        0,
    )
    .expect("base layer");
    let app_layer =
        pack_layer(&store, &[file(dir.path(), "app/main.txt", b"app\n")], 0).expect("app layer");
    let (os, architecture) = host_platform();
    let spec = ImageConfigSpec {
        cmd: Some(vec!["/bin/tool".into()]),
        os: os.into(),
        architecture: architecture.into(),
        ..ImageConfigSpec::default()
    };
    let base = assemble_image(&store, None, &[base_layer], &spec, 0).expect("base");
    let app = assemble_image(&store, Some(&base.manifest), &[app_layer], &spec, 0).expect("app");
    Images {
        dir,
        store,
        base,
        app,
    }
}

fn app_names() -> Vec<String> {
    vec!["app:1".into(), "localhost:5000/team/app:v2".into()]
}

fn save(store: &Store, images: &[SavedImage], format: ArchiveFormat) -> Vec<u8> {
    let mut out = Vec::new();
    save_archive(store, images, format, &mut out).expect("save");
    out
}

fn save_app(images: &Images, format: ArchiveFormat) -> Vec<u8> {
    save(
        &images.store,
        &[SavedImage {
            manifest: images.app.manifest,
            names: app_names(),
        }],
        format,
    )
}

/// The blobs of a store, by name.
fn blob_listing(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store.root().join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn tmp_is_empty(store: &Store) -> bool {
    std::fs::read_dir(store.root().join("tmp"))
        .expect("tmp")
        .next()
        .is_none()
}

/// Every blob an image refers to, manifest included.
fn image_blobs(store: &Store, manifest: &Digest) -> Vec<Digest> {
    let (parsed, _) = read_image(store, manifest).expect("read image");
    let mut blobs = vec![*manifest];
    for descriptor in std::iter::once(parsed.config()).chain(parsed.layers()) {
        blobs.push(descriptor.digest().to_string().parse().expect("digest"));
    }
    blobs
}

/// Each entry of a tar: path, type, mode, mtime, uid, gid, owner names and data.
struct Entry {
    header: tar::Header,
    path: String,
    data: Vec<u8>,
}

fn entries(archive: &[u8]) -> Vec<Entry> {
    let mut tar = tar::Archive::new(archive);
    tar.entries()
        .expect("entries")
        .map(|entry| {
            let mut entry = entry.expect("entry");
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("data");
            Entry {
                header: entry.header().clone(),
                path: entry.path().expect("path").to_string_lossy().into_owned(),
                data,
            }
        })
        .collect()
}

/// A tar of `entries`, headers as they are (so they may say anything).
fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        tar.append(&entry.header, entry.data.as_slice())
            .expect("append");
    }
    tar.into_inner().expect("finish")
}

/// An entry whose name and link name are written as raw bytes, unchecked.
fn raw_entry(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Entry {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    Entry {
        header,
        path: name.into(),
        data: data.to_vec(),
    }
}

fn load(store: &Store, archive: &[u8]) -> Result<Vec<LoadedImage>, OciError> {
    load_archive(store, &mut &archive[..])
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}); install it with apt-get"));
    assert!(
        output.status.success(),
        "`{program} {}` failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn entries_paths(archive: &[u8]) -> Vec<String> {
    entries(archive).into_iter().map(|e| e.path).collect()
}
