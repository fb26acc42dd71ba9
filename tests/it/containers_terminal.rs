//! Containers with a terminal, driven through a real one: Docker's walkthrough of image layers
//! by hand with `run -it`, the window size, Ctrl-C and Ctrl-D, the detach keys, `attach` and
//! `exec -it`.

use std::path::Path;

use crate::peers::bld_busybox_base;
use crate::pty::Terminal;
use crate::support::{Run, run_bld};

fn bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args).ok()
}

/// `bld args` on a 24 × 80 terminal of its own.
fn on_terminal(scratch: &Path, args: &[&str]) -> Terminal {
    Terminal::spawn(scratch, &scratch.join("store"), args, (24, 80))
}

/// A busybox shell's prompt (as root, in `/`).
const PROMPT: &str = "/ # ";

#[test]
fn an_image_is_built_by_hand_in_interactive_shells_and_committed() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let mut shell = on_terminal(
        scratch,
        &["run", "--name", "base-container", "-it", "busybox", "sh"],
    );
    shell.expect(PROMPT);
    shell.line("mkdir /opt && echo tool > /opt/tool && echo made-$((6*7))");
    shell.expect("made-42");
    shell.line("exit");
    assert_eq!(shell.wait(), 0, "{}", shell.shown());
    bld(
        scratch,
        &["commit", "-m", "Add tool", "base-container", "tool-base"],
    );
    let history = bld(
        scratch,
        &[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            "tool-base",
        ],
    );
    assert_eq!(
        history.stdout.lines().next(),
        Some("sh|5B|Add tool"),
        "{}",
        history.stdout
    );
    let mut shell = on_terminal(
        scratch,
        &["run", "--name", "app-container", "-it", "tool-base", "sh"],
    );
    shell.expect(PROMPT);
    shell.line("echo 'echo app sees; cat /opt/tool' > /app.sh; echo written");
    shell.expect("written");
    shell.line("exit");
    assert_eq!(shell.wait(), 0, "{}", shell.shown());
    bld(
        scratch,
        &[
            "commit",
            "-c",
            r#"CMD ["sh", "/app.sh"]"#,
            "-m",
            "Add app",
            "app-container",
            "sample-app",
        ],
    );
    let ran = bld(scratch, &["run", "--rm", "sample-app"]);
    assert_eq!(ran.stdout, "app sees\ntool\n");
    bld(scratch, &["rm", "-f", "base-container", "app-container"]);
    assert_eq!(bld(scratch, &["ps", "-aq"]).stdout, "");
}

#[test]
fn the_terminal_takes_the_window_size_ctrl_c_and_ctrl_d() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let mut shell = on_terminal(scratch, &["run", "--rm", "-it", "busybox", "sh"]);
    shell.expect(PROMPT);
    shell.line("stty size; echo TERM=$TERM");
    shell.expect("24 80");
    shell.expect("TERM=xterm");
    shell.resize(40, 120);
    // The shell redraws its prompt on SIGWINCH; the size is asked once that has come.
    std::thread::sleep(std::time::Duration::from_millis(300));
    shell.line("stty size");
    shell.expect("40 120");
    shell.line("sleep 100");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SIGINT ends the sleep (not the shell) long before its 100 s.
    shell.send(b"\x03");
    shell.expect("^C");
    shell.line("echo alive-$((2*3))");
    shell.expect("alive-6");
    shell.send(b"\x04");
    assert_eq!(shell.wait(), 0, "{}", shell.shown());
    assert_eq!(bld(scratch, &["ps", "-aq"]).stdout, "", "--rm removes it");
}

#[test]
fn detach_keys_leave_it_running_for_attach_and_exec() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let mut shell = on_terminal(scratch, &["run", "--name", "box", "-it", "busybox", "sh"]);
    shell.expect(PROMPT);
    shell.line("echo from-the-shell > /note");
    shell.send(b"\x10\x11");
    assert_eq!(shell.wait(), 0, "{}", shell.shown());
    let ps = bld(scratch, &["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.stdout.starts_with("box Up"), "{}", ps.stdout);
    let mut exec = on_terminal(scratch, &["exec", "-it", "box", "sh"]);
    exec.expect(PROMPT);
    exec.line("cat /note; tty");
    exec.expect("from-the-shell");
    exec.expect("/dev/pts/");
    exec.line("exit 3");
    assert_eq!(exec.wait(), 3, "{}", exec.shown());
    let mut attached = on_terminal(scratch, &["attach", "box"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    attached.line("echo attached-$((1+1))");
    attached.expect("attached-2");
    attached.line("exit 5");
    assert_eq!(attached.wait(), 5, "{}", attached.shown());
    let ps = bld(scratch, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.stdout.starts_with("box Exited (5)"), "{}", ps.stdout);
    let logs = bld(scratch, &["logs", "box"]);
    assert!(logs.stdout.contains("attached-2"), "{}", logs.stdout);
    bld(scratch, &["rm", "box"]);
}

#[test]
fn a_terminal_without_stdin_prints_and_exits_with_the_code() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let mut printer = on_terminal(
        scratch,
        &[
            "run",
            "--rm",
            "-t",
            "busybox",
            "sh",
            "-c",
            "echo one; echo two; exit 4",
        ],
    );
    assert_eq!(printer.wait(), 4, "{}", printer.shown());
    printer.expect("one\r\ntwo\r\n");
    let mut missing = on_terminal(scratch, &["run", "--rm", "-it", "busybox", "nosuch"]);
    assert_eq!(missing.wait(), 127, "{}", missing.shown());
    missing.expect("executable file not found");
    // As Docker: `-it` needs a terminal on stdin.
    let piped = run_bld(
        scratch,
        &scratch.join("store"),
        &["run", "--rm", "-it", "busybox", "true"],
    );
    assert_eq!(piped.code, 1, "{}", piped.stderr);
    assert!(piped.stderr.contains("the input device is not a TTY"));
}

/// The supervisor of the running container `name` (its pid), from its record.
fn supervisor_pid(scratch: &Path, name: &str) -> String {
    let inspect = bld(scratch, &["container", "inspect", name]);
    let id = serde_json::from_str::<serde_json::Value>(&inspect.stdout).expect("JSON")[0]["Id"]
        .as_str()
        .expect("Id")
        .to_owned();
    let record = scratch
        .join("store/containers")
        .join(id)
        .join("container.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(record).expect("record")).expect("JSON");
    let supervisor = record["state"]["Running"]["supervisor"]
        .as_str()
        .expect("running");
    supervisor.split('.').next().expect("pid").to_owned()
}

/// What the runtime still runs of the store's containers.
fn runtime_list(scratch: &Path) -> String {
    let left = std::process::Command::new("runc")
        .arg("--root")
        .arg(scratch.join("store/containers/runc"))
        .args(["list", "-q"])
        .output()
        .expect("runc list");
    String::from_utf8_lossy(&left.stdout).into_owned()
}

#[test]
fn a_killed_client_leaves_the_container_and_a_killed_supervisor_takes_it() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let mut shell = on_terminal(scratch, &["run", "--name", "left", "-it", "busybox", "sh"]);
    shell.expect(PROMPT);
    // SIGKILL of the attached bld: the container goes on, as Docker's does.
    drop(shell);
    let status = bld(scratch, &["ps", "--format", "{{.Names}} {{.Status}}"]).stdout;
    assert!(status.starts_with("left Up"), "{status}");
    bld(scratch, &["stop", "-t", "1", "left"]);
    let status = bld(scratch, &["ps", "-a", "--format", "{{.Status}}"]).stdout;
    assert!(status.starts_with("Exited"), "{status}");

    // SIGKILL of the supervisor: the container it ran (its child, not the runtime's) is
    // killed with it, and the record says so.
    bld(
        scratch,
        &["run", "-dit", "--name", "orphan", "busybox", "sh"],
    );
    let pid = supervisor_pid(scratch, "orphan");
    std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let status = bld(
        scratch,
        &[
            "ps",
            "-a",
            "--filter",
            "name=orphan",
            "--format",
            "{{.Status}}",
        ],
    );
    assert!(
        status.stdout.starts_with("Exited (137)"),
        "{}",
        status.stdout
    );
    assert_eq!(runtime_list(scratch), "", "nothing left running");
    bld(scratch, &["rm", "left", "orphan"]);
    let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
    let store = scratch.join("store").display().to_string();
    assert!(!mounts.contains(&store), "no mount left");
    let containers = std::fs::read_dir(scratch.join("store/containers"))
        .expect("containers")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().len() == 64)
        .count();
    assert_eq!(containers, 0, "no container directory left");
}
