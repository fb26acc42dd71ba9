//! Benchmark: `bld watch`'s edit-to-image latency. A one-file change in a 1,000-package
//! workspace (`bld watch //...`) and in the 190 MB context of the `context` benchmark (`bld
//! watch -t ctx:1 DIR`): the time from writing the file to bld printing the new image's
//! digest, and of that, how long notify and the debounce took before the build started and
//! how long the build took (bld says both). Aim: under 150 ms. Medians of `$BLD_BENCH_ROUNDS`
//! edits (5 by default) after a first build.
//!
//! Run with `cargo bench --bench watch`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "shared/dockerd.rs"]
mod dockerd;
#[path = "shared/peer.rs"]
mod peer;
#[path = "shared/synthetic.rs"]
mod synthetic;
#[path = "shared/watching.rs"]
mod watching;

use watching::{Watching, digest_after};

/// `(write → new digest, change → build start, build)` in ms, one edit each.
type Round = (f64, f64, f64);

/// Edits `file` `rounds` times under `bld watch ARGS…` in `cwd`, waiting each time for a new
/// digest on the line starting `prefix`.
fn edits(cwd: &Path, store: &Path, args: &[&str], file: &Path, prefix: &str) -> Vec<Round> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bld"));
    command.args(args).current_dir(cwd).env("BLD_STORE", store);
    let mut watching = Watching::start(command);
    let image = digest_after(prefix);
    let (mut last, _) = watching.until(&image);
    watching.until_watching(1);
    let timing = |line: &str| {
        let rest = line.split("; ").nth(1)?;
        let numbers: Vec<f64> = rest
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        Some((*numbers.first()?, *numbers.get(1)?))
    };
    (0..peer::rounds(5))
        .map(|round| {
            std::fs::write(file, format!("edit {round}\n")).expect("edit");
            let written = Instant::now();
            let (digest, seen) = watching.until(&image);
            assert_ne!(digest, last, "a new image");
            last = digest;
            let said = watching.nth(round + 1, &|l| {
                l.contains("ms from the change to the build's start")
            });
            let (notify, build) = timing(&said).expect("bld's timing line");
            watching.until_watching(round + 2);
            (
                seen.duration_since(written).as_secs_f64() * 1000.0,
                notify,
                build,
            )
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report(what: &str, rounds: &[Round]) {
    let total = median(rounds.iter().map(|r| r.0).collect());
    let notify = median(rounds.iter().map(|r| r.1).collect());
    let build = median(rounds.iter().map(|r| r.2).collect());
    println!(
        "  {what:<44} {total:>7.0} ms  (notify + debounce {notify:.0} ms, build {build:.0} ms; aim < 150 ms: {})",
        if total < 150.0 { "met" } else { "missed" }
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "bld watch: write of one file → new image digest, medians of {} edits ({} cores)",
        peer::rounds(5),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let workspace = dir.path().join("ws");
    synthetic::workspace(&workspace, 1_000);
    let package = synthetic::package_dir(500);
    let label = format!("//{package}:image ");
    let rounds = edits(
        &workspace,
        &dir.path().join("store-ws"),
        &["watch", "//..."],
        &workspace.join(&package).join("file.txt"),
        &label,
    );
    report("1,000-package workspace, one source", &rounds);

    let context = synthetic::large_context(dir.path());
    let rounds = edits(
        dir.path(),
        &dir.path().join("store-ctx"),
        &["watch", "-t", "ctx:1", &context.display().to_string()],
        &context.join("edited.txt"),
        "Built ctx:1 ",
    );
    report("190 MB context, one file", &rounds);
}
