//! What the benchmarks that compare bld with buildah share.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs `command` and returns how long it took; panics with its output if it fails.
pub fn timed(what: &str, command: &mut Command) -> f64 {
    let started = Instant::now();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    seconds
}

/// `buildah` with its own storage under `root` (overlay driver), then `args`.
pub fn buildah(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("buildah");
    command
        .arg("--root")
        .arg(root.join("root"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "overlay"])
        .args(args);
    command
}

/// Prints bld's and buildah's seconds and their ratio for a clean build, a fully cached
/// rebuild and a rebuild after one file changed, in that order.
pub fn print_ratios(seconds: [(f64, f64); 3]) {
    println!(
        "{:<22} {:>10} {:>10} {:>12}",
        "", "bld", "buildah", "bld/buildah"
    );
    let rows = ["clean build", "fully cached rebuild", "one file changed"];
    for (what, (ours, theirs)) in rows.into_iter().zip(seconds) {
        println!(
            "{what:<22} {ours:>8.2} s {theirs:>8.2} s {:>11.2}x",
            ours / theirs
        );
    }
}
