//! Benchmark: pull and push of an image of about 200 MB in 10 layers against a loopback
//! registry (Debian's `docker-registry`), bld against `skopeo copy` and (when Debian's dockerd
//! is installed) `docker push` / `docker pull`, in the same run: cold (a fresh registry, or a
//! store without the image) and repeated (everything already there). Each cell is the median
//! of `$BLD_BENCH_ROUNDS` rounds (3 by default), each round on a registry of its own.
//!
//! Run with `cargo bench --bench registry` (needs docker-registry and skopeo: `./dev bench`
//! installs them).

use std::path::Path;
use std::process::Command;

#[path = "shared/dockerd.rs"]
mod dockerd;
#[path = "shared/peer.rs"]
mod peer;
#[path = "shared/ports.rs"]
mod ports;
#[path = "shared/registry.rs"]
mod registry;

use dockerd::Dockerd;
use peer::{rounds, timed};
use registry::Registry;

/// Layers, and the bytes of each (random, so compression cannot shrink them).
const LAYERS: usize = 10;
const LAYER_BYTES: usize = 20 << 20;
/// What bld's store tags the image as.
const IMAGE: &str = "bench-image:1";

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

/// Builds the image into `store`, an OCI layout of it for skopeo at `layout`, and a
/// `docker load`able archive of it at `archive`.
fn make_image(dir: &Path, store: &Path, layout: &Path, archive: &Path) {
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
        &mut bld(store, &["build", "-q", "-t", IMAGE, &context_arg]),
    );
    let oci = dir.join("image.oci.tar").display().to_string();
    timed(
        "bld save",
        &mut bld(store, &["save", "--format", "oci", "-o", &oci, IMAGE]),
    );
    let archive = archive.display().to_string();
    timed(
        "bld save",
        &mut bld(store, &["save", "-o", &archive, IMAGE]),
    );
    let layout_arg = format!("oci:{}:1", layout.display());
    timed(
        "skopeo to layout",
        &mut skopeo(&["copy", &format!("oci-archive:{oci}"), &layout_arg]),
    );
}

/// One tool's seconds: push cold, push repeated, pull cold, pull repeated.
type Times = [f64; 4];

fn bld_round(dir: &Path, store: &Path, registry: &Registry, round: usize) -> Times {
    let name = format!("{}:1", registry.name("bench/bld"));
    timed("bld tag", &mut bld(store, &["tag", IMAGE, &name]));
    let push = timed("bld push", &mut bld(store, &["push", "-q", &name]));
    let push_again = timed("bld push again", &mut bld(store, &["push", "-q", &name]));
    let fresh = dir.join(format!("fresh-store-{round}"));
    let pull = timed("bld pull", &mut bld(&fresh, &["pull", "-q", &name]));
    let pull_again = timed("bld pull again", &mut bld(&fresh, &["pull", "-q", &name]));
    let _ = std::fs::remove_dir_all(&fresh);
    [push, push_again, pull, pull_again]
}

fn skopeo_round(dir: &Path, layout: &Path, registry: &Registry, round: usize) -> Times {
    let dest = format!("docker://{}:1", registry.name("bench/skopeo"));
    let source = format!("oci:{}:1", layout.display());
    let copy = |what: &str, from: &str, to: &str| {
        timed(
            what,
            &mut skopeo(&[
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                from,
                to,
            ]),
        )
    };
    let push = copy("skopeo push", &source, &dest);
    let push_again = copy("skopeo push again", &source, &dest);
    let pulled_dir = dir.join(format!("pulled-{round}"));
    let pulled = format!("oci:{}:1", pulled_dir.display());
    let pull = copy("skopeo pull", &dest, &pulled);
    let pull_again = copy("skopeo pull again", &dest, &pulled);
    let _ = std::fs::remove_dir_all(&pulled_dir);
    [push, push_again, pull, pull_again]
}

fn docker_round(daemon: &Dockerd, archive: &Path, registry: &Registry) -> Times {
    let docker = |what: &str, args: &[&str]| timed(what, &mut daemon.command(args));
    docker(
        "docker load",
        &["load", "-q", "-i", &archive.display().to_string()],
    );
    let name = format!("{}:1", registry.name("bench/docker"));
    docker("docker tag", &["tag", IMAGE, &name]);
    let push = docker("docker push", &["push", "-q", &name]);
    let push_again = docker("docker push again", &["push", "-q", &name]);
    docker("docker rmi", &["rmi", IMAGE, &name]);
    let pull = docker("docker pull", &["pull", "-q", &name]);
    let pull_again = docker("docker pull again", &["pull", "-q", &name]);
    docker("docker rmi", &["rmi", &name]);
    [push, push_again, pull, pull_again]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if Registry::start().is_none() {
        println!("docker-registry is not installed: the registry benchmark is skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let layout = dir.path().join("layout");
    let archive = dir.path().join("image.docker.tar");
    make_image(dir.path(), &store, &layout, &archive);
    let daemon = Dockerd::start();
    let rounds = rounds(3);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut dockers = Vec::new();
    for round in 0..rounds {
        // A registry of the round's own: nothing a cold push could mount or skip.
        let registry = Registry::start().expect("docker-registry");
        ours.push(bld_round(dir.path(), &store, &registry, round));
        theirs.push(skopeo_round(dir.path(), &layout, &registry, round));
        if let Some(daemon) = &daemon {
            dockers.push(docker_round(daemon, &archive, &registry));
        }
    }
    println!(
        "bld vs skopeo and Docker: an image of {LAYERS} layers, {} MB, to and from a loopback registry ({} cores), median of {rounds} rounds",
        (LAYERS * LAYER_BYTES) >> 20,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "", "bld", "skopeo", "docker", "bld/skopeo", "bld/docker"
    );
    let cell = |times: &[Times], n: usize| median(times.iter().map(|t| t[n]).collect());
    let rows = [
        "push, cold",
        "push, repeated",
        "pull, cold",
        "pull, repeated",
    ];
    for (n, what) in rows.iter().enumerate() {
        let (b, s) = (cell(&ours, n), cell(&theirs, n));
        let (d, ratio) = if dockers.is_empty() {
            ("-".to_owned(), "-".to_owned())
        } else {
            let d = cell(&dockers, n);
            (format!("{d:.3} s"), format!("{:.2}x", b / d))
        };
        println!(
            "{what:<16} {b:>7.3} s {s:>7.3} s {d:>9} {:>10.2}x {ratio:>11}",
            b / s
        );
    }
}
