//! `bld run --watch //pkg:image`: the image built and run, built again at each change of what
//! it is made of, and its container restarted when the image changed.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command};

use bld_store::Store;

use super::{RunArgs, built_image};
use crate::Failure;
use crate::build::watched::workspace_interest;
use crate::watch::watch;
use crate::workspace_args::parse_patterns;

/// bld's own arguments for the container's `bld run`: these, without `--watch`, with `--rm`
/// and `--name NAME` after `run` unless they are there.
fn child_arguments(name: &str, named: bool, removed: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--watch")
        .collect();
    let at = args.iter().position(|a| a == "run").map_or(0, |i| i + 1);
    let mut added: Vec<OsString> = Vec::new();
    if !removed {
        added.push("--rm".into());
    }
    if !named {
        added.extend(["--name".into(), name.into()]);
    }
    args.splice(at..at, added);
    args
}

/// Stops the container `name` (its STOPSIGNAL, then SIGKILL after the grace period) and waits
/// for its `bld run`.
fn stop(store_root: &Path, name: &str, mut child: Child) {
    let exe = std::env::current_exe().unwrap_or_else(|_| "bld".into());
    let _ = Command::new(exe)
        .arg("--store-dir")
        .arg(store_root)
        .args(["stop", name])
        .stdout(std::process::Stdio::null())
        .status();
    let _ = child.wait();
}

pub(super) fn run_and_watch(args: &RunArgs, store_root: &Path) -> Result<(), Failure> {
    let image = &args.image;
    if !(image.starts_with("//") || image.starts_with(':')) {
        return Err(Failure::user(format!(
            "--watch builds an image target again at each change: name one (`//app:image`), not `{image}`"
        )));
    }
    let store = Store::open(store_root)?;
    let store_dir = store.root().to_owned();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("bld-watch-{}", std::process::id()));
    let child_args = child_arguments(&name, args.name.is_some(), args.rm);
    let root = parse_patterns(std::slice::from_ref(image))?
        .workspace
        .root()
        .to_owned();
    let exe = std::env::current_exe().map_err(|e| Failure::internal(e.to_string()))?;
    let mut running: Option<(bld_core::Digest, Child)> = None;
    let mut build = || -> Result<(), Failure> {
        let Some(manifest) = built_image(image, &store)? else {
            return Err(Failure::user(format!(
                "`{image}` is an oci_push target: there is nothing to run"
            )));
        };
        if running.as_ref().is_some_and(|(was, _)| *was == manifest) {
            eprintln!("bld watch: {image} is unchanged ({manifest}); its container goes on");
            return Ok(());
        }
        if let Some((_, child)) = running.take() {
            eprintln!("bld watch: {image} changed ({manifest}); restarting its container");
            stop(&store_dir, &name, child);
        }
        let child = Command::new(&exe)
            .args(&child_args)
            .spawn()
            .map_err(|e| Failure::internal(format!("cannot start `bld run`: {e}")))?;
        running = Some((manifest, child));
        Ok(())
    };
    let interest = || {
        workspace_interest(std::slice::from_ref(image), false, &root, &store_dir)
            .unwrap_or_default()
    };
    watch(std::slice::from_ref(&root), &mut build, &interest)
}
