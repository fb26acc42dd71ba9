//! Benchmark: Dockerfiles with RUN steps on a busybox base, built by bld and by buildah in the
//! same run (`bud --layers --isolation oci --runtime runc --network none`, overlay storage).
//! Prints each time and the bld/buildah ratio for a clean build, a fully cached rebuild, and a
//! rebuild after one source file changed.
//!
//! Run with `cargo bench --bench run` (needs root, runc, buildah and busybox-static).

use std::path::Path;
use std::process::Command;

#[path = "shared/buildah_flags.rs"]
mod buildah_flags;
#[path = "shared/peer.rs"]
mod peer;

use peer::{buildah, print_ratios, timed};

const BASE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n";

const APP: &str = "FROM bench-busybox\n\
RUN mkdir -p /opt/tools && for i in $(seq 1 200); do echo tool $i > /opt/tools/t$i; done\n\
RUN mkdir -p /etc && echo configured > /etc/app.conf && rm -f /bin/vi\n\
COPY src/ /app/\n\
RUN cat /app/*.txt | wc -l > /app/lines && ls /app > /app/index\n\
CMD [\"cat\", \"/app/lines\"]\n";

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
    let base = dir.path().join("base");
    let app = dir.path().join("app");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::create_dir_all(app.join("src")).expect("mkdir");
    std::fs::copy("/bin/busybox", base.join("busybox")).expect("/bin/busybox (busybox-static)");
    std::fs::write(base.join("Dockerfile"), BASE).expect("write");
    std::fs::write(app.join("Dockerfile"), APP).expect("write");
    for i in 0..50 {
        std::fs::write(
            app.join("src").join(format!("f{i}.txt")),
            format!("line {i}\n"),
        )
        .expect("write");
    }
    let (store, peer) = (dir.path().join("bld-store"), dir.path().join("buildah"));

    // Clean builds include the base image, as a fresh machine would.
    let bld_clean = timed("bld base", &mut bld(&store, &base, "bench-busybox"))
        + timed("bld app", &mut bld(&store, &app, "bench-app"));
    let peer_clean = timed(
        "buildah base",
        &mut buildah_build(&peer, &base, "bench-busybox"),
    ) + timed("buildah app", &mut buildah_build(&peer, &app, "bench-app"));
    let bld_cached = timed("bld cached", &mut bld(&store, &app, "bench-app"));
    let peer_cached = timed(
        "buildah cached",
        &mut buildah_build(&peer, &app, "bench-app"),
    );
    std::fs::write(app.join("src/f7.txt"), "changed\n").expect("write");
    let bld_one = timed("bld one file", &mut bld(&store, &app, "bench-app"));
    let peer_one = timed(
        "buildah one file",
        &mut buildah_build(&peer, &app, "bench-app"),
    );

    println!(
        "bld vs buildah: Dockerfiles with RUN steps on busybox ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    print_ratios([
        (bld_clean, peer_clean),
        (bld_cached, peer_cached),
        (bld_one, peer_one),
    ]);
}
