//! Containers outside a build: `bld run`, and reaping what this or a killed bld left running.

use std::fs;

use bld_core::Digest;
use bld_sandbox::{Identity, NotStarted, RunOutcome, RunSpec, etc_files, run};
use bld_store::Store;

use crate::Failure;
use crate::containers::State;
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
    /// The command, environment, working directory, user and network asked for.
    pub config: crate::containers::RunConfig,
    /// Keep the container after it exits, as this record of the store (made with
    /// [`crate::containers::create`]; Docker's default, `None` for `--rm`).
    pub keep: Option<crate::containers::Container>,
    /// With a terminal (`tty`), start the command once a client has attached to it.
    pub wait_for_attach: bool,
}

/// Runs a container from the image `manifest` with stdout and stderr attached (ENTRYPOINT +
/// CMD, the command replacing CMD); returns its exit code, or Docker's when the command could
/// not be started ([`start_failure_code`]; the runtime has printed why). Kept (the request's
/// `keep`), the container is a record of the store, with its changes and its log, once it
/// exits; else it goes, as with `docker run --rm`.
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
        rest: None,
    };
    reap_abandoned(store);
    let mut kept = request.keep.clone();
    let spec = match container_spec(store, manifest, request, &mut kept) {
        Ok(spec) => spec,
        Err(failure) => {
            // Never started: a `--rm` one goes, another stays as made (Docker's `Created`).
            if let Some(container) = &kept
                && container.config.auto_remove
            {
                let _ = crate::containers::remove(store, container);
                crate::containers::remove_anonymous_volumes(store, container);
            }
            return Err(fail(failure));
        }
    };
    let started = crate::containers::now();
    if let Some(container) = &kept {
        crate::containers::record_started(store, container, started).map_err(|e| fail(e.into()))?;
    }
    let network = if request.config.bridge {
        match start_network(&spec, &request.config) {
            Ok(network) => Some(network),
            Err(failure) => {
                if let Some(container) = &kept {
                    let _ = crate::containers::set_state(
                        store,
                        &container.id,
                        State::Exited {
                            code: 125,
                            started,
                            finished: crate::containers::now(),
                        },
                    );
                }
                return Err(fail(failure));
            }
        }
    } else {
        None
    };
    let mut spec = spec;
    spec.network_namespace = network.as_ref().map(|n| n.namespace.clone());
    let mut outcome = run(&spec, &|_| {}).map_err(|e| fail(Failure::of(e)));
    drop(network);
    let attachments = outcome.as_mut().ok().and_then(|o| o.attachments.take());
    let error = outcome.as_ref().ok().and_then(|o| match &o.not_started {
        Some(NotStarted::Runtime(message)) => Some(message.clone()),
        _ => None,
    });
    let code = outcome.and_then(|outcome| container_exit(&outcome, &spec.args[0]).map_err(fail));
    match &kept {
        Some(container) => {
            let exited = State::Exited {
                code: *code.as_ref().unwrap_or(&125),
                started,
                finished: crate::containers::now(),
            };
            crate::containers::set_state(store, &container.id, exited)
                .map_err(|e| fail(e.into()))?;
            if container.config.auto_remove {
                crate::containers::remove(store, container).map_err(|e| fail(e.into()))?;
                crate::containers::remove_anonymous_volumes(store, container);
            }
        }
        None => {
            let _ = fs::remove_dir_all(&spec.work_dir);
        }
    }
    // Told once the record says how it ended, so that an attached `bld run -it` returns to a
    // store that agrees.
    if let Some(attachments) = attachments {
        attachments.finish(*code.as_ref().unwrap_or(&125), error.as_deref());
    }
    code
}

/// The sandbox's run of `request` over the image `manifest`, in the directory of the container
/// `kept` (whose command it records), if kept.
fn container_spec(
    store: &Store,
    manifest: &Digest,
    request: &ContainerRequest,
    kept: &mut Option<crate::containers::Container>,
) -> Result<RunSpec, Failure> {
    let (lowers, config) = unpacked_layers(store, manifest)?;
    let image = config.get("config").cloned().unwrap_or_default();
    let (mut args, user, cwd) = process_of(&image, &request.config)?;
    let user = resolve_user(&user, &lowers)?;
    if let Some(container) = kept {
        container.args = args.clone();
    }
    let mut mounts = crate::containers::sandbox_mounts(store, &request.config.mounts, &lowers)?;
    if request.config.init {
        mounts.push(bld_sandbox::SandboxMount {
            target: DOCKER_INIT.to_owned(),
            kind: bld_sandbox::MountKind::Bind {
                source: init_program()?,
                read_only: true,
            },
        });
        args.splice(0..0, [DOCKER_INIT.to_owned(), "--".to_owned()]);
    }
    let work_dir = match &*kept {
        Some(container) => container.dir(store),
        None => store.temp_path("container"),
    };
    let identity = Identity::Container {
        hostname: request.config.hostname.clone().unwrap_or_else(|| {
            kept.as_ref()
                .map_or_else(container_hostname, |c| c.short_id().to_owned())
        }),
    };
    // Docker's HOSTNAME comes first, unless the image or the request sets one.
    let mut env = environment(&config, &request.config.env, true);
    if !env.iter().any(|var| var.starts_with("HOSTNAME=")) {
        env.insert(0, format!("HOSTNAME={}", identity.hostname()));
    }
    // A terminal gets Docker's `TERM`.
    if request.config.tty && !env.iter().any(|var| var.starts_with("TERM=")) {
        env.push("TERM=xterm".to_owned());
    }
    let terminal = match (&*kept, request.config.tty) {
        (Some(container), true) => Some(bld_sandbox::Terminal {
            socket: container.attach_socket(store),
            wait_for_client: request.wait_for_attach,
        }),
        _ => None,
    };
    // The user's mounts go over bld's `/etc` files.
    let mut etc = etc_files(&work_dir, &identity, request.config.host_network, &[])
        .map_err(Failure::internal)?;
    etc.extend(mounts);
    Ok(RunSpec {
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
        host_network: request.config.host_network,
        network_namespace: None,
        runtime: runtime(),
        state_dir: store.private_dir("containers").map_err(Failure::internal)?,
        attach: true,
        log: kept.as_ref().map(|c| c.log(store)),
        stdin: request.config.interactive,
        terminal,
        read_only: request.config.read_only,
        cap_add: request.config.cap_add.clone(),
        cap_drop: request.config.cap_drop.clone(),
        mounts: etc,
        overlays: Vec::new(),
    })
}

/// The network of its own the container of `spec` joins (`--network bridge`, `-p`): its
/// resolver slirp4netns's.
fn start_network(
    spec: &RunSpec,
    config: &crate::containers::RunConfig,
) -> Result<bld_sandbox::network::Network, Failure> {
    let ports: Vec<bld_sandbox::network::PublishedPort> = config
        .publish
        .iter()
        .map(|p| bld_sandbox::network::PublishedPort {
            host_ip: p.host_ip.clone(),
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p.protocol.clone(),
        })
        .collect();
    let resolv = spec.work_dir.join("etc-resolv.conf");
    fs::write(
        &resolv,
        format!("nameserver {}\n", bld_sandbox::network::SLIRP_DNS),
    )
    .map_err(Failure::internal)?;
    bld_sandbox::network::start(&spec.work_dir, &ports).map_err(Failure::of)
}

/// Where `--init` puts its init in the container, as Docker does.
const DOCKER_INIT: &str = "/sbin/docker-init";

/// The init `--init` runs: a statically linked tini (`$BLD_INIT`, else Debian's
/// `tini-static` or Docker's `docker-init`), which runs in any image.
fn init_program() -> Result<std::path::PathBuf, Failure> {
    let candidates = std::env::var_os("BLD_INIT")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/usr/bin/tini-static",
                "/usr/bin/docker-init",
                "/usr/libexec/docker/docker-init",
            ]
            .map(std::path::PathBuf::from),
        );
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| {
            Failure::user(
                "--init needs a static tini: install it (Debian: `apt-get install tini`) or name one with BLD_INIT",
            )
        })
}

/// What the container runs, as whom and where: the image's `ENTRYPOINT` and `CMD` (the
/// request's command replacing `CMD`), `USER` and `WorkingDir`, unless the request says.
fn process_of(
    image: &serde_json::Value,
    request: &crate::containers::RunConfig,
) -> Result<(Vec<String>, String, String), Failure> {
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
    // `--entrypoint` replaces the image's, and then its CMD too, as Docker does.
    let mut args = match &request.entrypoint {
        Some(entrypoint) if entrypoint.is_empty() => Vec::new(),
        Some(entrypoint) => vec![entrypoint.clone()],
        None => strings("Entrypoint"),
    };
    let image_cmd = if request.entrypoint.is_some() {
        Vec::new()
    } else {
        strings("Cmd")
    };
    args.extend(if request.command.is_empty() {
        image_cmd
    } else {
        request.command.clone()
    });
    if args.is_empty() {
        return Err(Failure::user(
            "the image has no ENTRYPOINT or CMD: give a command",
        ));
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
    Ok((args, user, cwd))
}

/// `bld run`'s exit code for a container of `program` that ended as `outcome`: the command's
/// own, or Docker's when it never started.
fn container_exit(outcome: &RunOutcome, program: &str) -> Result<i32, Failure> {
    match &outcome.not_started {
        None => Ok(outcome.exit_code),
        Some(NotStarted::Runtime(message)) => Ok(start_failure_code(program, message)),
        Some(NotStarted::Setup) => Err(Failure::internal(format!(
            "the container's file systems could not be mounted (exit code {})",
            outcome.exit_code
        ))),
    }
}

/// `docker run`'s exit code when the runtime could not start the command `program` and said
/// `message` (which it has printed): 127 when the program is not found (in `$PATH` or at its
/// path), 126 when it cannot be invoked (permission denied), else 125 (a failure of the
/// container, not of the command). Docker decides from the runtime's message in the same way
/// (moby's `translateContainerdStartErr`).
pub(crate) fn start_failure_code(program: &str, message: &str) -> i32 {
    let message = message.to_lowercase();
    if message.contains("permission denied") {
        126
    } else if message.contains(&program.to_lowercase())
        && (message.contains("executable file not found")
            || message.contains("no such file or directory"))
    {
        127
    } else {
        125
    }
}

/// A container's host name as Docker makes it: 12 hex digits (of its ID, here of this
/// process and the time).
fn container_hostname() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Digest::of(format!("{}-{nanos}", bld_core::current_owner()).as_bytes()).hex()[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::start_failure_code;

    #[test]
    fn start_failures_take_dockers_exit_codes() {
        let runc =
            |what: &str| format!("runc run failed: unable to start container process: {what}");
        let cases = [
            (
                "x",
                runc(r#"exec: "x": executable file not found in $PATH"#),
                127,
            ),
            (
                "/a/b",
                runc(r#"exec: "/a/b": stat /a/b: no such file or directory"#),
                127,
            ),
            ("/etc", runc(r#"exec: "/etc": permission denied"#), 126),
            (
                "/d/x",
                runc(r#"exec: "/d/x": stat /d/x: permission denied"#),
                126,
            ),
            (
                "x",
                "executable file `x` not found in $PATH: No such file or directory".to_owned(),
                127,
            ),
            (
                "/etc/passwd",
                "open executable: Permission denied".to_owned(),
                126,
            ),
            (
                "sh",
                runc("error mounting \"proc\": no such file or directory"),
                125,
            ),
            ("sh", runc("cgroup: device busy"), 125),
        ];
        for (program, message, code) in cases {
            assert_eq!(start_failure_code(program, &message), code, "{message}");
        }
    }
}
