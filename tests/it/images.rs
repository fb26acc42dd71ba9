//! The image lifecycle on the local store: `images`, `image inspect`, `history`, `tag`, `rmi`,
//! `image prune`, `gc`, and several processes changing tags at once.

use crate::support::{Run, Sandbox};

/// A workspace with a base Dockerfile (`base/`), one built on it (`app/`, `FROM base:1`) and a
/// bld image target (`//pkg:image`).
fn store_with_images() -> Sandbox {
    let sandbox = Sandbox::with_files(&[
        (
            "base/Dockerfile",
            "FROM scratch\nCOPY a.txt /a.txt\nENV A=1\nLABEL team=core\n",
        ),
        ("base/a.txt", "base file\n"),
        (
            "app/Dockerfile",
            "FROM base:1\nCOPY b.txt /b.txt\nWORKDIR /srv\nCMD [\"/b.txt\"]\nEXPOSE 8080\n",
        ),
        ("app/b.txt", "app file\n"),
        (
            "pkg/BUILD.star",
            "pkg_tar(name = \"files\", srcs = [\"c.txt\"])\noci_image(name = \"image\", tars = [\":files\"])\n",
        ),
        ("pkg/c.txt", "c\n"),
    ]);
    sandbox.bld(&["build", "-t", "base:1", "base"]).ok();
    sandbox
        .bld(&[
            "build",
            "-t",
            "app:1",
            "-t",
            "registry.example:5000/team/app:v1",
            "app",
        ])
        .ok();
    sandbox.bld(&["build", "//pkg:image"]).ok();
    sandbox
}

/// The table rows after the header, split into columns at runs of 2+ spaces.
fn rows(run: &Run) -> Vec<Vec<String>> {
    run.stdout
        .lines()
        .skip(1)
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn image_id(sandbox: &Sandbox, name: &str) -> String {
    sandbox
        .bld(&["image", "inspect", "--format", "{{.Id}}", name])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

#[test]
fn images_lists_tags_and_built_targets_with_docker_columns() {
    let sandbox = store_with_images();
    let list = sandbox.bld(&["images"]).ok();
    assert!(
        list.stdout.starts_with("REPOSITORY  ")
            && list.stdout.lines().next().is_some_and(|h| {
                let columns: Vec<&str> = h
                    .split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                columns == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
            }),
        "{}",
        list.stdout
    );
    let rows = rows(&list);
    let names: Vec<String> = rows.iter().map(|r| format!("{}:{}", r[0], r[1])).collect();
    for name in [
        "base:1",
        "app:1",
        "registry.example:5000/team/app:v1",
        "bld.local/pkg/image:latest",
    ] {
        assert!(names.contains(&name.to_owned()), "{name} in {names:?}");
    }
    assert_eq!(rows.len(), 4, "{}", list.stdout);
    let app = &rows[names.iter().position(|n| n == "app:1").expect("app")];
    let id = image_id(&sandbox, "app:1");
    assert_eq!(app[2], id[7..19], "{app:?}");
    assert!(app[3].ends_with(" ago"), "{app:?}");
    assert!(app[4].ends_with('B'), "{app:?}");

    let quiet = sandbox.bld(&["images", "-q", "app"]).ok();
    assert_eq!(quiet.stdout, format!("{}\n", &id[7..19]));
    let full = sandbox.bld(&["images", "--no-trunc", "-q", "app:1"]).ok();
    assert_eq!(full.stdout.trim(), id);
    let digests = sandbox.bld(&["images", "--digests", "app"]).ok();
    assert!(digests.stdout.contains("DIGEST") && digests.stdout.contains("sha256:"));
    let filtered = sandbox
        .bld(&["images", "registry.example:5000/team/*"])
        .ok();
    assert_eq!(self::rows(&filtered).len(), 1, "{}", filtered.stdout);
    let normalized = sandbox.bld(&["images", "docker.io/library/base"]).ok();
    assert_eq!(self::rows(&normalized).len(), 1, "{}", normalized.stdout);

    let json = sandbox.bld(&["images", "--format", "json"]).ok();
    let objects: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 4);
    assert!(
        objects
            .iter()
            .any(|o| o["Repository"] == "app" && o["Tag"] == "1")
    );
    let template = sandbox
        .bld(&["images", "--format", "{{.Repository}}:{{.Tag}}", "app"])
        .ok();
    assert_eq!(template.stdout, "app:1\n");
    let bad = sandbox.bld(&["images", "--format", "{{.Repository"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("--format"), "{}", bad.stderr);
}

#[test]
fn inspect_prints_dockers_shape_and_templates() {
    let sandbox = store_with_images();
    let run = sandbox.bld(&["image", "inspect", "app:1", "base:1"]).ok();
    let array: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).expect("a JSON array");
    assert_eq!(array.len(), 2);
    let app = &array[0];
    assert_eq!(
        app["RepoTags"],
        serde_json::json!(["app:1", "registry.example:5000/team/app:v1"])
    );
    assert!(
        app["Config"]["Env"]
            .as_array()
            .is_some_and(|e| e.contains(&"A=1".into())),
        "{app}"
    );
    assert_eq!(app["Config"]["Cmd"], serde_json::json!(["/b.txt"]));
    assert_eq!(app["Config"]["WorkingDir"], "/srv");
    assert_eq!(app["Config"]["Labels"]["team"], "core");
    assert!(
        app["Config"]["ExposedPorts"].get("8080/tcp").is_some(),
        "{app}"
    );
    assert_eq!(app["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(app["Os"], "linux");
    assert!(app["Size"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(app["Parent"], array[1]["Id"], "app is built on base");
    assert!(
        app["RepoDigests"][0]
            .as_str()
            .is_some_and(|d| d.starts_with("app@sha256:"))
    );

    let env = sandbox
        .bld(&[
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"team\"}} {{json .Config.Cmd}}",
            "app:1",
        ])
        .ok();
    assert_eq!(env.stdout, "core [\"/b.txt\"]\n");
    let by_id = sandbox
        .bld(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &image_id(&sandbox, "app:1")[7..15],
        ])
        .ok();
    assert_eq!(by_id.stdout.trim(), image_id(&sandbox, "app:1"));
    let top_level = sandbox
        .bld(&["inspect", "--format", "{{.Id}}", "app:1"])
        .ok();
    assert_eq!(
        top_level.stdout, by_id.stdout,
        "`bld inspect` is `bld image inspect`"
    );

    let missing = sandbox.bld(&["image", "inspect", "app:1", "nope:1"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no such image: `nope:1`"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stdout.contains("\"Id\""),
        "found images are still printed"
    );
    let malformed = sandbox.bld(&["image", "inspect", "Bad//name"]);
    assert_eq!(malformed.code, 1);
    assert!(
        malformed.stderr.contains("invalid image reference"),
        "{}",
        malformed.stderr
    );
}

#[test]
fn history_lists_entries_newest_first_with_the_base_image() {
    let sandbox = store_with_images();
    let run = sandbox.bld(&["history", "app:1"]).ok();
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .expect("header")
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    let rows = rows(&run);
    // base: COPY, ENV, LABEL; app: COPY, WORKDIR, CMD, EXPOSE.
    assert_eq!(rows.len(), 7, "{}", run.stdout);
    let app_id = &image_id(&sandbox, "app:1")[7..19];
    let base_id = &image_id(&sandbox, "base:1")[7..19];
    assert_eq!(rows[0][0], app_id);
    assert!(rows[0][2].starts_with("EXPOSE"), "{:?}", rows[0]);
    assert_eq!(rows[4][0], base_id, "the base's last entry shows its ID");
    assert!(rows[4][2].starts_with("LABEL"), "{:?}", rows[4]);
    assert_eq!(rows[1][0], "<missing>");
    assert_eq!(rows[6][2], "COPY a.txt /a.txt");
    assert_eq!(rows[1][3], "0B", "metadata entries have no layer");
    assert!(
        rows[3][3] != "0B",
        "COPY entries have a layer: {:?}",
        rows[3]
    );

    let quiet = sandbox
        .bld(&["image", "history", "-q", "--no-trunc", "app:1"])
        .ok();
    assert_eq!(
        quiet.stdout.lines().next(),
        Some(image_id(&sandbox, "app:1").as_str())
    );
    let json = sandbox.bld(&["history", "--format", "json", "app:1"]).ok();
    let first: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().expect("line")).expect("json");
    assert!(
        first["CreatedBy"]
            .as_str()
            .is_some_and(|c| c.starts_with("EXPOSE"))
    );
    let missing = sandbox.bld(&["history", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no such image"),
        "{}",
        missing.stderr
    );
}

#[test]
fn tag_and_rmi_follow_dockers_rules() {
    let sandbox = store_with_images();
    let app_id = image_id(&sandbox, "app:1");
    sandbox.bld(&["tag", "app:1", "app:2"]).ok();
    sandbox
        .bld(&["image", "tag", &app_id[7..19], "docker.io/library/app:3"])
        .ok();
    assert_eq!(
        image_id(&sandbox, "app:2"),
        app_id,
        "a tag is a new name, not a copy"
    );
    assert_eq!(image_id(&sandbox, "app:3"), app_id);
    let bad = sandbox.bld(&["tag", "app:1", "App:UPPER"]);
    assert!(
        bad.code == 1 && bad.stderr.contains("lowercase"),
        "{}",
        bad.stderr
    );
    let missing = sandbox.bld(&["tag", "nope", "x:1"]);
    assert!(
        missing.code == 1 && missing.stderr.contains("no such image"),
        "{}",
        missing.stderr
    );

    // By name: untags only.
    let untag = sandbox.bld(&["rmi", "app:3"]).ok();
    assert_eq!(untag.stdout, "Untagged: app:3\n");
    // By ID with several tags: refused, naming them; -f removes them all.
    let refused = sandbox.bld(&["rmi", &app_id[7..19]]);
    assert_eq!(refused.code, 1);
    for text in [
        "must be forced",
        "app:1",
        "app:2",
        "registry.example:5000/team/app:v1",
    ] {
        assert!(refused.stderr.contains(text), "{text}: {}", refused.stderr);
    }
    // The base has a child: by ID is refused even forced; by name it is untagged but kept.
    let base_id = image_id(&sandbox, "base:1");
    let child = sandbox.bld(&["rmi", "-f", &base_id[7..19]]);
    assert!(
        child.code == 1 && child.stderr.contains("dependent child images"),
        "{}",
        child.stderr
    );
    sandbox.bld(&["rmi", "base:1"]).ok();
    let all = sandbox.bld(&["images", "-a"]).ok();
    assert!(
        all.stdout.contains("<none>") && all.stdout.contains(&base_id[7..19]),
        "{}",
        all.stdout
    );
    let listed = sandbox.bld(&["images"]).ok();
    assert!(
        !listed.stdout.contains(&base_id[7..19]),
        "an intermediate image is hidden without -a"
    );

    let forced = sandbox.bld(&["rmi", "-f", &app_id[7..19]]).ok();
    for text in [
        "Untagged: app:1",
        "Untagged: app:2",
        &format!("Deleted: {app_id}"),
        &format!("Deleted: {base_id}"),
    ] {
        assert!(forced.stdout.contains(text), "{text}: {}", forced.stdout);
    }
    let left = sandbox.bld(&["images", "-a", "-q"]).ok();
    assert_eq!(
        left.stdout.lines().count(),
        1,
        "only //pkg:image is left: {}",
        left.stdout
    );

    // Several arguments: each is tried; a failure makes the exit code 1.
    let mixed = sandbox.bld(&["rmi", "nope:1", "bld.local/pkg/image"]);
    assert_eq!(mixed.code, 1);
    assert!(
        mixed
            .stdout
            .contains("Untagged: bld.local/pkg/image:latest"),
        "{}",
        mixed.stdout
    );
    assert!(
        mixed.stderr.contains("no such image: `nope:1`"),
        "{}",
        mixed.stderr
    );
}

#[test]
fn prune_and_gc_free_what_no_image_refers_to() {
    let sandbox = store_with_images();
    // An untagged build result is a dangling image.
    sandbox.write("base/a.txt", "changed\n");
    sandbox.bld(&["build", "base"]).ok();
    let dangling = sandbox.bld(&["images"]).ok();
    assert!(dangling.stdout.contains("<none>"), "{}", dangling.stdout);
    let blobs = |s: &Sandbox| {
        std::fs::read_dir(s.store().join("blobs/sha256"))
            .expect("blobs")
            .count()
    };
    let before = blobs(&sandbox);
    let prune = sandbox.bld(&["image", "prune", "-f"]).ok();
    assert!(
        prune
            .stdout
            .starts_with("Deleted Images:\ndeleted: sha256:"),
        "{}",
        prune.stdout
    );
    assert!(
        prune.stdout.contains("Total reclaimed space: "),
        "{}",
        prune.stdout
    );
    assert!(
        !prune.stdout.contains("Total reclaimed space: 0B"),
        "{}",
        prune.stdout
    );
    assert!(blobs(&sandbox) < before);
    assert!(!sandbox.bld(&["images"]).ok().stdout.contains("<none>"));

    // The kept images are whole: they still save as layouts skopeo verifies, and rebuild from
    // the cache.
    sandbox.bld(&["rmi", "bld.local/pkg/image"]).ok();
    let gc = sandbox.bld(&["gc"]).ok();
    assert!(
        gc.stdout.contains("Total reclaimed space:") && !gc.stdout.contains(" 0B"),
        "{}",
        gc.stdout
    );
    let again = sandbox.bld(&["gc"]).ok();
    assert!(again.stdout.contains("Removed 0 blobs"), "{}", again.stdout);
    sandbox.bld(&["build", "-o", "out", "app"]).ok();
    crate::support::skopeo_verifies(&sandbox.ws().join("out"));
}

#[test]
fn two_processes_tagging_and_removing_lose_nothing() {
    let sandbox = store_with_images();
    let spawn = |prefix: &'static str, remove_even: bool| {
        let ws = sandbox.ws();
        let store = sandbox.store();
        std::thread::spawn(move || {
            for i in 0..40 {
                let name = format!("{prefix}:{i}");
                let run = crate::support::run_bld(&ws, &store, &["tag", "app:1", &name]);
                assert_eq!(run.code, 0, "{}", run.stderr);
                if remove_even && i % 2 == 0 {
                    let run = crate::support::run_bld(&ws, &store, &["rmi", &name]);
                    assert_eq!(run.code, 0, "{}", run.stderr);
                }
            }
        })
    };
    let a = spawn("one", false);
    let b = spawn("two", true);
    a.join().expect("first process");
    b.join().expect("second process");
    let names = sandbox
        .bld(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .stdout;
    for i in 0..40 {
        assert!(names.contains(&format!("one:{i}\n")), "one:{i} lost");
        assert_eq!(names.contains(&format!("two:{i}\n")), i % 2 == 1, "two:{i}");
    }
    let app_id = image_id(&sandbox, "app:1");
    let ids = sandbox
        .bld(&["images", "-q", "--no-trunc", "one"])
        .ok()
        .stdout;
    assert!(ids.lines().all(|id| id == app_id), "{ids}");
    let tmp = std::fs::read_dir(sandbox.store().join("tmp"))
        .expect("tmp")
        .count();
    assert_eq!(tmp, 0, "no half-written files are left");
}

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

#[test]
fn save_and_load_round_trip_and_other_tools_accept_the_archives() {
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
    let podman_view = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Config.Env}} {{.Config.Cmd}} {{.RootFS.Layers}}",
        "docker.io/library/app:1",
    ]);
    let bld_view = sandbox
        .bld(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Config.Env}} {{.Config.Cmd}} {{.RootFS.Layers}}",
            "app:1",
        ])
        .ok()
        .stdout;
    assert_eq!(
        podman_view.trim(),
        bld_view.trim().trim_start_matches("sha256:")
    );

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

    let write_tar = |name: &str, entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]| {
        let path = sandbox.path().join(name);
        let mut builder = tar::Builder::new(std::fs::File::create(&path).expect("create"));
        for (entry_name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if let Some(link) = link {
                header.set_link_name(link).expect("link");
            }
            // Write the name bytes directly so `..` and absolute names survive.
            let raw = &mut header.as_old_mut().name;
            raw[..entry_name.len()].copy_from_slice(entry_name.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        builder.finish().expect("finish");
        path
    };
    let truncated = sandbox.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let gzipped_truncated = sandbox.path().join("truncated.tar.gz");
    {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).expect("gzip");
        let gz = gz.finish().expect("gzip");
        std::fs::write(&gzipped_truncated, &gz[..gz.len() / 2]).expect("write");
    }
    // The good archive with one layer's bytes changed (same length, so only digests differ).
    let tampered = {
        let mut archive = tar::Archive::new(bytes.as_slice());
        let path = sandbox.path().join("tampered.tar");
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
    };
    let cases = [
        (
            write_tar(
                "dotdot.tar",
                &[("../evil", tar::EntryType::Regular, b"x", None)],
            ),
            "..",
        ),
        (
            write_tar(
                "absolute.tar",
                &[("/tmp/evil", tar::EntryType::Regular, b"x", None)],
            ),
            "absolute",
        ),
        (
            write_tar(
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

#[test]
fn short_tags_an_earlier_bld_wrote_are_renamed_to_normalized_ones() {
    let sandbox = store_with_images();
    let tags = sandbox.store().join("tags");
    let manifest =
        std::fs::read_to_string(tags.join("docker.io%2Flibrary%2Fapp%3A1")).expect("tag");
    std::fs::write(tags.join("old%3A7"), &manifest).expect("write an old-style tag");
    let list = sandbox
        .bld(&["images", "--format", "{{.Repository}}:{{.Tag}}", "old"])
        .ok();
    assert_eq!(list.stdout, "old:7\n");
    assert!(!tags.join("old%3A7").exists() && tags.join("docker.io%2Flibrary%2Fold%3A7").exists());
    sandbox.bld(&["rmi", "old:7"]).ok();
}

/// Every name `bld images`, `inspect` and `rmi` print names the image it stands for:
/// `docker.io/library/evil.com/app:1` is shown as `library/evil.com/app:1` (not
/// `evil.com/app:1`, another registry's image) and `library/<64 hex>` keeps its `library/`
/// (64 hex digits alone are an image ID).
#[test]
fn printed_names_parse_back_to_the_same_image() {
    let sandbox = Sandbox::with_files(&[("ctx/Dockerfile", "FROM scratch\nLABEL a=1\n")]);
    let id_like = format!("library/{}", "0123456789abcdef".repeat(4));
    sandbox
        .bld(&[
            "build",
            "-t",
            "docker.io/library/evil.com/app:1",
            "-t",
            &id_like,
            "ctx",
        ])
        .ok();
    let listed: Vec<String> = rows(&sandbox.bld(&["images"]).ok())
        .into_iter()
        .map(|row| format!("{}:{}", row[0], row[1]))
        .collect();
    let id_like_tag = format!("{id_like}:latest");
    assert_eq!(
        listed,
        vec![id_like_tag.clone(), "library/evil.com/app:1".to_owned()]
    );
    let tags = sandbox
        .bld(&[
            "inspect",
            "--format",
            "{{json .RepoTags}}",
            "library/evil.com/app:1",
        ])
        .ok();
    assert_eq!(
        tags.stdout.trim(),
        format!("[\"{id_like_tag}\",\"library/evil.com/app:1\"]")
    );
    for name in &listed {
        let removed = sandbox.bld(&["rmi", name]).ok();
        assert!(
            removed.stdout.contains(&format!("Untagged: {name}")),
            "{}",
            removed.stdout
        );
    }
}
