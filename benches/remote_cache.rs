//! Benchmark: a fresh store building from a warm remote cache, against a clean build and a
//! local fully cached one, for both remotes (`--cache-from type=registry` on Debian's
//! `docker-registry`, `--remote-cache` on BuildGrid), and Docker's own `--cache-from` with an
//! inline cache on the same registry, and bld's own inline cache (`--cache-to type=inline` in
//! a pushed image), in the same run. Also prints the time to download the
//! final image's blobs (`bld pull` into a fresh store) and the aim: a warm-remote
//! build within 1.5× of a local cached build plus that download. Each cell is the median of
//! `$BLD_BENCH_ROUNDS` rounds (3 by default), each with its own registry and server.
//!
//! Run with `cargo bench --bench remote_cache` (needs docker-registry, busybox-static, and
//! BuildGrid in `.tools/buildgrid` or `$BLD_BGD`, which `./dev test` installs; without dockerd
//! the Docker column is skipped).

use std::path::Path;
use std::process::Command;

#[path = "shared/buildgrid.rs"]
mod buildgrid;
#[path = "shared/dockerd.rs"]
mod dockerd;
#[path = "shared/peer.rs"]
mod peer;
#[path = "shared/ports.rs"]
mod ports;
#[path = "shared/registry.rs"]
mod registry;

use buildgrid::BuildGrid;
use dockerd::Dockerd;
use peer::{rounds, timed};
use registry::Registry;

/// A 64 MB file (random: compression cannot shrink it) and RUN steps over busybox.
fn context(dir: &Path, round: usize) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("/bin/busybox (busybox-static)");
    let mut data = vec![0u8; 64 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ round as u64;
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(dir.join("data.bin"), data).expect("write");
    std::fs::write(dir.join("round"), round.to_string()).expect("write");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY round /etc/round\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN mkdir -p /opt/tools && for i in $(seq 1 200); do echo tool $i > /opt/tools/t$i; done\n\
         COPY data.bin /data.bin\nRUN sha256sum /data.bin > /data.sum\n",
    )
    .expect("write");
}

fn bld(store: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bld"));
    command.args(args).env("BLD_STORE", store);
    command
}

/// One round's seconds: clean, local cached, registry-warm, REAPI-warm, pull of the final
/// image, Docker clean, Docker inline-cache-warm, bld inline-cache-warm.
fn round(number: usize, docker: Option<&Dockerd>) -> [Option<f64>; 8] {
    let registry = Registry::start().expect("docker-registry");
    let grid = BuildGrid::start();
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let ctx = scratch.join("ctx");
    context(&ctx, number);
    let ctx_arg = ctx.display().to_string();
    let image = format!("{}:img", registry.name("bench/app"));
    let cache = format!(
        "type=registry,ref={}:cache,mode=max",
        registry.name("bench/app")
    );
    let store = |name: &str| scratch.join(name);
    let clean = timed(
        "clean build",
        &mut bld(
            &store("a"),
            &["build", "-q", "-t", &image, "--cache-to", &cache, &ctx_arg],
        ),
    );
    let cached = timed(
        "cached build",
        &mut bld(&store("a"), &["build", "-q", "-t", &image, &ctx_arg]),
    );
    timed("push", &mut bld(&store("a"), &["push", "-q", &image]));
    let from = format!("type=registry,ref={}:cache", registry.name("bench/app"));
    let warm = timed(
        "registry-warm build",
        &mut bld(
            &store("b"),
            &["build", "-q", "-t", &image, "--cache-from", &from, &ctx_arg],
        ),
    );
    let reapi = grid.as_ref().map(|grid| {
        let url = grid.url();
        let args = ["build", "-q", "--remote-cache", &url, &ctx_arg];
        timed("REAPI fill", &mut bld(&store("c"), &args));
        timed("REAPI-warm build", &mut bld(&store("d"), &args))
    });
    let pull = timed("pull", &mut bld(&store("e"), &["pull", "-q", &image]));
    let inline = format!("{}:inline", registry.name("bench/app"));
    timed(
        "inline push",
        &mut bld(
            &store("a"),
            &[
                "build",
                "-q",
                "-t",
                &inline,
                "--push",
                "--cache-to",
                "type=inline",
                &ctx_arg,
            ],
        ),
    );
    let inline_warm = timed(
        "inline-warm build",
        &mut bld(
            &store("f"),
            &["build", "-q", "--cache-from", &inline, &ctx_arg],
        ),
    );
    let (docker_clean, docker_warm) = match docker {
        Some(daemon) => docker_round(daemon, &registry, &ctx_arg),
        None => (None, None),
    };
    [
        Some(clean),
        Some(cached),
        Some(warm),
        reapi,
        Some(pull),
        docker_clean,
        docker_warm,
        Some(inline_warm),
    ]
}

/// Docker's clean build with an inline cache pushed to `registry`, then a build from nothing
/// but that cache (`--cache-from`): their seconds.
fn docker_round(daemon: &Dockerd, registry: &Registry, ctx: &str) -> (Option<f64>, Option<f64>) {
    let inline = format!("{}:inline", registry.name("bench/docker"));
    let build = ["build", "-q", "--network", "none"];
    let mut clean_args = build.to_vec();
    clean_args.extend(["--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", &inline, ctx]);
    let clean = timed("docker clean build", &mut daemon.command(&clean_args));
    timed("docker push", &mut daemon.command(&["push", "-q", &inline]));
    let _ = daemon.docker(&["rmi", "-f", &inline]);
    let _ = daemon.docker(&["builder", "prune", "-af"]);
    let mut warm_args = build.to_vec();
    warm_args.extend(["--cache-from", &inline, "-t", "warm:1", ctx]);
    let warm = timed("docker inline-cache build", &mut daemon.command(&warm_args));
    let _ = daemon.docker(&["rmi", "-f", "warm:1"]);
    let _ = daemon.docker(&["builder", "prune", "-af"]);
    (Some(clean), Some(warm))
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

fn main() {
    let docker = Dockerd::start();
    let all: Vec<[Option<f64>; 8]> = (0..rounds(3)).map(|n| round(n, docker.as_ref())).collect();
    let cell = |i: usize| median(&mut all.iter().filter_map(|r| r[i]).collect::<Vec<_>>());
    let names = [
        "bld clean build",
        "bld local fully cached rebuild",
        "bld fresh store, warm registry cache",
        "bld fresh store, warm REAPI cache",
        "bld pull of the final image (fresh store)",
        "docker clean build",
        "docker fresh, warm inline cache (--cache-from)",
        "bld fresh store, warm inline cache (--cache-from)",
    ];
    println!("remote cache, medians of {} rounds:", all.len());
    for (i, name) in names.iter().enumerate() {
        match cell(i) {
            Some(seconds) => println!("  {name:<48} {seconds:>8.3} s"),
            None => println!("  {name:<48}  skipped"),
        }
    }
    if let (Some(cached), Some(pull)) = (cell(1), cell(4)) {
        let budget = cached + pull;
        for (i, what) in [(2, "registry"), (3, "REAPI")] {
            if let Some(warm) = cell(i) {
                println!(
                    "  {what}-warm / (local cached + download) = {:.2} (aim: at most 1.5)",
                    warm / budget
                );
            }
        }
    }
    if let (Some(ours), Some(theirs)) = (cell(2), cell(6)) {
        println!(
            "  bld registry-warm / docker inline-cache-warm = {:.2}",
            ours / theirs
        );
    }
    if let (Some(ours), Some(theirs)) = (cell(7), cell(6)) {
        println!(
            "  bld inline-cache-warm / docker inline-cache-warm = {:.2}",
            ours / theirs
        );
    }
    if let (Some(ours), Some(theirs)) = (cell(0), cell(5)) {
        println!("  bld clean / docker clean = {:.2}", ours / theirs);
    }
}
