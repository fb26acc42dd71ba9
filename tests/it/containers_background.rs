//! Containers in the background: `run -d` under a supervisor that outlives the bld that
//! started it; `ps`, `logs`, `stop` (STOPSIGNAL, then SIGKILL after `-t`), `wait`, `start`,
//! `kill`; and a supervisor killed with SIGKILL, after which `ps` tells the truth and nothing
//! is left running.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::peers::bld_busybox_base;
use crate::support::{Run, run_bld};

fn bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args).ok()
}

/// Waits (up to 10 s) until `bld logs NAME` shows `text`.
fn wait_for_log(scratch: &Path, name: &str, text: &str) {
    let began = Instant::now();
    while !bld(scratch, &["logs", name]).stdout.contains(text) {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "no `{text}` in the log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status column of `bld ps -a` for `name`.
fn status(scratch: &Path, name: &str) -> String {
    let listed = bld(scratch, &["ps", "-a", "--format", "{{.Names}}|{{.Status}}"]);
    listed
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}|")).map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn a_detached_container_runs_stops_with_its_signal_starts_again_and_is_killed() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let script = "echo started; trap 'echo got term; exit 7' TERM; while true; do sleep 0.1; done";
    let id = bld(
        scratch,
        &["run", "-d", "--name", "long", "busybox", "sh", "-c", script],
    );
    let id = id.stdout.trim().to_owned();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    wait_for_log(scratch, "long", "started");
    assert!(
        status(scratch, "long").starts_with("Up "),
        "{}",
        status(scratch, "long")
    );
    assert_eq!(bld(scratch, &["ps", "-q"]).stdout.trim(), &id[..12]);
    assert_eq!(bld(scratch, &["stop", "long"]).stdout, "long\n");
    assert!(status(scratch, "long").starts_with("Exited (7)"));
    assert_eq!(bld(scratch, &["wait", "long"]).stdout, "7\n");
    assert!(
        bld(scratch, &["logs", "long"])
            .stdout
            .ends_with("got term\n")
    );
    // Started again, over what it changed; killed, it is the signal's.
    bld(scratch, &["start", "long"]);
    assert!(status(scratch, "long").starts_with("Up "));
    bld(scratch, &["kill", "long"]);
    assert_eq!(bld(scratch, &["wait", "long"]).stdout, "137\n");
    let not_running = run_bld(scratch, &scratch.join("store"), &["kill", "long"]);
    assert_eq!(not_running.code, 1);
    assert!(
        not_running.stderr.contains("is not running"),
        "{}",
        not_running.stderr
    );
    bld(scratch, &["rm", "long"]);
}

#[test]
fn stop_kills_what_ignores_its_signal_and_a_killed_supervisor_leaves_nothing_running() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let store = scratch.join("store");
    bld_busybox_base(scratch, &store);
    let deaf = "trap '' TERM; echo deaf; while true; do sleep 0.1; done";
    bld(
        scratch,
        &["run", "-d", "--name", "deaf", "busybox", "sh", "-c", deaf],
    );
    wait_for_log(scratch, "deaf", "deaf");
    let began = Instant::now();
    bld(scratch, &["stop", "-t", "1", "deaf"]);
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "the signal was ignored for -t"
    );
    assert!(status(scratch, "deaf").starts_with("Exited (137)"));

    // The supervisor killed: the container it ran goes too, and the record says so.
    let id = bld(
        scratch,
        &["run", "-d", "--name", "orphan", "busybox", "sleep", "1000"],
    );
    let record = store
        .join("containers")
        .join(id.stdout.trim())
        .join("container.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(record).expect("record")).expect("JSON");
    let supervisor = record["state"]["Running"]["supervisor"]
        .as_str()
        .expect("running");
    let pid = supervisor.split('.').next().expect("pid");
    std::process::Command::new("kill")
        .args(["-KILL", pid])
        .status()
        .expect("kill");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        status(scratch, "orphan").starts_with("Exited (137)"),
        "{}",
        status(scratch, "orphan")
    );
    let left = std::process::Command::new("runc")
        .arg("--root")
        .arg(store.join("containers/runc"))
        .arg("list")
        .arg("-q")
        .output()
        .expect("runc list");
    assert_eq!(
        String::from_utf8_lossy(&left.stdout),
        "",
        "nothing left running"
    );
    bld(scratch, &["rm", "orphan", "deaf"]);
    let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
    assert!(
        !mounts.contains(&store.display().to_string()),
        "no mount left"
    );
}

#[test]
fn exec_runs_in_a_running_container_and_export_rename_and_prune_take_containers() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let store = scratch.join("store");
    bld_busybox_base(scratch, &store);
    let script = "echo made > /made; echo up; while true; do sleep 0.1; done";
    bld(
        scratch,
        &["run", "-d", "--name", "box", "busybox", "sh", "-c", script],
    );
    wait_for_log(scratch, "box", "up");
    assert_eq!(
        bld(scratch, &["exec", "box", "cat", "/made"]).stdout,
        "made\n"
    );
    let env = run_bld(
        scratch,
        &store,
        &[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/bin",
            "box",
            "sh",
            "-c",
            "echo $X $(pwd); exit 4",
        ],
    );
    assert_eq!((env.code, env.stdout.as_str()), (4, "1 /bin\n"));
    let missing = run_bld(scratch, &store, &["exec", "box", "nosuch"]);
    assert_eq!(
        missing.code, 127,
        "docker exec's code for a missing program"
    );
    // Renamed while it runs, it keeps the new name when it stops.
    bld(scratch, &["rename", "box", "crate"]);
    bld(scratch, &["stop", "-t", "0", "crate"]);
    assert!(status(scratch, "crate").starts_with("Exited (137)"));
    let stopped = run_bld(scratch, &store, &["exec", "crate", "true"]);
    assert_eq!(stopped.code, 1);
    assert!(
        stopped.stderr.contains("is not running"),
        "{}",
        stopped.stderr
    );
    let archive = scratch.join("crate.tar");
    bld(
        scratch,
        &["export", "-o", &archive.display().to_string(), "crate"],
    );
    let listing = crate::support::tool("tar", &["-tf", &archive.display().to_string()]);
    assert!(listing.lines().any(|l| l == "made"), "{listing}");
    assert!(listing.lines().any(|l| l == "bin/busybox"), "{listing}");
    // -i gives the command bld's stdin; without it, it reads nothing.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["run", "--rm", "-i", "busybox", "cat"])
        .env("BLD_STORE", &store)
        .env("BLD_CONFIG", crate::support::TEST_CONFIG)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("bld run -i");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"typed\n").expect("write");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "typed\n");
    let pruned = bld(scratch, &["container", "prune", "-f"]);
    assert!(
        pruned.stdout.starts_with("Deleted Containers:\n"),
        "{}",
        pruned.stdout
    );
    assert_eq!(bld(scratch, &["ps", "-a", "-q"]).stdout, "");
}

#[test]
fn top_lists_a_running_containers_processes_and_ps_and_logs_filter() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let done = ["run", "--name", "done", "busybox", "sh", "-c", "exit 2"];
    assert_eq!(run_bld(scratch, &scratch.join("store"), &done).code, 2);
    let script = "echo early; while true; do sleep 0.1; done";
    bld(
        scratch,
        &["run", "-d", "--name", "busy", "busybox", "sh", "-c", script],
    );
    wait_for_log(scratch, "busy", "early");
    let top = bld(scratch, &["top", "busy"]);
    assert!(top.stdout.starts_with("UID"), "{}", top.stdout);
    assert!(top.stdout.contains("sleep 0.1"), "{}", top.stdout);
    let names = |filter: &str| {
        bld(
            scratch,
            &["ps", "--filter", filter, "--format", "{{.Names}}"],
        )
        .stdout
    };
    assert_eq!(names("status=running"), "busy\n");
    assert_eq!(names("status=exited"), "done\n");
    assert_eq!(names("exited=2"), "done\n");
    assert_eq!(names("name=bu"), "busy\n");
    assert_eq!(
        names("ancestor=busybox"),
        "busy\n",
        "running only, without -a"
    );
    let bad = run_bld(
        scratch,
        &scratch.join("store"),
        &["ps", "--filter", "bogus=1"],
    );
    assert_eq!(bad.code, 1);
    assert_eq!(
        bld(scratch, &["logs", "--since", "1h", "busy"]).stdout,
        "early\n"
    );
    let future = format!("{}", bld_exec_now() + 3600);
    assert_eq!(
        bld(scratch, &["logs", "--since", &future, "busy"]).stdout,
        ""
    );
    bld(scratch, &["rm", "-f", "busy", "done"]);
}

/// Seconds since 1970, now.
fn bld_exec_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[test]
fn a_running_container_is_paused_to_be_committed_and_exported_files_import() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    // Written aside and renamed: a pause between `>`'s truncation and the write would
    // otherwise freeze an empty file.
    let counter = "i=0; while true; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.02; done";
    bld(
        scratch,
        &[
            "run", "-d", "--name", "counter", "busybox", "sh", "-c", counter,
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    bld(scratch, &["pause", "counter"]);
    assert!(status(scratch, "counter").ends_with("(Paused)"));
    let count_file = scratch
        .join("store/containers")
        .join(bld(scratch, &["ps", "-q", "--no-trunc"]).stdout.trim())
        .join("upper/count");
    let frozen = std::fs::read_to_string(&count_file).expect("count");
    std::thread::sleep(Duration::from_millis(200));
    let later = std::fs::read_to_string(&count_file).expect("count");
    assert_eq!(frozen, later, "nothing runs while paused");
    let sized = bld(scratch, &["ps", "-s", "--format", "{{.Size}}"]);
    assert!(sized.stdout.contains("(virtual "), "{}", sized.stdout);
    bld(scratch, &["unpause", "counter"]);
    assert!(status(scratch, "counter").starts_with("Up"));
    // Committed while running: paused for the moment the layer is read, then going on.
    bld(scratch, &["commit", "counter", "counted"]);
    let count = bld(
        scratch,
        &["run", "--rm", "--entrypoint", "cat", "counted", "/count"],
    );
    assert!(
        count.stdout.trim().parse::<u64>().expect("a number")
            >= frozen.trim().parse().expect("a number")
    );
    bld(scratch, &["stop", "-t", "1", "counter"]);
    let archive = scratch.join("fs.tar");
    bld(
        scratch,
        &["export", "-o", &archive.display().to_string(), "counter"],
    );
    bld(
        scratch,
        &[
            "import",
            "-c",
            "ENTRYPOINT [\"cat\"]",
            "-m",
            "from export",
            &archive.display().to_string(),
            "imported:1",
        ],
    );
    let history = bld(
        scratch,
        &[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            "imported:1",
        ],
    );
    assert_eq!(history.stdout, "|from export\n");
    let ran = bld(scratch, &["run", "--rm", "imported:1", "/count"]);
    assert!(!ran.stdout.trim().is_empty());
    bld(scratch, &["rm", "counter"]);
}

#[test]
fn cp_into_a_running_container_and_its_symlinks_never_lead_out() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    // `/out` points at `/`, and `/host` at the test's own directory by its host path: both
    // mean the container's own root and paths, never the host's.
    let trap = scratch.join("trap");
    std::fs::create_dir_all(trap.join("sub")).expect("mkdir");
    let script = format!(
        "mkdir -p /dst {t}/sub && ln -s / /out && ln -s {t} /host && sleep 1000",
        t = trap.display()
    );
    bld(
        scratch,
        &[
            "run", "-d", "--name", "live", "busybox", "sh", "-c", &script,
        ],
    );
    let tree = scratch.join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("sub/f"), "in\n").expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(tree.join("sub/f"), std::fs::Permissions::from_mode(0o604))
        .expect("chmod");
    let file = tree.join("sub/f").display().to_string();
    bld(scratch, &["cp", &tree.display().to_string(), "live:/dst"]);
    bld(scratch, &["cp", &file, "live:/dst/renamed"]);
    bld(scratch, &["cp", &file, "live:/host/"]);
    bld(scratch, &["cp", &file, "live:/out/dst/via-link"]);
    let listed = bld(
        scratch,
        &[
            "exec",
            "live",
            "sh",
            "-c",
            "stat -c '%a %u %n' /dst/tree/sub/f /dst/renamed /dst/via-link; cat /dst/renamed",
        ],
    );
    assert_eq!(
        listed.stdout,
        "604 0 /dst/tree/sub/f\n604 0 /dst/renamed\n604 0 /dst/via-link\nin\n"
    );
    let inside = bld(
        scratch,
        &["exec", "live", "ls", &trap.display().to_string()],
    );
    assert_eq!(
        inside.stdout, "f\nsub\n",
        "the copy is in the container's directory"
    );
    assert!(!trap.join("f").exists(), "not in the host's");
    bld(scratch, &["stop", "-t", "0", "live"]);
    // Stopped: into its changes, the same paths meaning the same.
    bld(scratch, &["cp", &file, "live:/host/sub/"]);
    assert!(!trap.join("sub/f").exists(), "not in the host's");
    let diff = bld(scratch, &["diff", "live"]).stdout;
    let again = format!("A {}/sub/f", trap.display());
    assert!(diff.lines().any(|l| l == again), "{diff}");
    bld(scratch, &["rm", "live"]);
}
