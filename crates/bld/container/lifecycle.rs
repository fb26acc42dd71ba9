//! Containers in the background: `run -d` and `start` hand a container to a supervisor (a
//! `bld supervise ID` process of its own session and process group, which outlives the `bld`
//! that started it, runs the container and records how it ended, the role containerd-shim
//! plays); `stop`, `kill`, `wait` and `restart` reach it through its record and its runtime.

use std::path::Path;
use std::time::{Duration, Instant};

use bld_exec::containers::{self, Container, State};
use bld_exec::{ContainerRequest, run_image};
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// Starts a supervisor of its own for `container`; with `wait_for_attach`, it starts the
/// container's terminal once a client attaches.
pub(crate) fn spawn_supervisor(
    store: &Store,
    container: &Container,
    wait_for_attach: bool,
) -> Result<std::process::Child, Failure> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot find bld's own executable: {e}")))?;
    std::process::Command::new(exe)
        .arg("--store-dir")
        .arg(store.root())
        .args(["supervise", &container.id])
        .args(wait_for_attach.then_some("--wait-attach"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Failure::internal(format!("cannot start the supervisor: {e}")))
}

/// Starts `container` under a supervisor of its own and returns once it runs (or has already
/// ended).
pub(crate) fn start_detached(store: &Store, container: &Container) -> Result<(), Failure> {
    spawn_supervisor(store, container, false)?;
    let began = Instant::now();
    loop {
        let now = containers::find(store, &container.id)?;
        let moved = match (&container.state, &now.state) {
            // Returned once the runtime has started it, as `docker run -d` returns.
            (_, State::Running { .. }) => containers::started(store, &now),
            (State::Exited { finished: a, .. }, State::Exited { finished: b, .. }) => a != b,
            (State::Created, State::Exited { .. }) => true,
            _ => false,
        };
        if moved {
            return Ok(());
        }
        if began.elapsed() > Duration::from_secs(30) {
            return Err(Failure::internal(format!(
                "container {} did not start within 30 s",
                container.short_id()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `bld supervise ID` (hidden): runs the container in the foreground of this process, its
/// output into its log (a terminal's served on its attach socket, once a client has attached
/// with `wait_for_attach`); exits with its exit code.
pub(crate) fn supervise(id: &str, wait_for_attach: bool, store: &Path) -> Result<i32, Failure> {
    let store = Store::open(store)?;
    let container = containers::find(&store, id)?;
    let request = ContainerRequest {
        config: container.config.clone(),
        keep: Some(container.clone()),
        wait_for_attach,
    };
    Ok(run_image(&store, &container.manifest, &request)?)
}

/// Waits until `container` is no longer running, at most `limit`; returns whether it stopped.
fn wait_stopped(store: &Store, container: &Container, limit: Duration) -> Result<bool, Failure> {
    let began = Instant::now();
    loop {
        let now = containers::find(store, &container.id)?;
        if !matches!(now.current_state(), State::Running { .. }) {
            return Ok(true);
        }
        if began.elapsed() >= limit {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The signal `docker stop` sends first: the image's `STOPSIGNAL`, else `SIGTERM`.
fn stop_signal(store: &Store, container: &Container) -> String {
    bld_oci::read_image(store, &container.manifest)
        .ok()
        .and_then(|(_, config)| {
            config
                .get("config")?
                .get("StopSignal")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "TERM".to_owned())
}

/// Arguments of `bld stop` and `bld restart`.
#[derive(Args)]
pub(crate) struct StopArgs {
    /// Seconds to wait for it to stop before killing it.
    #[arg(
        long = "time",
        short = 't',
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    time: u64,
    /// Containers, by name or ID.
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

fn stop_one(store: &Store, container: &Container, seconds: u64) -> Result<(), Failure> {
    // A frozen process takes no signal: thawed first, as Docker does.
    if containers::runtime_status(store, container).as_deref() == Some("paused") {
        containers::freeze(store, container, "resume");
    }
    if containers::signal(store, container, &stop_signal(store, container))
        && wait_stopped(store, container, Duration::from_secs(seconds))?
    {
        return Ok(());
    }
    containers::signal(store, container, "KILL");
    wait_stopped(store, container, Duration::from_secs(10))?;
    Ok(())
}

/// `bld stop`: the image's STOPSIGNAL (else SIGTERM), then SIGKILL after `-t` seconds.
pub(crate) fn stop(args: StopArgs, store: &Path) -> Result<(), Failure> {
    each(&args.containers, store, |store, container| {
        stop_one(store, container, args.time)
    })
}

/// `bld restart`: stop, then start again.
pub(crate) fn restart(args: StopArgs, store: &Path) -> Result<(), Failure> {
    each(&args.containers, store, |store, container| {
        stop_one(store, container, args.time)?;
        let stopped = containers::find(store, &container.id)?;
        start_detached(store, &stopped)
    })
}

/// Arguments of `bld start`.
#[derive(Args)]
pub(crate) struct StartArgs {
    /// Attach its output and wait for it (exit with its exit code).
    #[arg(long, short)]
    attach: bool,
    /// Attach bld's stdin too (a container with a terminal: bld's terminal).
    #[arg(long, short)]
    interactive: bool,
    /// The keys that detach bld from the container's terminal, leaving it running.
    #[arg(
        long = "detach-keys",
        value_name = "KEYS",
        default_value = "ctrl-p,ctrl-q"
    )]
    detach_keys: String,
    /// Containers, by name or ID.
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `bld start`: runs stopped containers again, over what they changed.
pub(crate) fn start(args: StartArgs, store: &Path) -> Result<i32, Failure> {
    if args.attach || args.interactive {
        let [one] = args.containers.as_slice() else {
            return Err(Failure::user(
                "you cannot start and attach multiple containers at once".to_owned(),
            ));
        };
        let store_dir = store;
        let store = Store::open(store_dir)?;
        let container = containers::find(&store, one)?;
        if matches!(container.current_state(), State::Running { .. }) {
            return Err(Failure::user(format!("container {one} is already running")));
        }
        if container.config.tty {
            let keys = super::parse_detach_keys(&args.detach_keys)?;
            return super::start_attached(&store, &container, args.interactive, &keys);
        }
        return supervise(&container.id, false, store_dir);
    }
    each(&args.containers, store, |store, container| {
        if matches!(container.current_state(), State::Running { .. }) {
            return Ok(());
        }
        start_detached(store, container)
    })
    .map(|()| 0)
}

/// Arguments of `bld kill`.
#[derive(Args)]
pub(crate) struct KillArgs {
    /// The signal (`KILL`, `TERM`, `SIGUSR1`, a number).
    #[arg(long, short, default_value = "KILL", value_name = "SIGNAL")]
    signal: String,
    /// Containers, by name or ID.
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `bld kill`.
pub(crate) fn kill(args: KillArgs, store: &Path) -> Result<(), Failure> {
    let signal = args.signal.trim_start_matches("SIG").to_owned();
    each(&args.containers, store, |store, container| {
        if containers::signal(store, container, &signal) {
            Ok(())
        } else {
            Err(Failure::user(format!(
                "Cannot kill container: {}: Container {} is not running",
                container.name, container.id
            )))
        }
    })
}

/// Arguments of `bld pause` and `bld unpause`.
#[derive(Args)]
pub(crate) struct PauseArgs {
    /// Containers, by name or ID.
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `bld pause` (`verb` `pause`) and `bld unpause` (`resume`): every process of each running
/// container frozen or thawed, through the cgroup freezer.
pub(crate) fn freeze(args: PauseArgs, verb: &str, store: &Path) -> Result<(), Failure> {
    each(&args.containers, store, |store, container| {
        if containers::freeze(store, container, verb) {
            Ok(())
        } else {
            Err(Failure::user(format!(
                "Container {} is not running{}",
                container.id,
                if verb == "pause" {
                    ""
                } else {
                    " or not paused"
                }
            )))
        }
    })
}

/// Arguments of `bld wait`.
#[derive(Args)]
pub(crate) struct WaitArgs {
    /// Containers, by name or ID.
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `bld wait`: each container's exit code once it has stopped.
pub(crate) fn wait(args: WaitArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    for text in &args.containers {
        let container = containers::find(&store, text)?;
        wait_stopped(&store, &container, Duration::MAX)?;
        if let State::Exited { code, .. } = containers::find(&store, text)?.current_state() {
            println!("{code}");
        }
    }
    Ok(())
}

/// Runs `action` on each named container, printing each name that succeeded as Docker does;
/// the failures are reported together and make the exit code 1.
fn each(
    names: &[String],
    store: &Path,
    action: impl Fn(&Store, &Container) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let mut failures = Vec::new();
    for text in names {
        let done = containers::find(&store, text)
            .map_err(Failure::from)
            .and_then(|container| action(&store, &container));
        match done {
            Ok(()) => println!("{text}"),
            Err(e) => failures.push(e),
        }
    }
    Failure::all(failures, "\nerror: ")
}
