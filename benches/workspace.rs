//! Benchmark: a synthetic workspace of N packages, each with a `pkg_tar` and an `oci_image`.
//!
//! Prints, for N = 1,000 and 10,000 (or the sizes in `BLD_BENCH_SIZES`, comma-separated): the
//! clean build time, the null build time (nothing changed), the time to rebuild after one
//! source file changed, and the peak memory (max RSS) of each run.
//!
//! Run with `cargo bench --bench workspace`.

// wait4(2) is the one way to read one child's peak RSS; nothing else here is unsafe.
#![allow(unsafe_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "shared/synthetic.rs"]
mod synthetic;

struct Measure {
    seconds: f64,
    max_rss_mib: f64,
    summary: String,
}

fn run_bld(workspace: &Path, store: &Path) -> Measure {
    let started = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its rusage
    let child = Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["build", "--quiet", "//..."])
        .current_dir(workspace)
        .env("BLD_STORE", store)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn bld");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).expect("read stdout");
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own child, waited once.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "bld failed:\n{text}"
    );
    Measure {
        seconds,
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        summary: text.lines().last().unwrap_or_default().to_owned(),
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BLD_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    println!(
        "bld synthetic workspace benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>8} {:>14} {:>12} {:>16} {:>14}",
        "packages", "clean build", "null build", "1 file changed", "peak RSS"
    );
    for packages in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = dir.path().join("ws");
        let store = dir.path().join("store");
        synthetic::workspace(&workspace, packages);
        let clean = run_bld(&workspace, &store);
        let null = run_bld(&workspace, &store);
        assert!(
            null.summary.contains(" 0 ran"),
            "null build ran actions: {}",
            null.summary
        );
        let changed = workspace.join("pkgs/p000/p00000/file.txt");
        fs::write(&changed, "changed content\n").expect("write");
        let one = run_bld(&workspace, &store);
        assert!(
            one.summary.contains(" 2 ran"),
            "one change should re-run 2 actions: {}",
            one.summary
        );
        let peak = [clean.max_rss_mib, null.max_rss_mib, one.max_rss_mib]
            .into_iter()
            .fold(0.0, f64::max);
        println!(
            "{packages:>8} {:>12.2} s {:>10.2} s {:>14.2} s {:>10.0} MiB",
            clean.seconds, null.seconds, one.seconds, peak
        );
        println!(
            "{:>8} per run: clean {:.0} MiB, null {:.0} MiB, one-file {:.0} MiB; null build: {}",
            "",
            clean.max_rss_mib,
            null.max_rss_mib,
            one.max_rss_mib,
            null.summary.split("; ").last().unwrap_or_default()
        );
    }
}
