//! Containers outside a build: `bld run`, and reaping what this or a killed bld left running.

use std::fs;

use bld_core::Digest;
use bld_sandbox::{Identity, RunSpec, etc_files, run};
use bld_store::Store;

use crate::Failure;
use crate::image_fs::{environment, resolve_user, runtime, unpacked_layers};

/// Reaps what bld processes that were killed left behind in `store`: their containers are
/// killed and deleted, then their temporary files (half-written blobs, run directories with
/// copies of the context, half-unpacked layers) removed. Every build and run starts with it.
pub fn reap_abandoned(store: &Store) {
    if let Ok(state_dir) = store.private_dir("containers") {
        bld_sandbox::reap_abandoned(&state_dir);
    }
    store.remove_abandoned_temps();
}

/// Stops what this process has running in `store` (when it is interrupted): kills and deletes
/// its containers (their mounts go with their mount namespaces) and removes its temporary
/// files.
pub fn stop_own_work(store: &Store) {
    let own = |owner: &str| owner == bld_core::current_owner();
    // A step being stopped may still be tearing down (its mounts, its run directory) for a
    // moment: try again for up to a second until nothing of this process is left.
    for _ in 0..20 {
        if let Ok(state_dir) = store.private_dir("containers") {
            bld_sandbox::reap_containers(&state_dir, &own);
        }
        if store.remove_own_temps() == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What `bld run` asks of a container, over the image's own configuration.
#[derive(Debug, Default)]
pub struct ContainerRequest {
    /// Arguments replacing the image's `CMD` (empty: keep it).
    pub command: Vec<String>,
    /// `KEY=VALUE` variables added to or replacing the image's.
    pub env: Vec<String>,
    /// Working directory instead of the image's.
    pub workdir: Option<String>,
    /// `UID[:GID]` instead of the image's `USER`.
    pub user: Option<String>,
    /// Share the host's network.
    pub host_network: bool,
}

/// Runs a container from the image `manifest` with stdout and stderr attached, as
/// `docker run --rm` does (ENTRYPOINT + CMD, the command replacing CMD); returns its exit code.
pub fn run_image(
    store: &Store,
    manifest: &Digest,
    request: &ContainerRequest,
) -> Result<i32, crate::ExecError> {
    let fail = |failure: Failure| crate::ExecError {
        owner: manifest.to_string(),
        output: "container".to_owned(),
        origin: None,
        message: failure.message,
        kind: failure.kind,
    };
    reap_abandoned(store);
    let (lowers, config) = unpacked_layers(store, manifest).map_err(fail)?;
    let image = config.get("config").cloned().unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        image
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut args = strings("Entrypoint");
    args.extend(if request.command.is_empty() {
        strings("Cmd")
    } else {
        request.command.clone()
    });
    if args.is_empty() {
        return Err(fail(Failure::user(
            "the image has no ENTRYPOINT or CMD: give a command".to_owned(),
        )));
    }
    let user = request
        .user
        .clone()
        .or_else(|| {
            image
                .get("User")
                .and_then(|u| u.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let user = resolve_user(&user, &lowers).map_err(fail)?;
    let cwd = request
        .workdir
        .clone()
        .or_else(|| {
            image
                .get("WorkingDir")
                .and_then(|w| w.as_str())
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "/".to_owned());
    let work_dir = store.temp_path("container");
    let identity = Identity::Container {
        hostname: container_hostname(),
    };
    // Docker's HOSTNAME comes first, unless the image or the request sets one.
    let mut env = environment(&config, &request.env, true);
    if !env.iter().any(|var| var.starts_with("HOSTNAME=")) {
        env.insert(0, format!("HOSTNAME={}", identity.hostname()));
    }
    let mounts = etc_files(&work_dir, &identity, request.host_network)
        .map_err(|e| fail(Failure::internal(e)))?;
    let spec = RunSpec {
        lowers,
        work_dir: work_dir.clone(),
        args,
        env,
        cwd,
        uid: user.uid,
        gid: user.gid,
        // Docker lists the user's own group among a container's groups.
        additional_gids: std::iter::once(user.gid).chain(user.groups).collect(),
        hostname: identity.hostname().to_owned(),
        host_network: request.host_network,
        runtime: runtime(),
        state_dir: store
            .private_dir("containers")
            .map_err(|e| fail(Failure::internal(e)))?,
        attach: true,
        mounts,
        overlays: Vec::new(),
    };
    let outcome = run(&spec, &|_| {}).map_err(|e| fail(Failure::of(e)));
    let _ = fs::remove_dir_all(&work_dir);
    Ok(outcome?.exit_code)
}

/// A container's host name as Docker makes it: 12 hex digits (of its ID, here of this
/// process and the time).
fn container_hostname() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Digest::of(format!("{}-{nanos}", bld_core::current_owner()).as_bytes()).hex()[..12].to_owned()
}
