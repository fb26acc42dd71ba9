//! `bld run`'s exit codes and first error lines are `docker run`'s (Docker 20.10 with runc 1.1,
//! checked by hand): 125 when bld fails, 126 when the command cannot be invoked, 127 when it is
//! not found, else the command's own code (128 + N when a signal N kills it).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::run_steps::workspace;
use crate::support::{Run, Sandbox};

/// A busybox image with a plain file, a directory and a file marked executable that is no
/// program.
fn sandbox() -> Sandbox {
    let sandbox = workspace(
        "FROM busybox\nRUN echo hi > /notexec && mkdir /dir\nCOPY --chmod=0755 name.txt /badformat\nCMD [\"sh\"]\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    sandbox
}

/// Asserts that `run` exited `code` and that its stderr's first line contains `first_line`.
fn exits_with(run: &Run, code: i32, first_line: &str) {
    assert_eq!(
        run.code, code,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains(first_line),
        "the first line of stderr lacks `{first_line}`:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_command_that_cannot_be_started_exits_126_or_127_as_with_docker() {
    let sandbox = sandbox();
    let run = |command: &str| sandbox.bld(&["run", "//app:image", command]);
    // docker: `… exec: "nosuchcmd": executable file not found in $PATH: unknown.`, 127.
    exits_with(
        &run("nosuchcmd"),
        127,
        r#"exec: "nosuchcmd": executable file not found in $PATH"#,
    );
    // docker: `… exec: "/no/such": stat /no/such: no such file or directory: unknown.`, 127.
    exits_with(
        &run("/no/such"),
        127,
        r#"exec: "/no/such": stat /no/such: no such file or directory"#,
    );
    // docker: `… exec: "/notexec": permission denied: unknown.`, 126; a directory the same.
    exits_with(
        &run("/notexec"),
        126,
        r#"exec: "/notexec": permission denied"#,
    );
    exits_with(&run("/dir"), 126, r#"exec: "/dir": permission denied"#);
    // A file that is executable but no program starts and fails: docker prints
    // `exec /badformat: exec format error` and exits 1.
    exits_with(&run("/badformat"), 1, "exec /badformat: exec format error");
}

#[test]
fn a_command_that_ran_exits_with_its_own_code_whatever_it_is() {
    let sandbox = sandbox();
    let shell = |script: &str| sandbox.bld(&["run", "//app:image", "sh", "-c", script]);
    for code in [1, 125, 126, 127] {
        let run = shell(&format!("exit {code}"));
        assert_eq!(run.code, code, "{}", run.stderr);
        assert_eq!(run.stderr, "", "nothing of bld's: {}", run.stderr);
    }
    // The shell did not find it: its message and its code.
    exits_with(&shell("nosuch"), 127, "sh: nosuch: not found");
    // stdout and stderr stay apart, as `docker run` keeps them.
    let both = shell("echo out; echo err >&2").ok();
    assert_eq!(
        (both.stdout.as_str(), both.stderr.as_str()),
        ("out\n", "err\n")
    );
}

#[test]
fn bld_failing_itself_exits_125() {
    let sandbox = sandbox();
    // docker: `Unable to find image 'nosuchimage:latest' locally` (and, with `--pull never`,
    // `Error response from daemon: No such image: nosuchimage:latest.`), 125.
    exits_with(
        &sandbox.bld(&["run", "nosuchimage"]),
        125,
        "error: no such image: `nosuchimage`",
    );
    // docker: `unknown flag: --badflag`, 125; clap's own exit code elsewhere stays 1.
    exits_with(
        &sandbox.bld(&["run", "--badflag"]),
        125,
        "error: unexpected argument '--badflag' found",
    );
    let store = sandbox.store().display().to_string();
    exits_with(
        &sandbox.bld(&["--store-dir", &store, "run", "--badflag", "//app:image"]),
        125,
        "'--badflag'",
    );
    assert_eq!(sandbox.bld(&["build", "--badflag"]).code, 1);
    // docker: `unable to find user nobody: no matching entries in passwd file`, 125.
    exits_with(
        &sandbox.bld(&["run", "-u", "nobody", "//app:image", "id"]),
        125,
        "no user `nobody` in the image's /etc/passwd",
    );
    // A target that does not build.
    exits_with(&sandbox.bld(&["run", "//app:nosuch"]), 125, "error: ");
}

#[test]
fn a_command_killed_by_a_signal_exits_128_plus_its_number() {
    let sandbox = sandbox();
    let child = Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["run", "//app:image", "busybox", "sleep", "4711"])
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start bld run");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = loop {
        if let Some(pid) = process_running(&["busybox", "sleep", "4711"]) {
            break pid;
        }
        assert!(Instant::now() < deadline, "the container never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    // `docker kill` (SIGKILL) of a running container: docker run exits 137.
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait_with_output().expect("wait for bld run").status;
    assert_eq!(status.code(), Some(137));
}

/// The pid of a process whose command line is `args`, if one runs.
fn process_running(args: &[&str]) -> Option<u32> {
    let wanted: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
                .is_ok_and(|cmdline| cmdline == wanted)
        })
}
