//! Nothing half-made trusted in the store: private directories, damaged unpacked layers,
//! corrupt blobs and chunk-cache entries, damaged tag records.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::assert_layout_is_sound;
use crate::run_steps::{unpack_app, workspace};
use crate::support::Sandbox;

#[test]
fn the_stores_unpacked_layers_containers_and_temporary_files_are_private() {
    let sandbox = workspace("FROM busybox\nRUN echo x > /x\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    for dir in ["unpacked", "tmp", "containers", "cache-mounts"] {
        let mode = std::fs::metadata(sandbox.store().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o700, "{dir}");
    }
}

/// The root directories of the store's unpacked layers.
fn unpacked_roots(store: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(store.join("unpacked"))
        .expect("unpacked")
        .map(|e| e.expect("entry").path().join("root"))
        .collect()
}

#[test]
fn damaged_or_partial_unpacked_layers_are_unpacked_again() {
    let sandbox = workspace("FROM busybox\nRUN cat /etc/passwd > /copy\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    // A file deleted from an unpacked layer, and a layer whose completion record is gone (what
    // a gc killed mid-delete, or an unpack killed mid-way, leaves).
    let roots = unpacked_roots(&sandbox.store());
    let passwd_layer = roots
        .iter()
        .find(|r| r.join("etc/passwd").exists())
        .expect("a layer with /etc/passwd");
    std::fs::remove_file(passwd_layer.join("etc/passwd")).expect("remove");
    let cat_layer = roots
        .iter()
        .find(|r| r.join("bin/cat").exists())
        .expect("a layer with /bin/cat");
    std::fs::remove_file(cat_layer.parent().expect("dir").join("record")).expect("remove");
    std::fs::remove_file(cat_layer.join("bin/cat")).expect("remove");

    sandbox.write(
        "app/Dockerfile",
        "FROM busybox\nRUN cat /etc/passwd > /copy && echo again > /again\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    assert!(
        std::fs::read_to_string(root.join("copy"))
            .expect("read")
            .starts_with("root:x:0:0")
    );
}

/// The store blobs of the layers of `layout`'s image.
fn layer_blobs(sandbox: &Sandbox, layout: &Path) -> Vec<PathBuf> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let hex = |d: &serde_json::Value| {
        d.as_str()
            .expect("digest")
            .trim_start_matches("sha256:")
            .to_owned()
    };
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(hex(&index["manifests"][0]["digest"])),
        )
        .expect("manifest"),
    )
    .expect("json");
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| sandbox.store().join("blobs/sha256").join(hex(&l["digest"])))
        .collect()
}

#[test]
fn a_corrupt_blob_is_never_written_out_and_breaks_only_its_images() {
    let sandbox = Sandbox::with_examples();
    let clean = sandbox
        .bld(&[
            "build",
            "//examples/hello:image",
            "//examples/busybox:image",
        ])
        .ok();
    let layout = sandbox.ws().join("bld-out/examples/hello/image");
    // A flipped byte, with the mtime set back: only the ctime tells.
    let victim = &layer_blobs(&sandbox, &layout)[0];
    let mtime = std::fs::metadata(victim)
        .expect("stat")
        .modified()
        .expect("mtime");
    let mut bytes = std::fs::read(victim).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(victim, &bytes).expect("write");
    std::fs::File::options()
        .write(true)
        .open(victim)
        .expect("open")
        .set_modified(mtime)
        .expect("set mtime back");
    let again = sandbox.bld(&["build", "//examples/hello:image"]).ok();
    assert_eq!(
        again.digest_of("//examples/hello:image"),
        clean.digest_of("//examples/hello:image")
    );
    assert!(again.counts().0 >= 1, "the corrupt layer is rebuilt");
    assert_layout_is_sound(&layout);

    // A corrupt layer of one image: `bld images` still lists the others and says which one
    // is damaged.
    let busybox = sandbox.ws().join("bld-out/examples/busybox/image");
    let victim = &layer_blobs(&sandbox, &busybox)[0];
    let mut bytes = std::fs::read(victim).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(victim, &bytes).expect("write");
    let _ = std::fs::remove_dir_all(sandbox.store().join("sizes"));
    let listed = sandbox.bld(&["images"]).ok();
    assert!(
        listed.stdout.contains("bld.local/examples/hello/image"),
        "{}",
        listed.stdout
    );
    assert!(
        !listed.stdout.contains("bld.local/examples/busybox/image"),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stderr.contains("examples/busybox/image") && listed.stderr.contains("corrupt"),
        "{}",
        listed.stderr
    );
}

#[test]
fn a_chunk_cache_entry_for_another_chunk_is_not_served() {
    let sandbox = Sandbox::with_examples();
    // Only chunks of 1 MiB or more are cached: the examples' busybox layer is one, and a
    // layer of 3 MB of text another.
    let text: String = (0..3_000_000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    sandbox.write("examples/big/data.txt", &text);
    sandbox.write(
        "examples/big/BUILD.star",
        "pkg_tar(name = \"tar\", srcs = [\"data.txt\"])\noci_image(name = \"image\", tars = [\":tar\"])\n",
    );
    let clean = sandbox.bld(&["build", "//examples/..."]).ok();
    // Every chunk-cache entry now names one intact gzip member: that of some other chunk.
    let chunks: Vec<PathBuf> = std::fs::read_dir(sandbox.store().join("chunks"))
        .expect("chunks")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(chunks.len() >= 2, "several chunks are cached");
    let one = std::fs::read(&chunks[0]).expect("read");
    for chunk in &chunks {
        std::fs::write(chunk, &one).expect("write");
    }
    std::fs::remove_dir_all(sandbox.store().join("ac")).expect("forget the actions");
    std::fs::remove_dir_all(sandbox.ws().join("bld-out")).expect("clean");
    let again = sandbox.bld(&["build", "//examples/..."]).ok();
    for label in [
        "//examples/hello:image",
        "//examples/greeter:image",
        "//examples/big:image",
    ] {
        assert_eq!(again.digest_of(label), clean.digest_of(label), "{label}");
    }
    for image in ["hello", "greeter", "busybox", "big"] {
        assert_layout_is_sound(
            &sandbox
                .ws()
                .join("bld-out/examples")
                .join(image)
                .join("image"),
        );
    }
}

#[test]
fn damaged_tag_records_are_reported_skipped_and_removable() {
    let sandbox = Sandbox::with_examples();
    sandbox.bld(&["build", "//examples/hello:image"]).ok();
    sandbox
        .bld(&["tag", "bld.local/examples/hello/image", "gone:1"])
        .ok();
    sandbox
        .bld(&["tag", "bld.local/examples/hello/image", "garbled:1"])
        .ok();
    let record = |name: &str| {
        std::fs::read_dir(sandbox.store().join("tags"))
            .expect("tags")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .contains(name)
            })
            .unwrap_or_else(|| panic!("a record for {name}"))
    };
    std::fs::write(record("gone"), format!("sha256:{}\n", "ab".repeat(32))).expect("write");
    std::fs::write(record("garbled"), b"\xff\xfe not a digest\n").expect("write");
    let listed = sandbox.bld(&["images"]).ok();
    assert!(
        listed.stdout.contains("bld.local/examples/hello/image"),
        "{}",
        listed.stdout
    );
    assert!(listed.stderr.contains("garbled"), "{}", listed.stderr);
    for name in ["gone:1", "garbled:1"] {
        let removed = sandbox.bld(&["rmi", name]).ok();
        assert!(
            removed.stdout.contains("Untagged"),
            "{name}: {}",
            removed.stdout
        );
    }
    let listed = sandbox.bld(&["images"]).ok();
    assert!(listed.stderr.is_empty(), "{}", listed.stderr);
}
