//! `bld volume create|ls|inspect|rm|prune`: the store's volumes, as Docker's local driver
//! lists and removes them.

use std::path::Path;

use bld_exec::containers;
use bld_store::Store;
use clap::{Args, Subcommand};

use crate::Failure;

/// `bld volume <verb>`.
#[derive(Subcommand)]
pub(crate) enum VolumeCommand {
    /// Make a volume (a random name when none is given); prints its name.
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show volumes as JSON.
    Inspect(NamesArgs),
    /// Remove volumes (not one a container mounts).
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Remove the anonymous volumes no container mounts (`-a`: every unused one).
    Prune(PruneArgs),
}

/// Arguments of `bld volume create`.
#[derive(Args)]
pub(crate) struct CreateArgs {
    /// The volume's name.
    name: Option<String>,
}

/// Arguments of `bld volume ls`.
#[derive(Args)]
pub(crate) struct LsArgs {
    /// Only the names.
    #[arg(long, short)]
    quiet: bool,
}

/// Volumes by name.
#[derive(Args)]
pub(crate) struct NamesArgs {
    /// Also for volumes in use (`rm`: refused still; kept for Docker's flag).
    #[arg(long, short, hide = true)]
    force: bool,
    /// The volumes.
    #[arg(required = true, value_name = "VOLUME")]
    names: Vec<String>,
}

/// Arguments of `bld volume prune`.
#[derive(Args)]
pub(crate) struct PruneArgs {
    /// Every unused volume, named ones too.
    #[arg(long, short)]
    all: bool,
    /// Do not ask (bld never asks).
    #[arg(long, short)]
    force: bool,
}

/// Runs `bld volume <verb>`.
pub(crate) fn run(command: VolumeCommand, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    match command {
        VolumeCommand::Create(args) => {
            let name = match args.name {
                Some(name) => name,
                None => containers::anonymous_name()?,
            };
            containers::create_volume(&store, &name)?;
            println!("{name}");
        }
        VolumeCommand::Ls(args) => {
            let names = containers::list_volumes(&store)?;
            if !args.quiet {
                println!("DRIVER    VOLUME NAME");
            }
            for name in names {
                if args.quiet {
                    println!("{name}");
                } else {
                    println!("local     {name}");
                }
            }
        }
        VolumeCommand::Inspect(args) => inspect(&store, &args.names)?,
        VolumeCommand::Rm(args) => {
            let mut failures = Vec::new();
            for name in &args.names {
                match containers::remove_volume(&store, name) {
                    Ok(()) => println!("{name}"),
                    Err(e) => failures.push(Failure::from(e)),
                }
            }
            Failure::all(failures, "\nerror: ")?;
        }
        VolumeCommand::Prune(args) => prune(&store, args.all)?,
    }
    Ok(())
}

/// `bld volume inspect`: Docker's fields, as a JSON array.
fn inspect(store: &Store, names: &[String]) -> Result<(), Failure> {
    let known = containers::list_volumes(store)?;
    let mut objects = Vec::new();
    for name in names {
        if !known.contains(name) {
            return Err(Failure::user(format!("get {name}: no such volume")));
        }
        let data = containers::volume_data(store, name)?;
        let created = std::fs::metadata(&data)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        objects.push(serde_json::json!({
            "CreatedAt": bld_core::rfc3339(created),
            "Driver": "local",
            "Labels": null,
            "Mountpoint": data,
            "Name": name,
            "Options": null,
            "Scope": "local",
        }));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&objects).unwrap_or_default()
    );
    Ok(())
}

/// `bld volume prune`: unused anonymous volumes (all unused ones with `all`), with the space
/// they took.
fn prune(store: &Store, all: bool) -> Result<(), Failure> {
    let mut deleted = Vec::new();
    let mut bytes = 0;
    for name in containers::list_volumes(store)? {
        let anonymous = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if !(all || anonymous) || !containers::volume_users(store, &name)?.is_empty() {
            continue;
        }
        let data = containers::volume_data(store, &name)?;
        let size: u64 = walkdir::WalkDir::new(&data)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        if containers::remove_volume(store, &name).is_ok() {
            bytes += size;
            deleted.push(name);
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for name in &deleted {
            println!("{name}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", crate::image::human_size(bytes));
    Ok(())
}
