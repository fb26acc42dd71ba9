//! A running container through the runtime that runs it (`runc` or `crun`, its state under
//! `<store>/containers/<runtime>/`, the run named after its supervisor): whether it has
//! started, signals, and `exec`.

use std::fs;
use std::path::{Path, PathBuf};

use bld_store::Store;

use super::{Container, ContainerError, State};
use crate::Failure;

/// The runtime that runs `container` (`runc` or `crun`), its root, and the container's name
/// there, when its supervisor runs it.
fn runtime_of(store: &Store, container: &Container) -> Option<(&'static str, PathBuf, String)> {
    let State::Running { supervisor, .. } = container.current_state() else {
        return None;
    };
    // The sandbox names a run after the process that made it; a supervisor makes one.
    let id = format!("bld-{supervisor}-0");
    let state_dir = store.private_dir("containers").ok()?;
    ["runc", "crun"].into_iter().find_map(|runtime| {
        let root = state_dir.join(runtime);
        root.join(&id).exists().then(|| (runtime, root, id.clone()))
    })
}

/// `runtime --root ROOT ARGS…`, its output dropped; whether it succeeded.
fn runtime_quietly(runtime: &str, root: &Path, args: &[&str]) -> bool {
    std::process::Command::new(runtime)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the runtime runs `container`'s process now (`state` says `running` or `paused`:
/// created and started, not only recorded as running by its supervisor).
pub fn started(store: &Store, container: &Container) -> bool {
    runtime_status(store, container).is_some_and(|s| s == "running" || s == "paused")
}

/// What the runtime's `state` says of `container` (JSON), when it runs it.
fn runtime_state(store: &Store, container: &Container) -> Option<serde_json::Value> {
    let (runtime, root, id) = runtime_of(store, container)?;
    let out = std::process::Command::new(runtime)
        .arg("--root")
        .arg(&root)
        .args(["state", &id])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// The runtime's status of `container` (`running`, `paused`, …), when it runs it.
pub fn runtime_status(store: &Store, container: &Container) -> Option<String> {
    runtime_state(store, container)?["status"]
        .as_str()
        .map(str::to_owned)
}

/// The host pid of the running `container`'s first process.
pub(crate) fn init_pid(store: &Store, container: &Container) -> Option<i32> {
    runtime_state(store, container)?["pid"]
        .as_i64()
        .and_then(|pid| i32::try_from(pid).ok())
        .filter(|pid| *pid > 0)
}

/// Freezes (`pause`) or thaws (`resume`) every process of the running `container` (the
/// cgroup freezer, through its runtime); whether it did.
pub fn freeze(store: &Store, container: &Container, verb: &str) -> bool {
    runtime_of(store, container)
        .is_some_and(|(runtime, root, id)| runtime_quietly(runtime, &root, &[verb, &id]))
}

/// Sends `signal` (`TERM`, `KILL`, `SIGUSR1`, a number) to a running container's process,
/// through the runtime that runs it; returns whether one was running to get it.
pub fn signal(store: &Store, container: &Container, signal: &str) -> bool {
    // Recorded as running just before the runtime starts it: until the runtime has, its
    // `kill` fails, so it is asked again for a moment.
    let began = std::time::Instant::now();
    loop {
        if !matches!(container.current_state(), State::Running { .. }) {
            return false;
        }
        if let Some((runtime, root, id)) = runtime_of(store, container)
            && runtime_quietly(runtime, &root, &["kill", &id, signal])
        {
            return true;
        }
        if began.elapsed() > std::time::Duration::from_secs(5) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What `bld exec` runs in a running container.
#[derive(Debug, Default)]
pub struct ExecRequest {
    /// The command.
    pub args: Vec<String>,
    /// `KEY=VALUE` variables over the container's.
    pub env: Vec<String>,
    /// The working directory instead of the container's.
    pub workdir: Option<String>,
    /// `UID[:GID]` instead of the container's user.
    pub user: Option<String>,
    /// Give it bld's stdin.
    pub interactive: bool,
    /// Start it and return at once.
    pub detach: bool,
    /// Give it a terminal (bld's attached to it).
    pub tty: bool,
}

/// Runs `request` in the running `container` with bld's stdout and stderr (`docker exec`);
/// returns its exit code.
pub fn exec(
    store: &Store,
    container: &Container,
    request: &ExecRequest,
) -> Result<i32, ContainerError> {
    let not_running = || {
        ContainerError::from(Failure::user(format!(
            "Container {} is not running",
            container.id
        )))
    };
    if !started(store, container) {
        return Err(not_running());
    }
    let (runtime, root, id) = runtime_of(store, container).ok_or_else(not_running)?;
    let log = store.temp_path("exec-log");
    let mut command = std::process::Command::new(runtime);
    command
        .arg("--root")
        .arg(&root)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "exec"]);
    for var in &request.env {
        command.arg("--env").arg(var);
    }
    if let Some(dir) = &request.workdir {
        command.arg("--cwd").arg(dir);
    }
    if let Some(user) = &request.user {
        command.arg("--user").arg(user);
    }
    if request.detach {
        command.arg("--detach");
    }
    if !request.interactive {
        command.stdin(std::process::Stdio::null());
    }
    // A detached process gets no terminal: nothing would keep its master open.
    let code = if request.tty && !request.detach {
        exec_with_terminal(command, store, &id, request)
    } else {
        command.arg(&id).args(&request.args);
        command
            .status()
            .map_err(Failure::internal)
            .map(|status| status.code().unwrap_or(126))
    };
    let logged = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    let code = code?;
    // The runtime could not start it (and has said why on stderr): Docker's exit code.
    let error = logged
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["level"] == "error")
        .filter_map(|entry| entry["msg"].as_str().map(str::to_owned))
        .next_back();
    match error {
        Some(message) if code == 255 => {
            let program = request.args.first().map_or("", String::as_str);
            Ok(crate::container::start_failure_code(program, &message))
        }
        _ => Ok(code),
    }
}

/// Runs the runtime's `exec` `command` (its process `id`) with a terminal the runtime makes
/// and sends over a console socket, bld's own attached to it; the process, started detached,
/// is this one's to wait for (a subreaper's); returns its exit code.
fn exec_with_terminal(
    mut command: std::process::Command,
    store: &Store,
    id: &str,
    request: &ExecRequest,
) -> Result<i32, Failure> {
    use bld_sandbox::attach;
    let pid_file = store.temp_path("exec-pid");
    let mut tail = vec![std::ffi::OsStr::new(id)];
    tail.extend(request.args.iter().map(std::ffi::OsStr::new));
    let (started, master) = attach::start_with_terminal(
        command.arg("--tty"),
        &store.temp_path("exec-console"),
        &pid_file,
        &tail,
    )
    .map_err(Failure::internal)?;
    let code = match master {
        Some(master) if started.success() => {
            attach::relay_local(master, request.interactive).map_err(Failure::internal)?;
            attach::wait_adopted(&pid_file)
        }
        _ => started.code().unwrap_or(255),
    };
    let _ = fs::remove_file(&pid_file);
    Ok(code)
}

/// The processes of the running `container`, as the runtime's `ps` lists them (`docker top`).
pub fn top(store: &Store, container: &Container) -> Result<String, ContainerError> {
    let not_running = || {
        ContainerError::from(Failure::user(format!(
            "Container {} is not running",
            container.id
        )))
    };
    let (runtime, root, id) = runtime_of(store, container).ok_or_else(not_running)?;
    let output = std::process::Command::new(runtime)
        .arg("--root")
        .arg(&root)
        .args(["ps", &id])
        .output()
        .map_err(Failure::internal)?;
    if !output.status.success() {
        return Err(not_running());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
