//! `bld save` and `bld load`: archives other tools read and write, and hostile ones refused.

use std::path::{Path, PathBuf};

use super::store_with_images;
use crate::support::Sandbox;

/// The files in the store's blob, image and tag directories.
fn store_files(sandbox: &Sandbox) -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["blobs/sha256", "images", "tags"] {
        for entry in std::fs::read_dir(sandbox.store().join(dir)).expect("store dir") {
            files.push(format!(
                "{dir}/{}",
                entry.expect("entry").file_name().to_string_lossy()
            ));
        }
    }
    files.sort();
    files
}

/// Saves `images` from the sandbox's store with `bld save -o` to `name` beside it; returns
/// the archive's path.
fn saved(sandbox: &Sandbox, name: &str, images: &[&str]) -> String {
    let path = sandbox.path().join(name).display().to_string();
    let mut args = vec!["save", "-o", &path];
    args.extend_from_slice(images);
    sandbox.bld(&args).ok();
    path
}

#[test]
fn saving_is_deterministic_and_loading_keeps_ids_names_and_layers() {
    let sandbox = store_with_images();
    let archive = sandbox.path().join("app.tar");
    let archive = archive.to_str().expect("utf-8 path");
    sandbox.bld(&["save", "-o", archive, "app:1", "base"]).ok();
    let again = sandbox.path().join("again.tar");
    sandbox
        .bld(&["save", "-o", again.to_str().expect("path"), "app:1", "base"])
        .ok();
    assert_eq!(
        std::fs::read(archive).expect("read"),
        std::fs::read(&again).expect("read"),
        "saving is deterministic"
    );
    crate::support::tool(
        "skopeo",
        &["inspect", &format!("docker-archive:{archive}:app:1")],
    );

    // Into a fresh store: same IDs, names and layers.
    let fresh = Sandbox::new();
    let loaded = fresh.bld(&["load", "-i", archive]).ok();
    assert_eq!(loaded.stdout, "Loaded image: app:1\nLoaded image: base:1\n");
    for name in ["app:1", "base:1"] {
        for template in ["{{.Id}}", "{{json .RootFS.Layers}}", "{{json .Config}}"] {
            assert_eq!(
                fresh
                    .bld(&["image", "inspect", "--format", template, name])
                    .ok()
                    .stdout,
                sandbox
                    .bld(&["image", "inspect", "--format", template, name])
                    .ok()
                    .stdout,
                "{name} {template}"
            );
        }
    }
    let history = |s: &Sandbox| {
        s.bld(&[
            "history",
            "--format",
            "{{.ID}} {{.CreatedBy}} {{.Size}}",
            "app:1",
        ])
        .ok()
        .stdout
    };
    assert_eq!(history(&fresh), history(&sandbox));
}

#[test]
fn podman_loads_what_bld_saves_and_sees_the_same_image() {
    let sandbox = store_with_images();
    let archive = saved(&sandbox, "app.tar", &["app:1"]);
    let archive = archive.as_str();
    // podman loads it and sees the same image.
    let podman_store = sandbox.path().join("podman");
    let root = format!("--root={}", podman_store.join("root").display());
    let runroot = format!("--runroot={}", podman_store.join("run").display());
    let podman = |args: &[&str]| {
        let mut all = vec![root.as_str(), runroot.as_str(), "--storage-driver=vfs"];
        all.extend_from_slice(args);
        crate::support::tool("podman", &all)
    };
    podman(&["load", "-i", archive]);
    // podman's templates are Go's text/template: the same formats print the same text (but
    // for the ID's `sha256:`, which podman leaves out).
    for template in [
        "{{.Id}} {{.Config.Env}} {{.Config.Cmd}} {{.RootFS.Layers}}",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}",
        "{{printf \"%-8s|%q|%d|%.3s\" .Os .Config.WorkingDir (len .Config.Env) .Architecture}}",
        "{{json .Config.Cmd}} {{index .Config.Labels \"team\"}} {{len .RootFS.Layers}}",
        "{{if .Config.User}}{{.Config.User}}{{else}}root{{end}}",
    ] {
        let podman_view = podman(&[
            "image",
            "inspect",
            "--format",
            template,
            "docker.io/library/app:1",
        ]);
        let bld_view = sandbox
            .bld(&["image", "inspect", "--format", template, "app:1"])
            .ok()
            .stdout;
        assert_eq!(
            podman_view.trim(),
            bld_view.trim().trim_start_matches("sha256:"),
            "{template}"
        );
    }
}

#[test]
fn archives_bld_did_not_write_load_too_and_stdin_works() {
    let sandbox = store_with_images();
    let podman_store = sandbox.path().join("podman");
    // An OCI archive from bld, and archives bld did not write (skopeo's docker-archive,
    // buildah's oci-archive), load too; stdin works.
    let oci = sandbox.path().join("app-oci.tar");
    let oci = oci.to_str().expect("path");
    sandbox
        .bld(&["save", "--format", "oci", "-o", oci, "app:1"])
        .ok();
    crate::support::tool("skopeo", &["inspect", &format!("oci-archive:{oci}")]);
    let skopeo_archive = sandbox.path().join("skopeo.tar");
    let skopeo_archive = skopeo_archive.to_str().expect("path");
    crate::support::tool(
        "skopeo",
        &[
            "copy",
            &format!("oci-archive:{oci}"),
            &format!("docker-archive:{skopeo_archive}:team/app:skopeo"),
        ],
    );
    let buildah_archive = sandbox.path().join("buildah.tar");
    let buildah_archive = buildah_archive.to_str().expect("path");
    let buildah_root = format!("--root={}", podman_store.join("buildah").display());
    let buildah_runroot = format!("--runroot={}", podman_store.join("buildah-run").display());
    let buildah = |args: &[&str]| {
        let mut all = vec![
            buildah_root.as_str(),
            buildah_runroot.as_str(),
            "--storage-driver=vfs",
        ];
        all.extend_from_slice(args);
        crate::support::tool("buildah", &all)
    };
    buildah(&["pull", "-q", &format!("oci-archive:{oci}")]);
    let pulled = buildah(&["images", "-q"]);
    buildah(&[
        "push",
        "-q",
        pulled.lines().next().expect("an image"),
        &format!("oci-archive:{buildah_archive}:team/app:buildah"),
    ]);
    let other = Sandbox::new();
    let id = sandbox
        .bld(&["image", "inspect", "--format", "{{.Id}}", "app:1"])
        .ok()
        .stdout;
    for (file, name) in [
        (skopeo_archive, "team/app:skopeo"),
        (buildah_archive, "team/app:buildah"),
    ] {
        let loaded = other.bld(&["load", "-i", file]).ok();
        assert_eq!(loaded.stdout, format!("Loaded image: {name}\n"));
        assert_eq!(
            other
                .bld(&["image", "inspect", "--format", "{{.Id}}", name])
                .ok()
                .stdout,
            id,
            "{name}"
        );
    }
    let piped = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["load"])
        .env("BLD_STORE", Sandbox::new().store())
        .stdin(std::fs::File::open(oci).expect("open"))
        .output()
        .expect("bld load");
    assert!(
        piped.status.success(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&piped.stdout),
        "Loaded image: app:1\n"
    );
}

/// One tar entry as an attacker writes it: name (bytes kept exactly), type, data, link.
type RawEntry<'a> = (&'a str, tar::EntryType, &'a [u8], Option<&'a str>);

/// Writes the tar `name` in `dir` holding `entries`, names written byte for byte so that `..`
/// and absolute names survive.
fn write_tar(dir: &Path, name: &str, entries: &[RawEntry<'_>]) -> PathBuf {
    let path = dir.join(name);
    let mut builder = tar::Builder::new(std::fs::File::create(&path).expect("create"));
    for (entry_name, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if let Some(link) = link {
            header.set_link_name(link).expect("link");
        }
        let raw = &mut header.as_old_mut().name;
        raw[..entry_name.len()].copy_from_slice(entry_name.as_bytes());
        header.set_cksum();
        builder.append(&header, *data).expect("append");
    }
    builder.finish().expect("finish");
    path
}

/// The first half of the archive `bytes`, plain and gzip-compressed, in `dir`.
fn truncated_copies(dir: &Path, bytes: &[u8]) -> (PathBuf, PathBuf) {
    use std::io::Write;
    let truncated = dir.join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let gzipped_truncated = dir.join("truncated.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip");
    let gz = gz.finish().expect("gzip");
    std::fs::write(&gzipped_truncated, &gz[..gz.len() / 2]).expect("write");
    (truncated, gzipped_truncated)
}

/// The archive `bytes` with one byte of its largest entry (a layer) changed: the same length,
/// so only digests differ.
fn tampered_copy(dir: &Path, bytes: &[u8]) -> PathBuf {
    let mut archive = tar::Archive::new(bytes);
    let path = dir.join("tampered.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).expect("create"));
    let mut largest = (String::new(), 0);
    let mut entries = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        if data.len() > largest.1 {
            largest = (name.clone(), data.len());
        }
        entries.push((entry.header().clone(), name, data));
    }
    for (mut header, name, mut data) in entries {
        if name == largest.0 {
            let middle = data.len() / 2;
            data[middle] ^= 0xff;
        }
        builder
            .append_data(&mut header, &name, data.as_slice())
            .expect("append");
    }
    builder.finish().expect("finish");
    path
}

#[test]
fn hostile_or_broken_archives_are_refused_and_change_nothing() {
    let sandbox = store_with_images();
    let good = sandbox.path().join("good.tar");
    sandbox
        .bld(&["save", "-o", good.to_str().expect("path"), "app:1"])
        .ok();
    let bytes = std::fs::read(&good).expect("read");
    let target = Sandbox::new();
    target
        .bld(&["load", "-i", good.to_str().expect("path")])
        .ok();
    target.bld(&["rmi", "app:1"]).ok();
    target.bld(&["gc"]).ok();
    let before = store_files(&target);

    let dir = sandbox.path();
    let (truncated, gzipped_truncated) = truncated_copies(dir, &bytes);
    let tampered = tampered_copy(dir, &bytes);
    let cases = [
        (
            write_tar(
                dir,
                "dotdot.tar",
                &[("../evil", tar::EntryType::Regular, b"x", None)],
            ),
            "..",
        ),
        (
            write_tar(
                dir,
                "absolute.tar",
                &[("/tmp/evil", tar::EntryType::Regular, b"x", None)],
            ),
            "absolute",
        ),
        (
            write_tar(
                dir,
                "symlink.tar",
                &[(
                    "link",
                    tar::EntryType::Symlink,
                    b"",
                    Some("../../etc/passwd"),
                )],
            ),
            "outside",
        ),
        (truncated, "truncated"),
        (gzipped_truncated, "truncated"),
        (tampered, "sha256"),
    ];
    for (path, says) in cases {
        let run = target.bld(&["load", "-i", path.to_str().expect("path")]);
        assert_eq!(run.code, 1, "{}: {}", path.display(), run.stderr);
        assert!(
            run.stderr.contains(says),
            "{}: expected `{says}` in {}",
            path.display(),
            run.stderr
        );
        assert_eq!(
            store_files(&target),
            before,
            "{}: the store is unchanged",
            path.display()
        );
    }
    assert!(!sandbox.path().join("evil").exists() && !std::path::Path::new("/tmp/evil").exists());
}
