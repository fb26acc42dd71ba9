//! What a registry serves that is well-formed but wrong: a config whose diff IDs are not its
//! layers'. The blobs match the manifest, so the pull stores them, as containerd's fetch
//! would; the first unpack checks the layer against the diff ID and refuses it.

use std::path::Path;

use serde_json::Value;

use crate::peers::bld_busybox_base;
use crate::registry::server::Registry;
use crate::support::{run_bld, tool};

/// Writes `bytes` as a blob of the OCI layout `dir`; returns its descriptor's digest and size.
fn put_blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = bld_core::Digest::of(bytes);
    std::fs::write(dir.join("blobs/sha256").join(digest.hex()), bytes).expect("blob");
    (digest.to_string(), bytes.len())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON")
}

#[test]
fn a_config_naming_wrong_diff_ids_is_refused_when_its_layer_is_unpacked() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let store = scratch.join("builder-store");
    bld_busybox_base(scratch, &store);
    let layout = scratch.join("layout");
    std::fs::create_dir_all(&layout).expect("mkdir");
    let archive = scratch.join("busybox.tar").display().to_string();
    run_bld(
        scratch,
        &store,
        &["save", "--format", "oci", "-o", &archive, "busybox"],
    )
    .ok();
    tool(
        "tar",
        &["-xf", &archive, "-C", &layout.display().to_string()],
    );
    // The config lies about the first layer's tar; manifest and index point at the lie.
    let blob = |digest: &Value| {
        let hex = digest
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:");
        layout.join("blobs/sha256").join(hex)
    };
    let mut index = read_json(&layout.join("index.json"));
    let mut manifest = read_json(&blob(&index["manifests"][0]["digest"]));
    let mut config = read_json(&blob(&manifest["config"]["digest"]));
    config["rootfs"]["diff_ids"][0] = Value::from(bld_core::Digest::of(b"a lie").to_string());
    let (digest, size) = put_blob(&layout, config.to_string().as_bytes());
    manifest["config"]["digest"] = digest.into();
    manifest["config"]["size"] = size.into();
    let (digest, size) = put_blob(&layout, manifest.to_string().as_bytes());
    index["manifests"][0]["digest"] = digest.into();
    index["manifests"][0]["size"] = size.into();
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index");
    let name = format!("{}:1", registry.name("team/liar"));
    tool(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}", layout.display()),
            &format!("docker://{name}"),
        ],
    );

    let fresh = scratch.join("fresh");
    run_bld(scratch, &fresh, &["pull", "-q", &name]).ok();
    let ran = run_bld(scratch, &fresh, &["run", &name, "true"]);
    assert_ne!(ran.code, 0);
    assert!(ran.stderr.contains("diff ID"), "{}", ran.stderr);
}
