//! No way out of the sandbox or the store, nothing half-made trusted, nothing left running
//! (issue 9): each test is one defect an outside campaign reproduced.

mod escapes;
mod interrupts;
mod store;

use std::path::{Path, PathBuf};

use crate::support::{Sandbox, tool};

/// A directory standing for the host's own files, which no build may reach.
pub(super) fn host_dir(sandbox: &Sandbox) -> PathBuf {
    let host = sandbox.path().join("host");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("marker"), "host\n").expect("write");
    host
}

pub(super) fn assert_host_untouched(host: &Path) {
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

/// The containers the runtime knows in the store's state directory.
pub(super) fn containers(store: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    // Steps run under crun where it is installed, `bld run` under runc.
    for runtime in ["runc", "crun"] {
        let root = store.join("containers").join(runtime);
        if root.exists() {
            let listed = tool(
                runtime,
                &["--root", &root.display().to_string(), "list", "-q"],
            );
            ids.extend(listed.lines().map(str::to_owned));
        }
    }
    ids
}

pub(super) fn assert_tmp_is_empty(store: &Path) {
    let left: Vec<_> = std::fs::read_dir(store.join("tmp"))
        .expect("tmp")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "tmp/ holds {left:?}");
}

/// Every blob of the OCI layout at `dir` hashes to its name, and every layer inflates to its
/// diff ID.
pub(super) fn assert_layout_is_sound(dir: &Path) {
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
