//! Benchmark: a large build context (copies of /usr/share/doc, /usr/share/perl and
//! /usr/lib/python3, about 190 MB in 8,000+ files) `COPY`'d into `scratch`, built by bld and by
//! buildah and by BuildKit (`docker build --network none`, in a dockerd the bench starts on a
//! fresh data root) in the same run. Prints each time and bld's ratios to buildah and BuildKit
//! for a clean build (bld and buildah write an OCI layout; BuildKit keeps its image in its
//! store, uncompressed), a fully cached rebuild, and a rebuild after one small file changed:
//! the medians of several rounds (`BLD_BENCH_ROUNDS`, default 3), each starting from nothing.
//!
//! Run with `cargo bench --bench context` (needs buildah: `./dev bench` installs it; the BuildKit
//! column needs Debian's docker.io and is skipped without it).

use std::path::Path;
use std::process::Command;

#[path = "shared/buildah_flags.rs"]
mod buildah_flags;
#[path = "shared/dockerd.rs"]
mod dockerd;
#[path = "shared/peer.rs"]
mod peer;
#[path = "shared/synthetic.rs"]
mod synthetic;

use dockerd::Dockerd;
use peer::{Row, buildah, buildkit, buildkit_build, timed};

fn bld(store: &Path, context: &Path, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bld"));
    command
        .args(["build", "--quiet", "-t", "bench:1", "-o"])
        .arg(out)
        .arg(context)
        .env("BLD_STORE", store);
    command
}

/// buildah's equivalent of one bld build: `bud --layers`, then `push` to an OCI layout.
fn buildah_build(root: &Path, context: &Path, out: &Path) -> f64 {
    let context = context.display().to_string();
    let mut args = vec!["bud", "--layers"];
    args.extend_from_slice(buildah_flags::BUD_WITHOUT_RUN);
    args.extend(["-t", "localhost/bench:1", &context]);
    let bud = timed("buildah bud", &mut buildah(root, &args));
    let _ = std::fs::remove_dir_all(out);
    let push = timed(
        "buildah push",
        &mut buildah(
            root,
            &[
                "push",
                "-q",
                "localhost/bench:1",
                &format!("oci:{}:latest", out.display()),
            ],
        ),
    );
    bud + push
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let context = synthetic::large_context(dir.path());
    let du = Command::new("du")
        .args(["-sh"])
        .arg(&context)
        .output()
        .expect("du");
    let files = walk_count(&context);
    println!(
        "bld vs buildah and BuildKit: COPY of a large context into scratch ({} in {files} files, {} cores)",
        String::from_utf8_lossy(&du.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("?"),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let changed = context.join("python3/dist-packages/README.txt");
    let small_file = if changed.exists() {
        changed
    } else {
        context.join("Dockerfile.note")
    };

    let daemon = buildkit();
    let daemon = daemon.as_ref();
    let original = std::fs::read(&small_file).ok();
    let rounds: Vec<[Row; 3]> = (0..peer::rounds(3))
        .map(|round| {
            match &original {
                Some(bytes) => std::fs::write(&small_file, bytes).expect("write"),
                None => {
                    let _ = std::fs::remove_file(&small_file);
                }
            }
            compare_round(dir.path(), &context, &small_file, daemon, round)
        })
        .collect();
    peer::print_rounds(&rounds);
}

/// One round: a clean build, a fully cached rebuild and a rebuild after `small_file` changed,
/// each tool starting from nothing (the context's `round` file makes BuildKit's cache miss).
/// Nothing is deleted until the bench ends: on these machines' ext4 (no journal), allocating
/// inodes is slow for about 30 s after many were freed, which would fall on the next tool.
fn compare_round(
    dir: &Path,
    context: &Path,
    small_file: &Path,
    daemon: Option<&Dockerd>,
    round: usize,
) -> [Row; 3] {
    let at = |name: &str| dir.join(format!("{name}-{round}"));
    let (store, bld_out) = (at("bld-store"), at("bld-layout"));
    let (peer_root, peer_out) = (at("buildah"), at("buildah-layout"));
    std::fs::write(context.join("round"), format!("{round}\n")).expect("write");
    let bld_clean = timed("bld clean", &mut bld(&store, context, &bld_out));
    let peer_clean = buildah_build(&peer_root, context, &peer_out);
    let kit_clean = buildkit_build(daemon, context, "bench:1");
    let bld_cached = timed("bld cached", &mut bld(&store, context, &bld_out));
    let peer_cached = buildah_build(&peer_root, context, &peer_out);
    let kit_cached = buildkit_build(daemon, context, "bench:2");
    std::fs::write(small_file, "one small change\n").expect("write");
    let bld_one = timed("bld one file", &mut bld(&store, context, &bld_out));
    let peer_one = buildah_build(&peer_root, context, &peer_out);
    let kit_one = buildkit_build(daemon, context, "bench:3");
    [
        (bld_clean, peer_clean, kit_clean),
        (bld_cached, peer_cached, kit_cached),
        (bld_one, peer_one, kit_one),
    ]
}

fn walk_count(dir: &Path) -> usize {
    let mut count = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(_) => count += 1,
                Err(_) => {}
            }
        }
    }
    count
}
