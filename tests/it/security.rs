//! No way out of the sandbox or the store, nothing half-made trusted, nothing left running
//! (issue 9): each test is one defect an outside campaign reproduced.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::errors::fails_with;
use crate::run_steps::{unpack_app, unpack_layout, workspace};
use crate::support::{Sandbox, tool};

/// A directory standing for the host's own files, which no build may reach.
fn host_dir(sandbox: &Sandbox) -> PathBuf {
    let host = sandbox.path().join("host");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("marker"), "host\n").expect("write");
    host
}

fn assert_host_untouched(host: &Path) {
    let names: Vec<String> = std::fs::read_dir(host)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["marker"], "nothing was written on the host");
    assert_eq!(
        std::fs::read_to_string(host.join("marker")).expect("read"),
        "host\n"
    );
}

#[test]
fn bind_mount_sources_resolve_inside_the_stage() {
    let sandbox = workspace("FROM busybox\n");
    let host = host_dir(&sandbox);
    let host = host.display();
    let stage = format!(
        "FROM busybox AS stage\n\
         RUN mkdir /real && echo image > /real/marker && ln -s {host} /hostdir && ln -s /real /inside\n"
    );
    // A symlink to a host path, or `..` up to one, names that path inside the stage, where
    // it does not exist: the step is refused before it starts.
    for source in [
        "hostdir".to_owned(),
        format!("../../../../../../../..{host}"),
        format!("/inside/../../../..{host}"),
    ] {
        sandbox.write(
            "app/Dockerfile",
            &format!(
                "{stage}FROM busybox\n\
                 RUN --mount=type=bind,from=stage,source={source},target=/m,rw sh -c 'echo pwned > /m/pwned'\n"
            ),
        );
        eprintln!("case: source={source}");
        fails_with(
            &sandbox.bld(&["build", "//app:image"]),
            &["no such file or directory in the image"],
        );
        assert_host_untouched(Path::new(&host.to_string()));
    }
    // Symlinks and `..` inside the stage resolve as the stage sees them.
    sandbox.write(
        "app/Dockerfile",
        &format!(
            "{stage}FROM busybox\n\
             RUN --mount=type=bind,from=stage,source=inside,target=/m cat /m/marker > /out1\n\
             RUN --mount=type=bind,from=stage,source=../../real/../inside,target=/m cat /m/marker > /out2\n"
        ),
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    for out in ["out1", "out2"] {
        assert_eq!(
            std::fs::read_to_string(root.join(out)).expect("read"),
            "image\n"
        );
    }
}

/// The busybox base of [`workspace`], tagged `busybox:sec` for plain Dockerfile builds.
fn tagged_base(sandbox: &Sandbox) {
    sandbox.bld(&["build", "//base:image"]).ok();
    sandbox
        .bld(&["tag", "bld.local/base/image", "busybox:sec"])
        .ok();
}

#[test]
fn context_bind_mounts_show_exactly_the_context_bld_sees() {
    let sandbox = workspace("FROM busybox\n");
    tagged_base(&sandbox);
    let host = host_dir(&sandbox);
    let context = sandbox.path().join("ctx");
    std::fs::create_dir_all(context.join("dir")).expect("mkdir");
    std::os::unix::fs::symlink(&host, context.join("leak")).expect("symlink");
    std::os::unix::fs::symlink("/dir", context.join("inside")).expect("symlink");
    std::os::unix::fs::symlink("dir", context.join("rel")).expect("symlink");
    std::fs::write(context.join("kept.txt"), "kept\n").expect("write");
    std::fs::write(context.join("dir/file"), "in dir\n").expect("write");
    std::fs::write(context.join("ignored.txt"), "ignored\n").expect("write");
    std::fs::write(context.join(".dockerignore"), "ignored.txt\n").expect("write");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox:sec\n\
         RUN --mount=type=bind,target=/ctx sh -c '(test -e /ctx/leak/marker && echo leaked || echo safe) > /leak; \
         (test -e /ctx/ignored.txt && echo visible || echo hidden) > /ignored; cat /ctx/kept.txt /ctx/rel/file > /kept; (test -e /ctx/inside/file && echo host-view || echo container-view) > /absolute; \
         echo x > /ctx/new 2>/dev/null || echo read-only > /ro'\n\
         RUN --mount=type=bind,source=inside,target=/d cat /d/file > /through-symlink\n",
    )
    .expect("write");
    let out = sandbox.path().join("out");
    let build = |sandbox: &Sandbox| {
        sandbox.bld(&[
            "build",
            "-o",
            &out.display().to_string(),
            &context.display().to_string(),
        ])
    };
    build(&sandbox).ok();
    let root = unpack_layout(&out, &sandbox.path().join("bundle"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    assert_eq!(
        read("leak"),
        "safe\n",
        "a context symlink resolves in the container"
    );
    assert_eq!(
        read("ignored"),
        "hidden\n",
        ".dockerignore applies to the mount"
    );
    assert_eq!(read("kept"), "kept\nin dir\n");
    assert_eq!(
        read("absolute"),
        "container-view\n",
        "symlinks stay symlinks, resolved in the container"
    );
    assert_eq!(read("ro"), "read-only\n");
    assert_eq!(
        read("through-symlink"),
        "in dir\n",
        "a mount source resolves inside the context"
    );
    assert!(!context.join("new").exists());
    assert_host_untouched(&host);

    // An ignored file is no input: changing it changes nothing. A kept one re-runs the step.
    std::fs::write(context.join("ignored.txt"), "changed\n").expect("write");
    assert_eq!(build(&sandbox).ok().counts().0, 0, "fully cached");
    std::fs::write(context.join("kept.txt"), "changed\n").expect("write");
    assert!(build(&sandbox).ok().counts().0 >= 1, "the step re-runs");

    // A source that leaves the context through a symlink is not found inside it.
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox:sec\nRUN --mount=type=bind,source=leak,target=/m,rw sh -c 'echo pwned > /m/pwned'\n",
    )
    .expect("write");
    fails_with(&build(&sandbox), &["in the build context"]);
    assert_host_untouched(&host);
}

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

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &[u8]) -> bool {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file()
                && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                return true;
            }
        }
    }
    false
}

/// The containers the runtime knows in the store's state directory.
fn containers(store: &Path) -> Vec<String> {
    let root = store.join("containers/runc");
    if !root.exists() {
        return Vec::new();
    }
    tool(
        "runc",
        &["--root", &root.display().to_string(), "list", "-q"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

fn assert_tmp_is_empty(store: &Path) {
    let left: Vec<_> = std::fs::read_dir(store.join("tmp"))
        .expect("tmp")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "tmp/ holds {left:?}");
}

/// Starts `bld args` in the workspace and returns the child.
fn spawn_bld(sandbox: &Sandbox, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(args)
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start bld")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_killed_build_leaves_no_container_secret_or_temporary_file_for_long() {
    let sandbox = workspace(
        "FROM busybox\nRUN --mount=type=secret,id=token sh -c 'cat /run/secrets/token > /dev/null; sleep 60'\n",
    );
    let secret = sandbox.path().join("token");
    std::fs::write(&secret, "s3cr3t-VALUE-9f2c").expect("write");
    let secret_arg = format!("id=token,src={}", secret.display());
    let mut child = spawn_bld(&sandbox, &["build", "--secret", &secret_arg, "//app:image"]);
    wait_for("the step's container", || {
        !containers(&sandbox.store()).is_empty()
    });
    assert!(
        !any_file_holds(&sandbox.store(), b"s3cr3t-VALUE-9f2c"),
        "the secret is on no disk while the step runs"
    );
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    assert_eq!(
        containers(&sandbox.store()).len(),
        1,
        "the container outlives a killed bld"
    );

    // The next build reaps it, and what the dead process left in tmp/.
    sandbox.write("app/Dockerfile", "FROM busybox\nRUN echo done > /done\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    assert_eq!(containers(&sandbox.store()), Vec::<String>::new());
    assert_tmp_is_empty(&sandbox.store());
}

/// Every blob of the OCI layout at `dir` hashes to its name, and every layer inflates to its
/// diff ID.
fn assert_layout_is_sound(dir: &Path) {
    let blob = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        let bytes = std::fs::read(dir.join("blobs/sha256").join(hex)).expect("blob");
        assert_eq!(bld_core::Digest::of(&bytes).hex(), hex, "blob {hex}");
        bytes
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index"))
            .expect("json");
    let manifest: serde_json::Value = serde_json::from_slice(&blob(
        index["manifests"][0]["digest"].as_str().expect("digest"),
    ))
    .expect("json");
    let config: serde_json::Value = serde_json::from_slice(&blob(
        manifest["config"]["digest"].as_str().expect("digest"),
    ))
    .expect("json");
    let layers = manifest["layers"].as_array().expect("layers");
    for (layer, diff_id) in layers
        .iter()
        .zip(config["rootfs"]["diff_ids"].as_array().expect("ids"))
    {
        let compressed = blob(layer["digest"].as_str().expect("digest"));
        let mut tar = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(compressed.as_slice()),
            &mut tar,
        )
        .expect("gunzip");
        assert_eq!(
            bld_core::Digest::of(&tar).to_string(),
            diff_id.as_str().expect("diff id"),
            "layer {layer}"
        );
    }
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
    for label in ["//examples/hello:image", "//examples/greeter:image"] {
        assert_eq!(again.digest_of(label), clean.digest_of(label), "{label}");
    }
    for image in ["hello", "greeter", "busybox"] {
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

/// A docker-archive (`docker save` format) of one image `hostile:1` whose only layer is the
/// plain tar `layer`.
fn archive_with_layer(layer: &[u8]) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [bld_core::Digest::of(layer).to_string()]},
    })
    .to_string();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["hostile:1"],
        "Layers": ["layer.tar"],
    }])
    .to_string();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("layer.tar", layer),
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data).expect("append");
    }
    tar.into_inner().expect("tar")
}

/// A plain layer tar holding one entry named `name` exactly (bytes as an attacker writes
/// them).
fn layer_with_entry(name: &str, kind: tar::EntryType, link: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().expect("gnu");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(if kind == tar::EntryType::Regular {
        4
    } else {
        0
    });
    header.set_cksum();
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"evil"
    } else {
        b""
    };
    tar.append(&header, data).expect("append");
    tar.into_inner().expect("tar")
}

#[test]
fn hostile_layer_entries_are_the_users_error_and_touch_nothing() {
    let sandbox = Sandbox::new();
    let host = host_dir(&sandbox);
    for (what, layer) in [
        (
            "`..`",
            layer_with_entry("../../../../../../escaped", tar::EntryType::Regular, ""),
        ),
        (
            "absolute",
            layer_with_entry("/escaped", tar::EntryType::Regular, ""),
        ),
        (
            "hard link",
            layer_with_entry("stolen", tar::EntryType::Link, "../../../../etc/passwd"),
        ),
    ] {
        let archive = sandbox.path().join("hostile.tar");
        std::fs::write(&archive, archive_with_layer(&layer)).expect("write");
        sandbox
            .bld(&["load", "-i", &archive.display().to_string()])
            .ok();
        eprintln!("case: {what}");
        fails_with(&sandbox.bld(&["run", "hostile:1"]), &["cannot be unpacked"]);
        assert_host_untouched(&host);
        assert!(!Path::new("/escaped").exists());
        sandbox.bld(&["rmi", "hostile:1"]).ok();
    }
}

/// Every blob of the store hashes to its name.
fn assert_store_blobs_are_sound(store: &Path) {
    for blob in std::fs::read_dir(store.join("blobs/sha256")).expect("blobs") {
        let path = blob.expect("blob").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bld_core::Digest::of(&bytes).hex(), name, "blob {name}");
    }
}

#[test]
fn a_kill_9_campaign_leaves_a_store_that_rebuilds_the_clean_digest() {
    let dockerfile = |round: u32| {
        format!(
            "FROM busybox\nENV ROUND={round}\nCOPY name.txt /name.txt\n\
             RUN busybox dd if=/dev/zero of=/big bs=1048576 count=24 2>/dev/null && busybox sleep 0.3\n\
             RUN --mount=type=cache,target=/cache cat /name.txt > /out\n"
        )
    };
    let clean = workspace(&dockerfile(0));
    let clean_digest = clean
        .bld(&["build", "//app:image"])
        .ok()
        .digest_of("//app:image");

    let sandbox = workspace(&dockerfile(0));
    // Builds killed at several phases: analysis, unpacking, running a step, packing its
    // 24 MB layer, writing outputs. Each round changes the first step, so all of them run.
    for (round, delay) in [30u64, 150, 300, 500, 700, 900, 1200, 1600]
        .iter()
        .enumerate()
    {
        sandbox.write("app/Dockerfile", &dockerfile(round as u32 + 1));
        let mut child = spawn_bld(&sandbox, &["build", "//app:image"]);
        std::thread::sleep(std::time::Duration::from_millis(*delay));
        let _ = child.kill();
        child.wait().expect("wait");
    }
    // Garbage collections killed while deleting.
    for delay in [5u64, 20, 60] {
        let mut child = spawn_bld(&sandbox, &["image", "prune", "-a"]);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().expect("wait");
    }
    sandbox.write("app/Dockerfile", &dockerfile(0));
    let rebuilt = sandbox.bld(&["build", "//app:image"]).ok();
    assert_eq!(rebuilt.digest_of("//app:image"), clean_digest);
    assert_store_blobs_are_sound(&sandbox.store());
    assert_layout_is_sound(&sandbox.ws().join("bld-out/app/image"));
    assert_eq!(containers(&sandbox.store()), Vec::<String>::new());
    assert_tmp_is_empty(&sandbox.store());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let store = sandbox.store().display().to_string();
    assert!(
        !mounts.lines().any(|l| l.contains(&store)),
        "no mount of the store is left"
    );
    // Every unpacked layer is complete (it has its record), or absent.
    for entry in std::fs::read_dir(sandbox.store().join("unpacked")).expect("unpacked") {
        let dir = entry.expect("entry").path();
        assert!(
            dir.join("record").is_file(),
            "{} is incomplete",
            dir.display()
        );
    }
}

#[test]
fn an_interrupted_build_stops_its_containers_and_removes_its_files() {
    let sandbox = workspace("FROM busybox\nRUN busybox sleep 30\n");
    for signal in ["-INT", "-TERM"] {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
            .args(["build", "//app:image"])
            .current_dir(sandbox.ws())
            .env("BLD_STORE", sandbox.store())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start bld");
        wait_for("the step's container", || {
            !containers(&sandbox.store()).is_empty()
        });
        tool("kill", &[signal, &child.id().to_string()]);
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{signal}: {stderr}");
        assert_eq!(
            containers(&sandbox.store()),
            Vec::<String>::new(),
            "{signal}"
        );
        assert_tmp_is_empty(&sandbox.store());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let store = sandbox.store().display().to_string();
        assert!(!mounts.lines().any(|l| l.contains(&store)), "{signal}");
    }
}
