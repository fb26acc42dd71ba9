//! Saving: round trips, a fixed archive layout, and what skopeo makes of bld's archives.

use super::*;

#[test]
fn saves_round_trip_in_both_formats_and_are_reproducible() {
    let images = images();
    for format in [ArchiveFormat::Docker, ArchiveFormat::Oci] {
        let archive = save_app(&images, format);
        assert_eq!(
            save_app(&images, format),
            archive,
            "{format:?}: the same images and names give the same bytes"
        );
        let target = tempfile::tempdir().expect("tempdir");
        let store = Store::open(target.path()).expect("store");
        let loaded = load(&store, &archive).expect("load");
        assert_eq!(
            loaded,
            [LoadedImage {
                manifest: images.app.manifest,
                config: images.app.config,
                names: app_names(),
            }],
            "{format:?}"
        );
        for blob in image_blobs(&images.store, &images.app.manifest) {
            assert_eq!(
                store.read_blob(&blob).expect("loaded blob (verified)"),
                images.store.read_blob(&blob).expect("original blob"),
                "{format:?}: {blob}"
            );
        }
        assert_eq!(
            blob_listing(&store).len(),
            4,
            "{format:?}: manifest, config, two layers and nothing else"
        );
        assert!(
            tmp_is_empty(&store),
            "{format:?}: the work directory is gone"
        );
    }
}

#[test]
fn saved_archives_have_a_fixed_layout() {
    let images = images();
    let both = [
        SavedImage {
            manifest: images.app.manifest,
            names: app_names(),
        },
        SavedImage {
            manifest: images.base.manifest,
            names: Vec::new(),
        },
    ];
    let archive = save(&images.store, &both, ArchiveFormat::Docker);
    let entries = entries(&archive);
    assert_fixed_order(&images, &entries);
    assert_normalized_headers(&entries);
    let document = |path: &str| -> Value {
        let entry = entries.iter().find(|e| e.path == path).expect(path);
        serde_json::from_slice(&entry.data).expect("json")
    };
    assert_docker_documents(&images, &document);
    assert_index_names_each_image(&images, &document("index.json"));

    let oci = entries_paths(&save(&images.store, &both, ArchiveFormat::Oci));
    assert!(!oci.contains(&"manifest.json".to_owned()) && !oci.contains(&"repositories".into()));
    let target = tempfile::tempdir().expect("tempdir");
    let store = Store::open(target.path()).expect("store");
    let loaded = load(&store, &archive).expect("load both");
    assert_eq!(
        loaded
            .iter()
            .map(|i| (i.manifest, i.names.len()))
            .collect::<Vec<_>>(),
        [(images.app.manifest, 2), (images.base.manifest, 0)]
    );
}

/// The archive of the app and its base: the layout files, then every blob once, sorted.
fn assert_fixed_order(images: &Images, entries: &[Entry]) {
    let mut blobs: Vec<String> = image_blobs(&images.store, &images.app.manifest)
        .into_iter()
        .chain([images.base.manifest, images.base.config])
        .map(|d| format!("blobs/sha256/{}", d.hex()))
        .collect();
    blobs.sort();
    blobs.dedup();
    let mut expected: Vec<String> = [
        "oci-layout",
        "index.json",
        "manifest.json",
        "repositories",
        "blobs/",
        "blobs/sha256/",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(blobs);
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths, expected,
        "fixed order, the shared base layer written once"
    );
}

/// Every entry: mode 0755 or 0644, mtime 0, owned by 0:0 with no user or group names.
fn assert_normalized_headers(entries: &[Entry]) {
    for entry in entries {
        let h = &entry.header;
        let dir = entry.path.ends_with('/');
        assert_eq!(
            h.mode().expect("mode"),
            if dir { 0o755 } else { 0o644 },
            "{}",
            entry.path
        );
        assert_eq!(h.mtime().expect("mtime"), 0, "{}", entry.path);
        assert_eq!(
            (h.uid().expect("uid"), h.gid().expect("gid")),
            (0, 0),
            "{}",
            entry.path
        );
        assert_eq!(h.username_bytes(), Some(&b""[..]), "{}", entry.path);
        assert_eq!(h.groupname_bytes(), Some(&b""[..]), "{}", entry.path);
    }
}

/// `manifest.json` and `repositories`, as `docker load` reads them.
fn assert_docker_documents(images: &Images, document: &dyn Fn(&str) -> Value) {
    let (app_manifest, _) = read_image(&images.store, &images.app.manifest).expect("app");
    let layer_paths: Vec<String> = app_manifest
        .layers()
        .iter()
        .map(|l| format!("blobs/sha256/{}", l.digest().digest()))
        .collect();
    assert_eq!(
        document("manifest.json"),
        json!([
            {
                "Config": format!("blobs/sha256/{}", images.app.config.hex()),
                "Layers": layer_paths,
                "RepoTags": ["app:1", "localhost:5000/team/app:v2"],
            },
            {
                "Config": format!("blobs/sha256/{}", images.base.config.hex()),
                "Layers": [layer_paths[0]],
                "RepoTags": [],
            },
        ])
    );
    let top = app_manifest.layers()[1].digest().digest().to_owned();
    assert_eq!(
        document("repositories"),
        json!({"app": {"1": top}, "localhost:5000/team/app": {"v2": top}})
    );
}

/// `index.json`: one manifest per name (annotated with it), one for the unnamed image.
fn assert_index_names_each_image(images: &Images, index: &Value) {
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(
        manifests.len(),
        3,
        "one per name, one for the unnamed image"
    );
    assert_eq!(
        manifests[1]["annotations"],
        json!({
            "io.containerd.image.name": "localhost:5000/team/app:v2",
            "org.opencontainers.image.ref.name": "localhost:5000/team/app:v2",
        })
    );
    assert_eq!(manifests[2]["digest"], images.base.manifest.to_string());
    assert!(manifests[2].get("annotations").is_none());
}

#[test]
fn skopeo_reads_saved_archives() {
    let images = images();
    let work = images.dir.path();
    let docker = work.join("app-docker.tar");
    let oci = work.join("app-oci.tar");
    std::fs::write(&docker, save_app(&images, ArchiveFormat::Docker)).expect("write");
    std::fs::write(&oci, save_app(&images, ArchiveFormat::Oci)).expect("write");
    let docker = docker.display();
    let oci = oci.display();

    let inspect: Value = serde_json::from_str(&run(
        "skopeo",
        &["inspect", &format!("docker-archive:{docker}")],
    ))
    .expect("inspect json");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(2));
    // Each name picks the image (skopeo matches them against manifest.json's RepoTags).
    run(
        "skopeo",
        &[
            "inspect",
            &format!("docker-archive:{docker}:localhost:5000/team/app:v2"),
        ],
    );
    let config = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--config",
            &format!("docker-archive:{docker}:app:1"),
        ],
    );
    assert_eq!(
        Digest::of(config.as_bytes()),
        images.app.config,
        "docker-archive: gives the config byte for byte"
    );
    for archive in [&docker, &oci] {
        let inspect: Value = serde_json::from_str(&run(
            "skopeo",
            &["inspect", &format!("oci-archive:{archive}:app:1")],
        ))
        .expect("inspect json");
        assert_eq!(
            inspect["Digest"],
            images.app.manifest.to_string(),
            "{archive}"
        );
        let raw = run(
            "skopeo",
            &[
                "inspect",
                "--raw",
                &format!("oci-archive:{archive}:localhost:5000/team/app:v2"),
            ],
        );
        assert_eq!(Digest::of(raw.as_bytes()), images.app.manifest, "{archive}");
    }
    // A copy reads every blob and checks it against its digest.
    let copies = work.join("copies");
    run(
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{docker}:app:1"),
            &format!("oci:{}:from-docker", copies.display()),
        ],
    );
    run(
        "skopeo",
        &[
            "copy",
            &format!("oci-archive:{oci}:app:1"),
            &format!("oci:{}:from-oci", copies.display()),
        ],
    );
}
