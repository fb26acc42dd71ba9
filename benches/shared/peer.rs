//! What the benchmarks that compare bld with its peers share.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::dockerd::Dockerd;

/// The machine's busy and total CPU ticks so far (`/proc/stat`).
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    let total: u64 = ticks.iter().sum();
    (total - idle, total)
}

/// Waits until what earlier commands wrote is on the disk (`sync`), then (up to 10 s) until the
/// machine is idle: a daemon that has just started (dockerd, containerd), a peer's background
/// work or the writeback of its output otherwise runs beside the next timed command.
fn settle() {
    let _ = Command::new("sync").status();
    for _ in 0..40 {
        let (busy, total) = cpu_ticks();
        std::thread::sleep(std::time::Duration::from_millis(250));
        let (busy_after, total_after) = cpu_ticks();
        let elapsed = total_after.saturating_sub(total).max(1);
        if (busy_after.saturating_sub(busy)) * 10 < elapsed {
            return;
        }
    }
}

/// Runs `command`, once the machine is idle, and returns how long it took; panics with its
/// output if it fails.
pub fn timed(what: &str, command: &mut Command) -> f64 {
    settle();
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

/// One row of a comparison: bld's, buildah's and (when dockerd is installed) BuildKit's seconds.
pub type Row = (f64, f64, Option<f64>);

/// How many rounds a comparison runs: `$BLD_BENCH_ROUNDS`, else `default`. One run of a build
/// on this kind of machine varies by 2× or more (the disk's inode allocation after deletions
/// dominates small builds), so each cell is the median of the rounds.
pub fn rounds(default: usize) -> usize {
    std::env::var("BLD_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// The median of each cell over `rounds` (each a clean build, a cached rebuild and a one-file
/// rebuild, as `print_ratios` takes them).
pub fn medians(rounds: &[[Row; 3]]) -> [Row; 3] {
    let median = |mut values: Vec<f64>| -> f64 {
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        if values.len().is_multiple_of(2) {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        }
    };
    std::array::from_fn(|row| {
        let cells = rounds.iter().map(|round| round[row]);
        let kit: Option<Vec<f64>> = cells.clone().map(|(_, _, kit)| kit).collect();
        (
            median(cells.clone().map(|(ours, _, _)| ours).collect()),
            median(cells.map(|(_, peer, _)| peer).collect()),
            kit.map(median),
        )
    })
}

/// Prints bld's, buildah's and BuildKit's seconds and bld's ratios to them for a clean build, a
/// fully cached rebuild and a rebuild after one file changed, in that order: the medians of
/// `rounds`, and bld's own range over them.
pub fn print_rounds(rounds: &[[Row; 3]]) {
    println!("median of {} rounds:", rounds.len());
    print_ratios(medians(rounds));
    let rows = ["clean build", "fully cached rebuild", "one file changed"];
    for (row, what) in rows.iter().enumerate() {
        let ratios: Vec<String> = rounds
            .iter()
            .filter_map(|round| round[row].2.map(|kit| format!("{:.2}", round[row].0 / kit)))
            .collect();
        if !ratios.is_empty() {
            println!("  {what}: bld/BuildKit by round {}", ratios.join(" "));
        }
    }
}

/// Prints bld's, buildah's and BuildKit's seconds and bld's ratios to them for a clean build, a
/// fully cached rebuild and a rebuild after one file changed, in that order.
pub fn print_ratios(seconds: [Row; 3]) {
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>12} {:>13}",
        "", "bld", "buildah", "BuildKit", "bld/buildah", "bld/BuildKit"
    );
    let rows = ["clean build", "fully cached rebuild", "one file changed"];
    for (what, (ours, buildah, buildkit)) in rows.into_iter().zip(seconds) {
        let (kit, kit_ratio) = match buildkit {
            Some(kit) => (format!("{kit:.2} s"), format!("{:.2}x", ours / kit)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "{what:<22} {ours:>8.2} s {buildah:>8.2} s {kit:>10} {:>11.2}x {kit_ratio:>13}",
            ours / buildah
        );
    }
}

/// The bench's own dockerd for the BuildKit column, or `None` (and one line saying the column
/// is skipped) when Debian's docker.io is not installed.
pub fn buildkit() -> Option<Dockerd> {
    let daemon = Dockerd::start();
    if daemon.is_none() {
        println!("dockerd is not installed (Debian's docker.io): the BuildKit column is skipped");
    }
    daemon
}

/// Seconds BuildKit takes for `docker build --network none -t tag context` in `daemon`.
pub fn buildkit_build(daemon: Option<&Dockerd>, context: &Path, tag: &str) -> Option<f64> {
    daemon.map(|d| timed("docker build", &mut d.build_command(context, tag)))
}
