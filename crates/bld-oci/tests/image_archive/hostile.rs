//! Hostile, corrupt and truncated archives: refused without touching the store.

use super::*;

/// Loads `archive` into a store that already has blobs: it must be refused with an error
/// saying each of `says`, and the store's blobs must be as they were.
#[track_caller]
fn refused(archive: &[u8], says: &[&str]) {
    let target = tempfile::tempdir().expect("tempdir");
    let store = Store::open(target.path()).expect("store");
    store.put_bytes(b"already here").expect("put");
    let before = blob_listing(&store);
    let error = load(&store, archive).expect_err("a hostile archive is refused");
    let message = error.to_string();
    for part in says {
        assert!(message.contains(part), "`{message}` should say `{part}`");
    }
    assert_eq!(error.kind(), ErrorKind::User, "{message}");
    assert_eq!(blob_listing(&store), before, "{message}: no blob added");
    assert!(
        tmp_is_empty(&store),
        "{message}: the work directory is gone"
    );
}

#[test]
fn hostile_paths_and_links_are_refused() {
    let images = images();
    let valid = entries(&save_app(&images, ArchiveFormat::Docker));
    let with = |extra: Entry, first: bool| {
        let mut all: Vec<Entry> = entries(&tar_of(&valid));
        if first {
            all.insert(0, extra);
        } else {
            all.push(extra);
        }
        tar_of(&all)
    };
    let regular = tar::EntryType::Regular;
    refused(
        &with(raw_entry("../evil", regular, "", b"x"), true),
        &["`../evil`", "`..`"],
    );
    refused(
        &with(raw_entry("blobs/../../evil", regular, "", b"x"), false),
        &["`blobs/../../evil`"],
    );
    refused(
        &with(raw_entry("/tmp/evil", regular, "", b"x"), true),
        &["`/tmp/evil`", "absolute"],
    );
    for target in ["../../etc/passwd", "/etc/passwd", "../.."] {
        refused(
            &with(
                raw_entry("blobs/link", tar::EntryType::Symlink, target, b""),
                false,
            ),
            &["symlink `blobs/link`", target, "outside the archive"],
        );
    }
    refused(
        &with(
            raw_entry("hard", tar::EntryType::Link, "/etc/passwd", b""),
            false,
        ),
        &["hard link `hard`", "outside the archive"],
    );
    refused(
        &with(raw_entry("dev/null", tar::EntryType::Char, "", b""), false),
        &["`dev/null`", "device"],
    );
}

#[test]
fn corrupt_blobs_and_layers_are_refused() {
    let images = images();
    let (manifest, _) = read_image(&images.store, &images.app.manifest).expect("app");
    let top = format!("blobs/sha256/{}", manifest.layers()[1].digest().digest());
    let mut tampered = entries(&save_app(&images, ArchiveFormat::Oci));
    let entry = tampered
        .iter_mut()
        .find(|e| e.path == top)
        .expect("top layer");
    let last = entry.data.len() - 20;
    entry.data[last] ^= 0xff;
    refused(&tar_of(&tampered), &[&format!("blob `{top}`"), "sha256"]);

    // A docker-archive whose config lists another diff ID for a layer.
    let config = images.store.read_blob(&images.app.config).expect("config");
    let mut config: Value = serde_json::from_slice(&config).expect("json");
    config["rootfs"]["diff_ids"][1] = json!(Digest::of(b"other").to_string());
    let docker: Vec<Entry> = entries(&save_app(&images, ArchiveFormat::Docker))
        .into_iter()
        .filter(|e| e.path != "index.json")
        .map(|mut e| {
            if e.path == "manifest.json" {
                let mut listed: Value = serde_json::from_slice(&e.data).expect("json");
                listed[0]["Config"] = json!("config.json");
                e.data = listed.to_string().into_bytes();
                e.header.set_size(e.data.len() as u64);
                e.header.set_cksum();
            }
            e
        })
        .chain([raw_entry(
            "config.json",
            tar::EntryType::Regular,
            "",
            config.to_string().as_bytes(),
        )])
        .collect();
    refused(&tar_of(&docker), &[&format!("layer `{top}`"), "diff ID"]);

    // A zstd layer, and a layer that is not there.
    let swap_layer = |data: Option<&[u8]>| {
        let all: Vec<Entry> = entries(&tar_of(&docker))
            .into_iter()
            .filter_map(|mut e| {
                if e.path == top {
                    let data = data?;
                    e.data = data.to_vec();
                    e.header.set_size(e.data.len() as u64);
                    e.header.set_cksum();
                }
                Some(e)
            })
            .collect();
        tar_of(&all)
    };
    refused(
        &swap_layer(Some(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0])),
        &[&format!("layer `{top}`"), "zstd", "not supported"],
    );
    refused(
        &swap_layer(None),
        &[&format!("`{top}`"), "not a file in the archive"],
    );
}

#[test]
fn truncated_archives_are_refused() {
    let images = images();
    let archive = save_app(&images, ArchiveFormat::Docker);
    refused(
        &archive[..archive.len() / 2],
        &["truncated or not a tar file"],
    );
    // Cut at an entry boundary: only the missing end-of-archive blocks tell.
    let blocks_at_end = archive.iter().rev().take_while(|b| **b == 0).count() / 512;
    refused(
        &archive[..archive.len() - blocks_at_end * 512],
        &["truncated or not a tar file"],
    );
    refused(b"", &["truncated or not a tar file", "empty"]);
    refused(
        b"this is not a tar file at all, not even close..",
        &["truncated or not a tar file"],
    );

    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&archive).expect("gzip");
    let gzipped = gzip.finish().expect("gzip");
    let target = tempfile::tempdir().expect("tempdir");
    let store = Store::open(target.path()).expect("store");
    let loaded = load(&store, &gzipped).expect("a gzip-compressed archive loads");
    assert_eq!(loaded[0].manifest, images.app.manifest);
    refused(
        &gzipped[..gzipped.len() / 2],
        &["truncated or not a tar file"],
    );
    refused(
        &gzipped[..gzipped.len() - 4],
        &["truncated or not a tar file"],
    );
}

#[test]
fn an_archive_naming_an_image_badly_is_refused_before_any_blob_is_stored() {
    let images = images();
    let mut all = entries(&save_app(&images, ArchiveFormat::Docker));
    let manifest = all
        .iter()
        .position(|e| e.path == "manifest.json")
        .expect("manifest.json");
    let mut listed: Value = serde_json::from_slice(&all[manifest].data).expect("json");
    listed[0]["RepoTags"] = json!(["Bad Name!:1"]);
    let text = listed.to_string();
    all[manifest] = raw_entry(
        "manifest.json",
        tar::EntryType::Regular,
        "",
        text.as_bytes(),
    );
    refused(&tar_of(&all), &["names an image badly", "Bad Name!:1"]);
}
