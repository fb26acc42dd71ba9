//! Containers kept after `bld run` (without `--rm`): `ps`, `rm`, `logs`, `diff`, `commit`
//! and `container inspect`, with Docker's names, flags, columns and messages; `bld container
//! <verb>` for each.

mod attach;
mod commit;
mod exec;
mod lifecycle;
mod list;

use std::path::Path;

use bld_exec::containers::{self, Container, State};
use bld_store::Store;
use clap::{Args, Subcommand};

use crate::Failure;

pub(crate) use attach::{AttachArgs, attach, parse_detach_keys, start_attached};
pub(crate) use commit::{CommitArgs, ImportArgs, commit, import};
pub(crate) use exec::{
    CpArgs, ExecArgs, ExportArgs, PruneArgs, RenameArgs, cp, exec, export, prune, rename,
};
pub(crate) use lifecycle::{
    KillArgs, PauseArgs, StartArgs, StopArgs, WaitArgs, freeze, kill, restart, spawn_supervisor,
    start, start_detached, stop, supervise, wait,
};
pub(crate) use list::{PsArgs, ps};

/// `bld container <verb>`.
#[derive(Subcommand)]
pub(crate) enum ContainerCommand {
    /// List containers (`bld ps`).
    #[command(alias = "ps", alias = "list")]
    Ls(PsArgs),
    /// Remove containers (`bld rm`).
    Rm(RmArgs),
    /// Show a container's output (`bld logs`).
    Logs(LogsArgs),
    /// List what a container changed (`bld diff`).
    Diff(DiffArgs),
    /// Make an image of a container's changes (`bld commit`).
    Commit(CommitArgs),
    /// Show containers' records as JSON.
    Inspect(InspectArgs),
    /// Start stopped containers (`bld start`).
    Start(StartArgs),
    /// Stop running containers (`bld stop`).
    Stop(StopArgs),
    /// Stop and start containers (`bld restart`).
    Restart(StopArgs),
    /// Send a signal to running containers (`bld kill`).
    Kill(KillArgs),
    /// Wait for containers to stop and print their exit codes (`bld wait`).
    Wait(WaitArgs),
    /// Run a command in a running container (`bld exec`).
    Exec(ExecArgs),
    /// Write a container's filesystem as a tar archive (`bld export`).
    Export(ExportArgs),
    /// Rename a container (`bld rename`).
    Rename(RenameArgs),
    /// Remove every stopped container.
    Prune(PruneArgs),
    /// Copy files out of a container or into it (`bld cp`).
    Cp(CpArgs),
    /// Show a running container's processes (`bld top`).
    Top(TopArgs),
    /// Attach bld's terminal to a running container's (`bld attach`).
    Attach(AttachArgs),
    /// Freeze every process of running containers (`bld pause`).
    Pause(PauseArgs),
    /// Thaw paused containers (`bld unpause`).
    Unpause(PauseArgs),
}

/// Runs `bld container <verb>`; returns the exit code.
pub(crate) fn run(command: ContainerCommand, store: &Path) -> Result<i32, Failure> {
    match command {
        ContainerCommand::Start(args) => return start(args, store),
        ContainerCommand::Exec(args) => return exec(args, store),
        ContainerCommand::Attach(args) => return attach(args, store),
        _ => {}
    }
    match command {
        ContainerCommand::Ls(args) => ps(args, store),
        ContainerCommand::Rm(args) => rm(args, store),
        ContainerCommand::Logs(args) => logs(args, store),
        ContainerCommand::Diff(args) => diff(args, store),
        ContainerCommand::Commit(args) => commit(args, store),
        ContainerCommand::Inspect(args) => inspect(args, store),
        ContainerCommand::Start(_) | ContainerCommand::Exec(_) | ContainerCommand::Attach(_) => {
            Ok(())
        }
        ContainerCommand::Export(args) => export(args, store),
        ContainerCommand::Rename(args) => rename(args, store),
        ContainerCommand::Prune(args) => prune(args, store),
        ContainerCommand::Cp(args) => cp(args, store),
        ContainerCommand::Top(args) => top(args, store),
        ContainerCommand::Stop(args) => stop(args, store),
        ContainerCommand::Restart(args) => restart(args, store),
        ContainerCommand::Kill(args) => kill(args, store),
        ContainerCommand::Wait(args) => wait(args, store),
        ContainerCommand::Pause(args) => freeze(args, "pause", store),
        ContainerCommand::Unpause(args) => freeze(args, "resume", store),
    }
    .map(|()| 0)
}

/// Arguments of `bld rm`.
#[derive(Args)]
pub(crate) struct RmArgs {
    /// Remove a running container too (its process is killed first).
    #[arg(long, short)]
    force: bool,
    /// Remove its anonymous volumes too.
    #[arg(long, short)]
    volumes: bool,
    /// Containers, by name or ID.
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `bld rm`: each container in turn; those that fail are reported and make the exit code 1.
pub(crate) fn rm(args: RmArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let mut failures = Vec::new();
    for text in &args.containers {
        let removed = containers::find(&store, text)
            .map_err(Failure::from)
            .and_then(|container| {
                remove_one(&store, &container, args.force)?;
                if args.volumes {
                    containers::remove_anonymous_volumes(&store, &container);
                }
                Ok(())
            });
        match removed {
            Ok(()) => println!("{text}"),
            Err(e) => failures.push(e),
        }
    }
    Failure::all(failures, "\nerror: ")
}

fn remove_one(store: &Store, container: &Container, force: bool) -> Result<(), Failure> {
    if let State::Running { supervisor, .. } = container.current_state() {
        if !force {
            return Err(Failure::user(format!(
                "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                container.id
            )));
        }
        // The bld process that runs it: killed, its container (a child of the runtime in its
        // mount namespace) is reaped with it by the next bld that starts.
        if let Some(pid) = supervisor
            .split_once('.')
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        bld_exec::reap_abandoned(store);
    }
    Ok(containers::remove(store, container)?)
}

/// Arguments of `bld logs`.
#[derive(Args)]
pub(crate) struct LogsArgs {
    /// Show each line's time (RFC 3339 with nanoseconds), as Docker does.
    #[arg(long, short)]
    timestamps: bool,
    /// Show only the last N lines (`all`: every line).
    #[arg(long, short = 'n', value_name = "N", default_value = "all")]
    tail: String,
    /// Keep following the log while the container runs.
    #[arg(long, short)]
    follow: bool,
    /// Only lines since then: RFC 3339 (`2026-12-01T10:00:00Z`), seconds since 1970, or a
    /// time ago (`30s`, `10m`, `2h`).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `bld logs`: the container's output from its json-file log, stdout lines to stdout and
/// stderr lines to stderr.
pub(crate) fn logs(args: LogsArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let container = containers::find(&store, &args.container)?;
    let tail: Option<usize> = match args.tail.as_str() {
        "all" => None,
        n => Some(n.parse().map_err(|_| {
            Failure::user(format!(
                "invalid value for --tail: `{n}` is not a number or `all`"
            ))
        })?),
    };
    let since = args.since.as_deref().map(since_epoch).transpose()?;
    let mut shown = 0;
    loop {
        let text = std::fs::read_to_string(container.log(&store)).unwrap_or_default();
        let entries: Vec<&str> = text.lines().collect();
        let from = match (shown, tail) {
            (0, Some(n)) => entries.len().saturating_sub(n),
            _ => shown,
        };
        for line in entries.iter().skip(from) {
            print_entry(line, args.timestamps, since);
        }
        shown = entries.len();
        let running = matches!(
            containers::find(&store, &container.id).map(|c| c.current_state()),
            Ok(State::Running { .. })
        );
        if !args.follow || !running {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `--since` as seconds since 1970.
fn since_epoch(text: &str) -> Result<i64, Failure> {
    let bad = || {
        Failure::user(format!(
            "invalid value for --since: `{text}` (expected RFC 3339, seconds, or 30s / 10m / 2h)"
        ))
    };
    if let Some(epoch) = crate::image::parse_rfc3339(text) {
        return Ok(epoch);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: i64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad()),
    };
    let now = i64::try_from(containers::now()).unwrap_or(i64::MAX);
    Ok(now - number * scale)
}

/// Prints one json-file entry where its stream goes (none before `since`).
pub(crate) fn print_entry(line: &str, timestamps: bool, since: Option<i64>) {
    use std::io::Write as _;
    let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
        return;
    };
    let time = entry["time"].as_str().and_then(crate::image::parse_rfc3339);
    if since.is_some_and(|since| time.is_some_and(|t| t < since)) {
        return;
    }
    let text = entry["log"].as_str().unwrap_or_default();
    let stamp = if timestamps {
        format!("{} ", entry["time"].as_str().unwrap_or_default())
    } else {
        String::new()
    };
    let out = format!("{stamp}{text}");
    if entry["stream"] == "stderr" {
        let _ = std::io::stderr().write_all(out.as_bytes());
    } else {
        let _ = std::io::stdout().write_all(out.as_bytes());
    }
}

/// Arguments of `bld top`.
#[derive(Args)]
pub(crate) struct TopArgs {
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `bld top`: the running container's processes.
pub(crate) fn top(args: TopArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let container = containers::find(&store, &args.container)?;
    print!("{}", containers::top(&store, &container)?);
    Ok(())
}

/// Arguments of `bld diff`.
#[derive(Args)]
pub(crate) struct DiffArgs {
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `bld diff`: `A` (added), `C` (changed) and `D` (deleted) lines, as `docker diff` prints
/// them.
pub(crate) fn diff(args: DiffArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let container = containers::find(&store, &args.container)?;
    for (kind, path) in containers::changes(&store, &container)? {
        println!("{kind} /{path}");
    }
    Ok(())
}

/// Arguments of `bld container inspect`.
#[derive(Args)]
pub(crate) struct InspectArgs {
    /// Containers, by name or ID.
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `bld container inspect`: Docker's fields that bld keeps (`Id`, `Name`, `Image`, `Path`,
/// `Args`, `Created`, `State`), as a JSON array.
pub(crate) fn inspect(args: InspectArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let mut objects = Vec::new();
    for text in &args.containers {
        let container = containers::find(&store, text)?;
        let (status, running, code, started, finished) = match container.current_state() {
            State::Created => ("created", false, 0, 0, 0),
            State::Running { started, .. } => ("running", true, 0, started, 0),
            State::Exited {
                code,
                started,
                finished,
            } => ("exited", false, code, started, finished),
        };
        let time = |t: u64| {
            if t == 0 {
                "0001-01-01T00:00:00Z".to_owned()
            } else {
                bld_core::rfc3339(t)
            }
        };
        objects.push(serde_json::json!({
            "Id": container.id,
            "Created": bld_core::rfc3339(container.created),
            "Path": container.args.first(),
            "Args": container.args.get(1..).unwrap_or_default(),
            "State": {
                "Status": status,
                "Running": running,
                "ExitCode": code,
                "StartedAt": time(started),
                "FinishedAt": time(finished),
            },
            "Image": container.manifest.to_string(),
            "Name": format!("/{}", container.name),
            "Config": { "Image": container.image },
            "LogPath": container.log(&store),
        }));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&objects).unwrap_or_default()
    );
    Ok(())
}
