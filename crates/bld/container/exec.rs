//! `bld exec` (a command in a running container), `bld cp`, `bld export` (a container's
//! filesystem as a tar), `bld rename` and `bld container prune`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bld_exec::containers::{self, ExecRequest, State};
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// Arguments of `bld exec`.
#[derive(Args)]
pub(crate) struct ExecArgs {
    /// Start the command and return at once.
    #[arg(long, short)]
    detach: bool,
    /// Keep stdin open: the command reads bld's.
    #[arg(long, short)]
    interactive: bool,
    /// Give the command a terminal (with `-i`, bld's terminal is attached to it).
    #[arg(long, short)]
    tty: bool,
    /// Set an environment variable, `KEY=VALUE`.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The working directory inside the container.
    #[arg(long = "workdir", short = 'w', value_name = "DIR")]
    workdir: Option<String>,
    /// The user, `UID[:GID]`.
    #[arg(long, short, value_name = "UID[:GID]")]
    user: Option<String>,
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// `bld exec`: returns the command's exit code.
pub(crate) fn exec(args: ExecArgs, store: &Path) -> Result<i32, Failure> {
    let store = Store::open(store)?;
    let container = containers::find(&store, &args.container)?;
    let request = ExecRequest {
        args: args.command,
        env: args.env,
        workdir: args.workdir,
        user: args.user,
        interactive: args.interactive,
        detach: args.detach,
        tty: args.tty,
    };
    Ok(containers::exec(&store, &container, &request)?)
}

/// Arguments of `bld export`.
#[derive(Args)]
pub(crate) struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `bld export`: the container's filesystem as a tar archive.
pub(crate) fn export(args: ExportArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let container = containers::find(&store, &args.container)?;
    match &args.output {
        Some(path) => {
            // Written beside its name and renamed: a failed export leaves no half archive.
            let partial = path.with_extension("partial");
            let mut file = std::fs::File::create(&partial)
                .map_err(|e| Failure::user(format!("cannot write {}: {e}", partial.display())))?;
            let written = containers::export(&store, &container, &mut file);
            if let Err(e) = written {
                let _ = std::fs::remove_file(&partial);
                return Err(e.into());
            }
            std::fs::rename(&partial, path)
                .map_err(|e| Failure::user(format!("cannot write {}: {e}", path.display())))
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                return Err(Failure::user(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                        .to_owned(),
                ));
            }
            let mut out = std::io::stdout().lock();
            containers::export(&store, &container, &mut out)?;
            out.flush()
                .map_err(|e| Failure::user(format!("cannot write the archive: {e}")))
        }
    }
}

/// Arguments of `bld cp`.
#[derive(Args)]
pub(crate) struct CpArgs {
    /// `CONTAINER:PATH` or a host path.
    #[arg(value_name = "SRC")]
    source: String,
    /// A host path or `CONTAINER:PATH`.
    #[arg(value_name = "DEST")]
    dest: String,
}

/// The container and path `text` names when it is `CONTAINER:PATH` (a host path holds a `/`
/// or `.` before any `:`).
fn container_path(text: &str) -> Option<(&str, &str)> {
    let (container, path) = text.split_once(':')?;
    (!container.is_empty() && !container.contains('/') && !container.starts_with('.'))
        .then_some((container, path))
}

/// `bld cp`: out of a container (`CONTAINER:PATH DEST`) or into one (`SRC
/// CONTAINER:PATH`).
pub(crate) fn cp(args: CpArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    match (container_path(&args.source), container_path(&args.dest)) {
        (Some((name, path)), None) => {
            let container = containers::find(&store, name)?;
            Ok(containers::copy_out(
                &store,
                &container,
                path,
                Path::new(&args.dest),
            )?)
        }
        (None, Some((name, path))) => {
            let container = containers::find(&store, name)?;
            Ok(containers::copy_in(
                &store,
                &container,
                Path::new(&args.source),
                path,
            )?)
        }
        (Some(_), Some(_)) => Err(Failure::user(
            "copying between containers is not supported".to_owned(),
        )),
        (None, None) => Err(Failure::user(
            "must specify at least one container source (`CONTAINER:PATH`)".to_owned(),
        )),
    }
}

/// Arguments of `bld rename`.
#[derive(Args)]
pub(crate) struct RenameArgs {
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Its new name.
    #[arg(value_name = "NEW_NAME")]
    name: String,
}

/// `bld rename`.
pub(crate) fn rename(args: RenameArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let container = containers::find(&store, &args.container)?;
    Ok(containers::rename(&store, &container, &args.name)?)
}

/// Arguments of `bld container prune`.
#[derive(Args)]
pub(crate) struct PruneArgs {
    /// Do not ask (bld never asks; accepted for Docker's sake).
    #[arg(long, short)]
    force: bool,
}

/// `bld container prune`: removes every stopped container.
pub(crate) fn prune(args: PruneArgs, store: &Path) -> Result<(), Failure> {
    let _ = args.force;
    let store = Store::open(store)?;
    println!("Deleted Containers:");
    for container in containers::list(&store)? {
        if !matches!(container.current_state(), State::Running { .. }) {
            containers::remove(&store, &container)?;
            println!("{}", container.id);
        }
    }
    println!();
    Ok(())
}
