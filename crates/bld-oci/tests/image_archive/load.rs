//! Loading archives other tools wrote: skopeo's, old `docker save` ones, multi-platform
//! indexes and Docker manifests.

use super::*;

#[test]
fn archives_skopeo_wrote_load() {
    let images = images();
    let work = images.dir.path();
    let layout = work.join("layout");
    write_layout(
        &images.store,
        &bld_store::FileDigests::load(&images.store),
        &images.app.manifest,
        &layout,
        "app:1",
    )
    .expect("layout");
    let source = format!("oci:{}:app:1", layout.display());
    let docker = work.join("skopeo-docker.tar");
    let oci = work.join("skopeo-oci.tar");
    run(
        "skopeo",
        &[
            "copy",
            &source,
            &format!("docker-archive:{}:app:1", docker.display()),
        ],
    );
    run(
        "skopeo",
        &[
            "copy",
            &source,
            &format!("oci-archive:{}:app:1", oci.display()),
        ],
    );

    let target = tempfile::tempdir().expect("tempdir");
    let store = Store::open(target.path()).expect("store");
    let from_docker = load(&store, &std::fs::read(&docker).expect("read")).expect("load docker");
    assert_eq!(from_docker.len(), 1);
    let loaded = &from_docker[0];
    assert_eq!(loaded.config, images.app.config, "the IMAGE ID is kept");
    assert_eq!(
        loaded.names,
        ["docker.io/library/app:1"],
        "skopeo records names normalized"
    );
    let (manifest, config) = read_image(&store, &loaded.manifest).expect("a valid OCI image");
    assert_eq!(
        manifest.media_type().as_ref().map(|m| m.to_string()),
        Some("application/vnd.oci.image.manifest.v1+json".into())
    );
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(manifest.layers().len())
    );
    for layer in manifest.layers() {
        assert_eq!(
            layer.media_type().to_string(),
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let digest: Digest = layer.digest().to_string().parse().expect("digest");
        let blob = store.read_blob(&digest).expect("layer stored and intact");
        assert_eq!(blob[..2], [0x1f, 0x8b], "layers are stored gzip-compressed");
    }
    // skopeo's docker-archive stores layers uncompressed; bld gzips them the same way twice.
    let again = tempfile::tempdir().expect("tempdir");
    let again = Store::open(again.path()).expect("store");
    let reloaded = load(&again, &std::fs::read(&docker).expect("read")).expect("load again");
    assert_eq!(reloaded, from_docker);

    let from_oci = load(&store, &std::fs::read(&oci).expect("read")).expect("load oci");
    assert_eq!(
        from_oci,
        [LoadedImage {
            manifest: images.app.manifest,
            config: images.app.config,
            names: vec!["app:1".into()],
        }]
    );
    assert!(tmp_is_empty(&store));
}

#[test]
fn old_docker_archives_with_layer_symlinks_load() {
    let images = images();
    let (manifest, _) = read_image(&images.store, &images.app.manifest).expect("app");
    let layer_blob = |i: usize| {
        let digest: Digest = manifest.layers()[i]
            .digest()
            .to_string()
            .parse()
            .expect("d");
        images.store.read_blob(&digest).expect("layer")
    };
    let config = images.store.read_blob(&images.app.config).expect("config");
    // As `docker save` before 25 wrote them: `<id>/layer.tar`, one a symlink to another's.
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(layer_blob(1).as_slice())
        .read_to_end(&mut plain)
        .expect("gunzip");
    let archive = tar_of(&[
        raw_entry("aaa/", tar::EntryType::Directory, "", b""),
        raw_entry("aaa/layer.tar", tar::EntryType::Regular, "", &layer_blob(0)),
        raw_entry("bbb/", tar::EntryType::Directory, "", b""),
        raw_entry(
            "bbb/layer.tar",
            tar::EntryType::Symlink,
            "../aaa/layer.tar",
            b"",
        ),
        raw_entry("ccc/layer.tar", tar::EntryType::Regular, "", &plain),
        raw_entry(
            &format!("{}.json", images.app.config.hex()),
            tar::EntryType::Regular,
            "",
            &config,
        ),
        raw_entry(
            "manifest.json",
            tar::EntryType::Regular,
            "",
            json!([{
                "Config": format!("{}.json", images.app.config.hex()),
                "RepoTags": ["app:old"],
                "Layers": ["bbb/layer.tar", "ccc/layer.tar"],
            }])
            .to_string()
            .as_bytes(),
        ),
    ]);
    let target = tempfile::tempdir().expect("tempdir");
    let store = Store::open(target.path()).expect("store");
    let loaded = load(&store, &archive).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].config, images.app.config);
    assert_eq!(loaded[0].names, ["app:old"]);
    let (loaded_manifest, _) = read_image(&store, &loaded[0].manifest).expect("image");
    assert_eq!(
        loaded_manifest.layers()[0].digest(),
        manifest.layers()[0].digest(),
        "a gzip layer is kept as it is"
    );
}

/// The app image's manifest as Docker writes one (Docker media types, the same blobs).
fn docker_manifest(images: &Images) -> Vec<u8> {
    let (manifest, _) = read_image(&images.store, &images.app.manifest).expect("app");
    let config_size = images
        .store
        .read_blob(&images.app.config)
        .expect("config")
        .len();
    let layers: Vec<Value> = manifest
        .layers()
        .iter()
        .map(|l| {
            json!({
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": l.size(),
                "digest": l.digest().to_string(),
            })
        })
        .collect();
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config_size,
            "digest": images.app.config.to_string(),
        },
        "layers": layers,
    })
    .to_string()
    .into_bytes()
}

/// An index of `docker_manifest` for the host's platform, and of a missing manifest for
/// another platform.
fn platform_index(docker_manifest: &[u8]) -> Vec<u8> {
    let (os, architecture) = host_platform();
    let other = if architecture == "s390x" {
        "ppc64le"
    } else {
        "s390x"
    };
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                // Not in the archive: only the host's entry may be read.
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "size": 7,
                "digest": Digest::of(b"missing").to_string(),
                "platform": {"os": os, "architecture": other},
            },
            {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "size": docker_manifest.len(),
                "digest": Digest::of(docker_manifest).to_string(),
                "platform": {"os": os, "architecture": architecture},
            },
        ],
    })
    .to_string()
    .into_bytes()
}

#[test]
fn indexes_pick_the_host_platform_and_docker_manifests_are_kept() {
    let images = images();
    let docker_manifest = docker_manifest(&images);
    let nested = platform_index(&docker_manifest);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "size": nested.len(),
            "digest": Digest::of(&nested).to_string(),
            "annotations": {"org.opencontainers.image.ref.name": "multi:1"},
        }],
    })
    .to_string()
    .into_bytes();
    let blob = |bytes: &[u8]| {
        raw_entry(
            &format!("blobs/sha256/{}", Digest::of(bytes).hex()),
            tar::EntryType::Regular,
            "",
            bytes,
        )
    };
    let archive: Vec<Entry> = entries(&save_app(&images, ArchiveFormat::Oci))
        .into_iter()
        .filter(|e| e.path != "index.json")
        .chain([
            raw_entry("index.json", tar::EntryType::Regular, "", &index),
            blob(&docker_manifest),
            blob(&nested),
        ])
        .collect();
    let target = tempfile::tempdir().expect("tempdir");
    let store = Store::open(target.path()).expect("store");
    let loaded = load(&store, &tar_of(&archive)).expect("load");
    assert_eq!(
        loaded,
        [LoadedImage {
            manifest: Digest::of(&docker_manifest),
            config: images.app.config,
            names: vec!["multi:1".into()],
        }]
    );
    assert_eq!(
        store.read_blob(&loaded[0].manifest).expect("manifest"),
        docker_manifest,
        "a Docker manifest is stored byte for byte"
    );
    assert!(
        store.read_blob(&Digest::of(&nested)).is_err(),
        "only the chosen image is stored"
    );
    read_image(&store, &loaded[0].manifest).expect("bld reads the image");
}
