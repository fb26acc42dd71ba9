//! `bld clean [--store]`.

use std::path::Path;

use bld_core::Workspace;
use clap::Args;

use crate::{Classified, Failure, FailureContext};

/// Arguments of `bld clean`.
#[derive(Args)]
pub struct CleanArgs {
    /// Also remove the store (every cached action and blob).
    #[arg(long = "store", id = "remove_store")]
    remove_store: bool,
}

fn remove(path: &Path) -> Result<(), Failure> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => {
            eprintln!("removed {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e)
            .internal_fault()
            .with_context(|| format!("cannot remove `{}`", path.display())),
    }
}

/// Removes the workspace's `bld-out/`, and the store with `--store`.
pub fn run(args: CleanArgs, store: &Path) -> Result<(), Failure> {
    let workspace = Workspace::discover(&std::env::current_dir().internal_fault()?)?;
    remove(&workspace.root().join("bld-out"))?;
    if args.remove_store {
        remove(store)?;
    }
    Ok(())
}
