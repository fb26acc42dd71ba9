//! Benchmark: pull and push of an image of about 200 MB in 10 layers against a loopback
//! registry (Debian's `docker-registry`), bld against `skopeo copy` in the same run: cold (the
//! registry or the store without the image) and repeated (everything already there).
//!
//! Run with `cargo bench --bench registry` (needs docker-registry and skopeo: `./dev bench`
//! installs them).

use std::path::Path;
use std::process::Command;

#[path = "shared/dockerd.rs"]
mod dockerd;
#[path = "shared/peer.rs"]
mod peer;
#[path = "shared/registry.rs"]
mod registry;

use peer::timed;
use registry::Registry;

/// Layers, and the bytes of each (random, so compression cannot shrink them).
const LAYERS: usize = 10;
const LAYER_BYTES: usize = 20 << 20;

fn bld(store: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bld"));
    command.args(args).env("BLD_STORE", store);
    command
}

fn skopeo(args: &[&str]) -> Command {
    let mut command = Command::new("skopeo");
    command.args(args);
    command
}

/// Builds the image into `store` as `name`, and an OCI layout of it for skopeo at `layout`.
fn make_image(dir: &Path, store: &Path, name: &str, layout: &Path) {
    let context = dir.join("context");
    std::fs::create_dir_all(&context).expect("mkdir");
    let mut dockerfile = String::from("FROM scratch\n");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for layer in 0..LAYERS {
        let bytes: Vec<u8> = (0..LAYER_BYTES)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        std::fs::write(context.join(format!("blob{layer}")), bytes).expect("write");
        dockerfile.push_str(&format!("COPY blob{layer} /data/blob{layer}\n"));
    }
    std::fs::write(context.join("Dockerfile"), dockerfile).expect("write");
    let context_arg = context.display().to_string();
    timed(
        "bld build",
        &mut bld(store, &["build", "-q", "-t", name, &context_arg]),
    );
    let archive = dir.join("image.tar").display().to_string();
    timed(
        "bld save",
        &mut bld(store, &["save", "--format", "oci", "-o", &archive, name]),
    );
    let layout_arg = format!("oci:{}:1", layout.display());
    timed(
        "skopeo to layout",
        &mut skopeo(&["copy", &format!("oci-archive:{archive}"), &layout_arg]),
    );
}

fn main() {
    let Some(registry) = Registry::start() else {
        println!("docker-registry is not installed: the registry benchmark is skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let layout = dir.path().join("layout");
    let bld_name = format!("{}:1", registry.name("bench/bld"));
    make_image(dir.path(), &store, &bld_name, &layout);
    let skopeo_dest = format!("docker://{}:1", registry.name("bench/skopeo"));
    let layout_src = format!("oci:{}:1", layout.display());

    let bld_push = timed("bld push", &mut bld(&store, &["push", "-q", &bld_name]));
    let skopeo_push = timed(
        "skopeo push",
        &mut skopeo(&["copy", "--dest-tls-verify=false", &layout_src, &skopeo_dest]),
    );
    let bld_push_again = timed(
        "bld push again",
        &mut bld(&store, &["push", "-q", &bld_name]),
    );
    let skopeo_push_again = timed(
        "skopeo push again",
        &mut skopeo(&["copy", "--dest-tls-verify=false", &layout_src, &skopeo_dest]),
    );

    let fresh = dir.path().join("fresh-store");
    let bld_pull = timed("bld pull", &mut bld(&fresh, &["pull", "-q", &bld_name]));
    let pulled = format!("oci:{}:1", dir.path().join("pulled").display());
    let skopeo_pull = timed(
        "skopeo pull",
        &mut skopeo(&["copy", "--src-tls-verify=false", &skopeo_dest, &pulled]),
    );
    let bld_pull_again = timed(
        "bld pull again",
        &mut bld(&fresh, &["pull", "-q", &bld_name]),
    );
    let skopeo_pull_again = timed(
        "skopeo pull again",
        &mut skopeo(&["copy", "--src-tls-verify=false", &skopeo_dest, &pulled]),
    );

    println!(
        "bld vs skopeo: an image of {LAYERS} layers, {} MB, to and from a loopback registry ({} cores)",
        (LAYERS * LAYER_BYTES) >> 20,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<22} {:>10} {:>10} {:>12}",
        "", "bld", "skopeo", "bld/skopeo"
    );
    for (what, ours, theirs) in [
        ("push, cold", bld_push, skopeo_push),
        ("push, repeated", bld_push_again, skopeo_push_again),
        ("pull, cold", bld_pull, skopeo_pull),
        ("pull, repeated", bld_pull_again, skopeo_pull_again),
    ] {
        println!(
            "{what:<22} {ours:>8.3} s {theirs:>8.3} s {:>11.2}x",
            ours / theirs
        );
    }
}
