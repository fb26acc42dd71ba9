//! Benchmark: Dockerfiles with RUN steps on a busybox base, built by bld and by buildah in the
//! same run (`bud --layers --isolation oci --runtime runc --network none`, overlay storage).
//! Prints each time and the bld/buildah ratio for a clean build, a fully cached rebuild, and a
//! rebuild after one source file changed: the medians of several rounds (`BLD_BENCH_ROUNDS`,
//! default 5), each starting from nothing.
//!
//! Then a RUN step's changes becoming a layer (issue 11): a `node_modules`-like tree (about
//! 46,000 entries, 340 MB) captured by bld, against `tar -c | gzip -6` of the same tree in the
//! same run, alone and inside a whole RUN build that writes the tree.
//!
//! Run with `cargo bench --bench run` (needs root, runc, buildah and busybox-static);
//! `cargo bench --bench run -- capture` runs only the capture case, `cargo bench --bench run --
//! compare` only the comparison with buildah and BuildKit. Without docker.io the BuildKit column
//! is skipped.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "shared/buildah_flags.rs"]
mod buildah_flags;
#[path = "shared/dockerd.rs"]
mod dockerd;
#[path = "shared/node_tree.rs"]
mod node_tree;
#[path = "shared/peer.rs"]
mod peer;

use dockerd::Dockerd;
use peer::{Row, buildah, buildkit, buildkit_build, timed};

/// The busybox base: its `round` file, different in each round of a comparison, makes every
/// step a cache miss for each tool without deleting anything between rounds.
const BASE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY round /etc/bench-round\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n";

/// The app's RUN commands, in order, and its Dockerfile (a COPY of `src/` before the last).
const APP_STEPS: [&str; 3] = [
    "mkdir -p /opt/tools && for i in $(seq 1 200); do echo tool $i > /opt/tools/t$i; done",
    "mkdir -p /etc && echo configured > /etc/app.conf && rm -f /bin/vi",
    "cat /app/*.txt | wc -l > /app/lines && ls /app > /app/index",
];

fn app_dockerfile() -> String {
    let [tools, etc, lines] = APP_STEPS;
    format!(
        "FROM bench-busybox\nRUN {tools}\nRUN {etc}\nCOPY src/ /app/\nRUN {lines}\nCMD [\"cat\", \"/app/lines\"]\n"
    )
}

fn bld(store: &Path, context: &Path, tag: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bld"));
    command
        .args(["build", "--quiet", "-t", tag])
        .arg(context)
        .env("BLD_STORE", store);
    command
}

fn buildah_build(root: &Path, context: &Path, tag: &str) -> Command {
    let context = context.display().to_string();
    let mut args = vec!["bud", "--layers"];
    args.extend_from_slice(buildah_flags::BUD_ISOLATED_RUN);
    args.extend(["-t", tag, &context]);
    buildah(root, &args)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let only = |name: &str| std::env::args().any(|a| a == name);
    if !only("capture") {
        compare_with_buildah(dir.path());
    }
    if !only("compare") {
        run_layer_capture(dir.path());
    }
}

/// Builds the busybox base image `bench-busybox` of `round` from `dir/base` into `store`.
fn busybox_base(dir: &Path, store: &Path, round: usize) -> f64 {
    let base = dir.join("base");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::copy("/bin/busybox", base.join("busybox")).expect("/bin/busybox (busybox-static)");
    std::fs::write(base.join("round"), format!("{round}\n")).expect("write");
    std::fs::write(base.join("Dockerfile"), BASE).expect("write");
    timed("bld base", &mut bld(store, &base, "bench-busybox"))
}

/// Seconds BuildKit takes to build the busybox base from `dir/base` (after `busybox_base`),
/// tagged `busybox:latest` and `bench-busybox:latest`; `None` without a daemon.
fn buildkit_base(daemon: Option<&Dockerd>, dir: &Path) -> Option<f64> {
    let base = dir.join("base").display().to_string();
    let tags = ["-t", "busybox:latest", "-t", "bench-busybox:latest"];
    let mut args = vec!["build", "--network", "none"];
    args.extend(tags);
    args.push(&base);
    daemon.map(|d| timed("docker build base", &mut d.command(&args)))
}

fn compare_with_buildah(dir: &Path) {
    let daemon = buildkit();
    let daemon = daemon.as_ref();
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("src")).expect("mkdir");
    std::fs::write(app.join("Dockerfile"), app_dockerfile()).expect("write");
    let mut floors = Vec::new();
    let rounds: Vec<_> = (0..peer::rounds(5))
        .map(|round| {
            floors.push(steps_floor(dir, &app, round));
            compare_round(dir, &app, daemon, round)
        })
        .collect();
    println!(
        "bld vs buildah and BuildKit: Dockerfiles with RUN steps on busybox ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    peer::print_rounds(&rounds);
    let [clean, _, _] = peer::medians(&rounds);
    floors.sort_by(f64::total_cmp);
    let floor = floors[floors.len() / 2];
    println!(
        "the clean build's steps run alone (chroot, same disk, no container or layer): {floor:.2} s; \
         beyond that, bld {:.2} s and BuildKit {}",
        clean.0 - floor,
        clean.2.map_or("-".to_owned(), |kit| format!(
            "{:.2} s ({:.2}x)",
            kit - floor,
            (clean.0 - floor) / (kit - floor)
        ))
    );
}

/// Seconds the clean build's own work takes with no container, layer or cache around it: the
/// base's `busybox --install` and the app's RUN commands (and its COPY, as `cp`) in a chroot on
/// the same disk. What the steps cost whoever runs them (file creation dominates on these
/// machines), so that the time each tool adds can be told apart.
fn steps_floor(dir: &Path, app: &Path, round: usize) -> f64 {
    let root = dir.join(format!("floor-{round}"));
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    let script = format!(
        "cp /bin/busybox {root}/bin/busybox && chroot {root} /bin/busybox --install -s /bin && \
         chroot {root} /bin/sh -c '{tools}' && chroot {root} /bin/sh -c '{etc}' && \
         cp -r {src} {root}/app && chroot {root} /bin/sh -c '{lines}'",
        root = root.display(),
        src = app.join("src").display(),
        tools = APP_STEPS[0],
        etc = APP_STEPS[1],
        lines = APP_STEPS[2],
    );
    timed("steps alone", Command::new("sh").args(["-c", &script]))
}

/// One round: clean builds (the base image included, as on a fresh machine), fully cached
/// rebuilds and rebuilds after one source file changed, each tool starting from nothing. Nothing
/// is deleted until the bench ends: on these machines' ext4 (no journal), allocating inodes is
/// slow for about 30 s after many were freed, which would fall on whichever tool comes next.
fn compare_round(dir: &Path, app: &Path, daemon: Option<&Dockerd>, round: usize) -> [Row; 3] {
    let base = dir.join("base");
    for i in 0..50 {
        std::fs::write(
            app.join("src").join(format!("f{i}.txt")),
            format!("line {i}\n"),
        )
        .expect("write");
    }
    let (store, peer) = (
        dir.join(format!("bld-store-{round}")),
        dir.join(format!("buildah-{round}")),
    );
    let bld_clean =
        busybox_base(dir, &store, round) + timed("bld app", &mut bld(&store, app, "bench-app"));
    let peer_clean = timed(
        "buildah base",
        &mut buildah_build(&peer, &base, "bench-busybox"),
    ) + timed("buildah app", &mut buildah_build(&peer, app, "bench-app"));
    let kit_clean = buildkit_base(daemon, dir)
        .map(|base| base + buildkit_build(daemon, app, "bench-app:1").unwrap_or(0.0));
    let bld_cached = timed("bld cached", &mut bld(&store, app, "bench-app"));
    let peer_cached = timed(
        "buildah cached",
        &mut buildah_build(&peer, app, "bench-app"),
    );
    let kit_cached = buildkit_build(daemon, app, "bench-app:2");
    std::fs::write(app.join("src/f7.txt"), "changed\n").expect("write");
    let bld_one = timed("bld one file", &mut bld(&store, app, "bench-app"));
    let peer_one = timed(
        "buildah one file",
        &mut buildah_build(&peer, app, "bench-app"),
    );
    let kit_one = buildkit_build(daemon, app, "bench-app:3");
    [
        (bld_clean, peer_clean, kit_clean),
        (bld_cached, peer_cached, kit_cached),
        (bld_one, peer_one, kit_one),
    ]
}

/// A RUN step whose changes are the generated tree, unpacked from a tar in the context.
const NODE_APP: &str = "FROM bench-busybox\n\
RUN --mount=type=bind,source=tree.tar,target=/tree.tar \
mkdir -p /app/node_modules && tar -xf /tree.tar -C /app/node_modules\n";

/// Seconds `tar -c | gzip -6` of `tree` takes: the floor a layer's capture is measured against.
fn tar_gzip(tree: &Path) -> f64 {
    let script = format!("tar -C '{}' -c . | gzip -6 > /dev/null", tree.display());
    timed("tar | gzip -6", Command::new("sh").args(["-c", &script]))
}

/// Seconds bld takes to make a layer of `tree` read as a RUN step's upper directory, into a
/// fresh store (no chunk cached).
fn capture(dir: &Path, tree: &Path, round: usize) -> (f64, bld_core::Digest) {
    let store = bld_store::Store::open(&dir.join(format!("capture-store-{round}"))).expect("store");
    let work = dir.join(format!("capture-work-{round}"));
    std::fs::create_dir_all(&work).expect("mkdir");
    let started = Instant::now();
    let layer = bld_exec::pack_upper(&store, tree, &work, 0, &[]).expect("capture");
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(dir.join(format!("capture-store-{round}")));
    (seconds, layer.digest)
}

/// The capture of a `node_modules`-like tree, best of two rounds each, against the floor; then a
/// whole RUN build writing that tree (its step unpacks a tar, which the floor does not include).
fn run_layer_capture(dir: &Path) {
    let tree = dir.join("node_modules");
    let entries = node_tree::write_node_modules(&tree, 11);
    let (mut ours, mut floor, mut layer) = (f64::MAX, f64::MAX, None);
    for round in 0..2 {
        floor = floor.min(tar_gzip(&tree));
        let (seconds, digest) = capture(dir, &tree, round);
        ours = ours.min(seconds);
        layer = Some(digest);
    }
    println!(
        "run-layer capture ({entries} entries): bld {ours:.2} s, tar|gzip -6 {floor:.2} s = {:.2}x",
        ours / floor
    );
    if let Some(layer) = layer {
        println!("  (layer {layer})");
    }
    let app = dir.join("node-app");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("Dockerfile"), NODE_APP).expect("write");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .arg("-cf")
        .arg(app.join("tree.tar"))
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success(), "tar of the tree failed");
    let store = dir.join("node-store");
    busybox_base(dir, &store, 0);
    let build = timed("bld node app", &mut bld(&store, &app, "bench-node"));
    println!(
        "RUN step writing it, whole build: bld {build:.2} s (the step's tar -x included), \
         tar|gzip -6 {floor:.2} s = {:.2}x",
        build / floor
    );
}
