//! `save_archive` / `load_archive`: round trips, what skopeo makes of bld's archives, loading
//! archives skopeo wrote, and hostile archives refused without touching the store.

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
    for entry in &entries {
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
    let document = |path: &str| -> Value {
        let entry = entries.iter().find(|e| e.path == path).expect(path);
        serde_json::from_slice(&entry.data).expect("json")
    };
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
    let index = document("index.json");
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

fn entries_paths(archive: &[u8]) -> Vec<String> {
    entries(archive).into_iter().map(|e| e.path).collect()
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

#[test]
fn archives_skopeo_wrote_load() {
    let images = images();
    let work = images.dir.path();
    let layout = work.join("layout");
    write_layout(&images.store, &images.app.manifest, &layout, "app:1").expect("layout");
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

#[test]
fn indexes_pick_the_host_platform_and_docker_manifests_are_kept() {
    let images = images();
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
    let docker_manifest = json!({
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
    .into_bytes();
    let (os, architecture) = host_platform();
    let other = if architecture == "s390x" {
        "ppc64le"
    } else {
        "s390x"
    };
    let nested = json!({
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
                "digest": Digest::of(&docker_manifest).to_string(),
                "platform": {"os": os, "architecture": architecture},
            },
        ],
    })
    .to_string()
    .into_bytes();
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
