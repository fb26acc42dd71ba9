//! `bld`: the command-line interface. A thin layer over the library crates: it parses flags,
//! calls them, prints, and maps errors to exit codes (0 success, 1 the user's error, 2 an
//! internal fault).

mod build;
mod clean;
mod image;
mod progress;
mod query;
mod run;
mod workspace_args;

use std::path::PathBuf;
use std::process::ExitCode;

use bld_core::{Classify, ErrorKind};
use clap::{Parser, Subcommand};

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
    /// Remove `bld-out/` (and, with `--store`, the store).
    Clean(clean::CleanArgs),
    /// Run a container from an image (`docker run --rm`); exits with the command's code.
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
    /// Free the store's blobs and caches that no image refers to.
    Gc(image::GcArgs),
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
    /// Remove images or tags (`bld rmi`).
    #[command(alias = "remove")]
    Rm(image::RmiArgs),
    /// Remove untagged images nothing is built on (`--all`: every image), then free blobs.
    Prune(image::PruneArgs),
    /// Write images to an archive (`bld save`).
    Save(image::SaveArgs),
    /// Read images from an archive (`bld load`).
    Load(image::LoadArgs),
}

/// The stack bld's work runs on. Starlark-rust recurses once per level of a value's nesting
/// (collecting garbage, freezing a module, printing), and a BUILD file can nest a value as
/// deep as its heap budget allows (about twenty million levels); this covers that. Only the
/// pages a run touches are ever committed.
const STACK_BYTES: usize = 8 << 30;

/// The memory bld may use while it evaluates Starlark: `BLD_STARLARK_MEMORY` bytes, else 8 GiB
/// or half the machine's memory, whichever is less.
fn evaluation_memory_limit() -> u64 {
    if let Some(bytes) = std::env::var("BLD_STARLARK_MEMORY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return bytes;
    }
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(u64::MAX);
    (8u64 << 30).min(total / 2)
}

/// This process's resident memory in bytes.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// Watches memory while Starlark is evaluated: the heap budget is checked between operations,
/// but one native call can allocate tens of gigabytes by itself. Past the limit, bld stops
/// with a user error naming the file rather than exhausting the machine (nothing it has
/// written by then is half-made: the store takes only renamed, complete files).
fn watch_evaluation_memory() {
    let limit = evaluation_memory_limit();
    let _ = std::thread::Builder::new()
        .name("bld-memory".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let Some(file) = bld_starlark::limits::evaluating() else {
                    continue;
                };
                if resident_bytes().is_some_and(|bytes| bytes > limit) {
                    eprintln!(
                        "error: {file}: evaluating it took more than {} MiB of memory (bld's limit while evaluating Starlark, `BLD_STARLARK_MEMORY`): expected smaller values",
                        limit >> 20
                    );
                    std::process::exit(1);
                }
            }
        });
}

/// Whether a panic is `println!` finding its reader gone (`bld history IMG | head -1`).
fn is_broken_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    text.starts_with("failed printing to") && text.contains("Broken pipe")
}

/// Set when a signal stops bld: the command's own outcome is then not reported.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set when the interrupted command has wound down and waits to be ended.
static COMMAND_STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The store this run uses, once the command line is parsed (for the interrupt handler).
static STORE_ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// On SIGINT or SIGTERM, stops the containers this process started and removes its temporary
/// files (as BuildKit's runc executor does on cancel), clears the status line, says what
/// happened and exits 130.
fn stop_on_interrupt() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("bld-signals".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
                if let Some(root) = STORE_ROOT.get()
                    && let Ok(store) = bld_store::Store::open(root)
                {
                    // Stopping the containers ends the steps; the command then winds down
                    // (its last writes are atomic) and waits, and what it left is removed.
                    bld_exec::stop_own_work(&store);
                    for _ in 0..300 {
                        if COMMAND_STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    bld_exec::stop_own_work(&store);
                }
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprint!("\r\x1b[2K");
                }
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                eprintln!(
                    "bld: interrupted ({name}): running steps were stopped and their files removed"
                );
                std::process::exit(130);
            }
        });
}

fn main() -> ExitCode {
    stop_on_interrupt();
    // A reader that stops reading ends bld quietly and successfully, as it does a `grep`.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe(info.payload()) {
            default_hook(info);
        }
    }));
    watch_evaluation_memory();
    // Where the address space cannot hold such a stack, run on the main thread's.
    match std::thread::Builder::new()
        .name("bld".to_owned())
        .stack_size(STACK_BYTES)
        .spawn(run_command)
    {
        Ok(worker) => match worker.join() {
            Ok(code) => code,
            Err(payload) if is_broken_pipe(payload.as_ref()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        },
        Err(_) => run_command(),
    }
}

fn run_command() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let store = cli.store_dir.unwrap_or_else(bld_store::Store::default_root);
    let _ = STORE_ROOT.set(store.clone());
    let result = match cli.command {
        Command::Build(args) => build::run(args, &store).map(|()| 0),
        Command::Query(args) => query::run(args).map(|()| 0),
        Command::Clean(args) => clean::run(args, &store).map(|()| 0),
        Command::Run(args) => run::run(args, &store),
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            image::images(args, &store).map(|()| 0)
        }
        Command::Inspect(args) | Command::Image(ImageCommand::Inspect(args)) => {
            image::inspect(args, &store).map(|()| 0)
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            image::history(args, &store).map(|()| 0)
        }
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => {
            image::tag(args, &store).map(|()| 0)
        }
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => {
            image::rmi(args, &store).map(|()| 0)
        }
        Command::Image(ImageCommand::Prune(args)) => image::prune(args, &store).map(|()| 0),
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            image::save(args, &store).map(|()| 0)
        }
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            image::load(args, &store).map(|()| 0)
        }
        Command::Gc(args) => image::gc(args, &store).map(|()| 0),
    };
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        // What failed failed because it was stopped: the interrupt handler reports and exits.
        COMMAND_STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
        loop {
            std::thread::park();
        }
    }
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(error) => {
            eprintln!("error: {error:#}");
            match kind_of(&error) {
                ErrorKind::User => ExitCode::from(1),
                ErrorKind::Internal => ExitCode::from(2),
            }
        }
    }
}

/// Whether the first classified error in the chain is the user's or bld's.
fn kind_of(error: &anyhow::Error) -> ErrorKind {
    for cause in error.chain() {
        let kind = if let Some(e) = cause.downcast_ref::<bld_starlark::FrontendError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<bld_exec::ExecError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<bld_core::LabelError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<bld_core::WorkspaceError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<bld_oci::OciError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<bld_store::StoreError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<bld_core::ReferenceError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<bld_sandbox::SandboxError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<UserError>() {
            e.kind()
        } else {
            continue;
        };
        return kind;
    }
    ErrorKind::Internal
}

/// A mistake on the command line or in the environment that the CLI itself detects.
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

impl Classify for UserError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }
}
