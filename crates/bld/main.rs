//! `bld`: the command-line interface. A thin layer over the library crates: it parses flags,
//! calls them, prints, and maps errors to exit codes (0 success, 1 the user's error, 2 an
//! internal fault; `bld run` uses Docker's, 125 for any failure of its own).

mod aquery;
mod build;
mod clean;
mod completion;
mod container;
mod destination;
mod failure;
mod image;
mod login;
mod process;
mod profile;
mod progress;
mod query;
mod run;
mod search;
mod volume;
mod watch;
mod why;
mod workspace_args;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
pub(crate) use failure::{Classified, Failure, FailureContext, bail_internal};

/// bld: a declarative, Bazel-style build system for container images.
#[derive(Parser)]
#[command(name = "bld", version, about)]
struct Cli {
    /// The store directory (default: `$BLD_STORE`, else `$XDG_CACHE_HOME/bld`, else `~/.cache/bld`).
    #[arg(long = "store-dir", global = true, value_name = "DIR")]
    store_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build targets: `bld build //examples/hello:image`, `bld build //...`.
    Build(build::BuildArgs),
    /// List targets matching a pattern, or `deps(PATTERN)`: their dependencies.
    Query(query::QueryArgs),
    /// The actions of targets (`bld aquery 'deps(//app:image)'`): kind, key, inputs, outputs.
    Aquery(aquery::AqueryArgs),
    /// The actions of targets as a picture (`bld graph //app:image -o graph.svg`), each
    /// target and stage boxed, the last build's runs and hits coloured.
    Graph(aquery::GraphArgs),
    /// Build targets, then again whenever a file they read changes (`bld build --watch`).
    Watch(build::BuildArgs),
    /// Why the actions of the last build of a target or image ran instead of hitting the cache.
    Why(why::WhyArgs),
    /// Remove `bld-out/` (and, with `--store`, the store).
    Clean(clean::CleanArgs),
    /// Run a container from an image; exits with the command's code (`-d`: in the background).
    Run(run::RunArgs),
    /// List images in the local store: `REPOSITORY  TAG  IMAGE ID  CREATED  SIZE`.
    Images(image::ImagesArgs),
    /// Manage images in the local store.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Print images' configuration as JSON (`bld image inspect`).
    Inspect(image::InspectArgs),
    /// Show an image's history, newest first.
    History(image::HistoryArgs),
    /// Give an image another name: `bld tag SOURCE TARGET`.
    Tag(image::TagArgs),
    /// Remove images (by ID) or tags (by name).
    Rmi(image::RmiArgs),
    /// Write images to a `docker save` archive (or, `--format oci`, an OCI archive).
    Save(image::SaveArgs),
    /// Read images from a `docker save` or OCI archive into the local store.
    Load(image::LoadArgs),
    /// Download an image from a registry into the local store.
    Pull(image::PullArgs),
    /// Upload an image of the local store to its registry.
    Push(image::PushArgs),
    /// Log in to a registry (credentials kept in Docker's `config.json`).
    Login(login::LoginArgs),
    /// Log out from a registry.
    Logout(login::LogoutArgs),
    /// Search Docker Hub, or a registry's catalog (`HOST:PORT/TERM`), for repositories.
    Search(search::SearchArgs),
    /// List containers (running ones; `-a`: all).
    Ps(container::PsArgs),
    /// Remove containers.
    Rm(container::RmArgs),
    /// Show a container's output.
    Logs(container::LogsArgs),
    /// List what a container changed (`A`, `C`, `D`).
    Diff(container::DiffArgs),
    /// Make an image of a container's changes.
    Commit(container::CommitArgs),
    /// Start stopped containers.
    Start(container::StartArgs),
    /// Stop running containers (STOPSIGNAL, then SIGKILL).
    Stop(container::StopArgs),
    /// Stop and start containers.
    Restart(container::StopArgs),
    /// Send a signal to running containers.
    Kill(container::KillArgs),
    /// Wait for containers to stop and print their exit codes.
    Wait(container::WaitArgs),
    /// Run a command in a running container.
    Exec(container::ExecArgs),
    /// Write a container's filesystem as a tar archive.
    Export(container::ExportArgs),
    /// Rename a container.
    Rename(container::RenameArgs),
    /// Copy files out of a container or into it.
    Cp(container::CpArgs),
    /// Show a running container's processes.
    Top(container::TopArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Run a container in the foreground of this process (what `run -d` starts).
    #[command(hide = true)]
    Supervise {
        /// The container's ID.
        id: String,
        /// Start its terminal once a client has attached.
        #[arg(long)]
        wait_attach: bool,
    },
    /// Unpack the tar on stdin at DEST, chrooted into ROOT (what `cp` into a running container
    /// starts).
    #[command(hide = true)]
    CopyInto {
        /// The container's root (`/proc/PID/root`).
        root: PathBuf,
        /// Where inside it.
        dest: String,
    },
    /// Attach bld's terminal to a running container's (or follow its output).
    Attach(container::AttachArgs),
    /// Make an image of a filesystem archive (`bld export`'s).
    Import(container::ImportArgs),
    /// Freeze every process of running containers.
    Pause(container::PauseArgs),
    /// Thaw paused containers.
    Unpause(container::PauseArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Free the store's blobs and caches that no image refers to.
    Gc(image::GcArgs),
    /// Print a shell completion script: `source <(bld completion bash)`.
    Completion(completion::CompletionArgs),
}

/// `bld image …`: Docker's image subcommands.
#[derive(Subcommand)]
enum ImageCommand {
    /// List images (`bld images`).
    #[command(alias = "list")]
    Ls(image::ImagesArgs),
    /// Print images' configuration as JSON, in `docker image inspect`'s shape.
    Inspect(image::InspectArgs),
    /// Show an image's history, newest first (`bld history`).
    History(image::HistoryArgs),
    /// Give an image another name (`bld tag`).
    Tag(image::TagArgs),
    /// Make an image of a filesystem archive (`bld import`).
    Import(container::ImportArgs),
    /// Remove images or tags (`bld rmi`).
    #[command(alias = "remove")]
    Rm(image::RmiArgs),
    /// Remove untagged images nothing is built on (`--all`: every image), then free blobs.
    Prune(image::PruneArgs),
    /// Write images to an archive (`bld save`).
    Save(image::SaveArgs),
    /// Read images from an archive (`bld load`).
    Load(image::LoadArgs),
    /// Download an image from a registry (`bld pull`).
    Pull(image::PullArgs),
    /// Upload an image to its registry (`bld push`).
    Push(image::PushArgs),
}

fn main() -> ExitCode {
    process::run_guarded(run_command)
}

/// Runs `command` with the store at `store`; returns the exit code.
fn dispatch(command: Command, store: &std::path::Path) -> Result<i32, Failure> {
    match command {
        Command::Build(args) => build::run(args, store).map(|()| 0),
        Command::Watch(mut args) => {
            args.watch = true;
            build::run(args, store).map(|()| 0)
        }
        Command::Query(args) => query::run(args).map(|()| 0),
        Command::Why(args) => why::run(args, store).map(|()| 0),
        Command::Aquery(args) => aquery::run(args, store).map(|()| 0),
        Command::Graph(args) => aquery::graph(args, store).map(|()| 0),
        Command::Clean(args) => clean::run(args, store).map(|()| 0),
        Command::Run(args) => run::run(args, store),
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            image::images(args, store).map(|()| 0)
        }
        Command::Inspect(args) | Command::Image(ImageCommand::Inspect(args)) => {
            image::inspect(args, store).map(|()| 0)
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            image::history(args, store).map(|()| 0)
        }
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => {
            image::tag(args, store).map(|()| 0)
        }
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => {
            image::rmi(args, store).map(|()| 0)
        }
        Command::Image(ImageCommand::Prune(args)) => image::prune(args, store).map(|()| 0),
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            image::save(args, store).map(|()| 0)
        }
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            image::load(args, store).map(|()| 0)
        }
        Command::Pull(args) | Command::Image(ImageCommand::Pull(args)) => {
            image::pull(args, store).map(|()| 0)
        }
        Command::Push(args) | Command::Image(ImageCommand::Push(args)) => {
            image::push(args, store).map(|()| 0)
        }
        Command::Login(args) => login::login(args).map(|()| 0),
        Command::Logout(args) => login::logout(args).map(|()| 0),
        Command::Search(args) => search::search(args).map(|()| 0),
        Command::Ps(args) => container::ps(args, store).map(|()| 0),
        Command::Rm(args) => container::rm(args, store).map(|()| 0),
        Command::Logs(args) => container::logs(args, store).map(|()| 0),
        Command::Diff(args) => container::diff(args, store).map(|()| 0),
        Command::Commit(args) => container::commit(args, store).map(|()| 0),
        Command::Start(args) => container::start(args, store),
        Command::Stop(args) => container::stop(args, store).map(|()| 0),
        Command::Restart(args) => container::restart(args, store).map(|()| 0),
        Command::Kill(args) => container::kill(args, store).map(|()| 0),
        Command::Wait(args) => container::wait(args, store).map(|()| 0),
        Command::Exec(args) => container::exec(args, store),
        Command::Export(args) => container::export(args, store).map(|()| 0),
        Command::Rename(args) => container::rename(args, store).map(|()| 0),
        Command::Cp(args) => container::cp(args, store).map(|()| 0),
        Command::Top(args) => container::top(args, store).map(|()| 0),
        Command::Container(command) => container::run(command, store),
        Command::Supervise { id, wait_attach } => container::supervise(&id, wait_attach, store),
        Command::Attach(args) => container::attach(args, store),
        Command::CopyInto { root, dest } => bld_exec::containers::copy_into_root(&root, &dest)
            .map(|()| 0)
            .map_err(Failure::from),
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            container::import(args, store).map(|()| 0)
        }
        Command::Pause(args) => container::freeze(args, "pause", store).map(|()| 0),
        Command::Unpause(args) => container::freeze(args, "resume", store).map(|()| 0),
        Command::Volume(command) => volume::run(command, store).map(|()| 0),
        Command::Gc(args) => image::gc(args, store).map(|()| 0),
        Command::Completion(args) => completion::run(args).map(|()| 0),
    }
}

fn run_command() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if !e.use_stderr() {
                ExitCode::SUCCESS
            } else if run::is_run_command(std::env::args_os().skip(1)) {
                ExitCode::from(run::BLD_FAILED)
            } else {
                ExitCode::from(1)
            };
        }
    };
    let store = cli.store_dir.unwrap_or_else(bld_store::Store::default_root);
    process::uses_store(&store);
    // `bld run` fails with Docker's code, whoever's the fault.
    let runs_container = matches!(cli.command, Command::Run(_));
    let result = dispatch(cli.command, &store);
    process::wait_if_interrupted();
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(failure) => {
            eprint!("{}", failure.render());
            ExitCode::from(if runs_container {
                run::BLD_FAILED
            } else {
                failure.exit_code()
            })
        }
    }
}
