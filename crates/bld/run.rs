//! `bld run [-d] [-it] [--rm] [--name] [-e K=V]... [-v …] [-p …] IMAGE|//label [CMD...]`: a
//! container from an image, as `docker run` makes one: attached (stdout and stderr, `-i` stdin,
//! `-t` a terminal through its supervisor) or detached (`-d`), kept after it exits unless
//! `--rm`. Attached, bld exits with the command's exit code, or Docker's: [`BLD_FAILED`] when bld fails (a bad flag,
//! no such image, a container that cannot be set up), 126 when the command cannot be invoked,
//! 127 when it is not found.

use std::io::IsTerminal as _;
use std::path::Path;

use bld_exec::containers::{self, RunConfig};
use bld_exec::{ContainerRequest, run_image};
use bld_store::Store;
use clap::Args;

use crate::Failure;
use crate::build::{Phases, build_workspace};

mod watched;

/// `bld run`'s exit code when bld itself fails, as `docker run`'s when Docker does.
pub const BLD_FAILED: u8 = 125;

/// Whether the command line `args` (without the program's name) is `bld run …`: its first
/// word that is neither a global flag nor a global flag's value is `run`.
pub fn is_run_command(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--store-dir") => {
                args.next();
            }
            Some(flag) if flag.starts_with("--store-dir=") => {}
            Some(word) => return word == "run",
            None => return false,
        }
    }
    false
}

/// Arguments of `bld run`.
#[derive(Args)]
pub struct RunArgs {
    /// Remove the container when it exits (else it stays, with its changes and its log, for
    /// `bld ps -a`, `logs`, `diff`, `commit` and `rm`).
    #[arg(long)]
    rm: bool,
    /// Name the container (else it gets a random name, as Docker's).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Run it in the background (its output in its log: `bld logs`) and print its ID.
    #[arg(long, short)]
    detach: bool,
    /// Keep stdin open: the command reads bld's.
    #[arg(long, short)]
    interactive: bool,
    /// Give it a terminal (with `-i`, bld's terminal is attached to it: `bld run -it`).
    #[arg(long, short)]
    tty: bool,
    /// The keys that detach bld from the container's terminal, leaving it running.
    #[arg(
        long = "detach-keys",
        value_name = "KEYS",
        default_value = "ctrl-p,ctrl-q"
    )]
    detach_keys: String,
    /// Replace the image's ENTRYPOINT (`""` clears it; the image's CMD goes with it).
    #[arg(long, value_name = "COMMAND")]
    entrypoint: Option<String>,
    /// Read environment variables from a file: `KEY=VALUE` (or `KEY`) a line, `#` comments.
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<std::path::PathBuf>,
    /// The container's host name (default: its ID's first 12 digits).
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Set an environment variable, `KEY=VALUE` (or `KEY` to take it from bld's environment).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// User as `UID[:GID]`.
    #[arg(short = 'u', long = "user", value_name = "UID[:GID]")]
    user: Option<String>,
    /// Mount a volume or a host path: `/path` (a new anonymous volume), `NAME:/path` (the
    /// named volume, made when missing), `/host/path:/path`; `:ro` for read-only.
    #[arg(short = 'v', long = "volume", value_name = "[SOURCE:]TARGET[:OPTIONS]")]
    volumes: Vec<String>,
    /// Mount `type=bind|volume|tmpfs,source=…,target=…[,readonly][,volume-nocopy][,tmpfs-size=…]`.
    #[arg(long = "mount", value_name = "SPEC")]
    mounts: Vec<String>,
    /// Mount a tmpfs at this path.
    #[arg(long = "tmpfs", value_name = "PATH")]
    tmpfs: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long = "read-only")]
    read_only: bool,
    /// Run an init (tini) as the first process: it reaps zombies and passes signals on.
    #[arg(long)]
    init: bool,
    /// Add a capability to Docker's defaults (`NET_ADMIN`, `ALL`).
    #[arg(long = "cap-add", value_name = "CAPABILITY")]
    cap_add: Vec<String>,
    /// Drop a capability from Docker's defaults (`CHOWN`, `ALL`).
    #[arg(long = "cap-drop", value_name = "CAPABILITY")]
    cap_drop: Vec<String>,
    /// `none` (the default without `-p`): loopback only; `host`: the host's network;
    /// `bridge` (the default with `-p`): a network of its own with a way out, from slirp4netns.
    #[arg(long, value_name = "MODE")]
    network: Option<String>,
    /// Publish a container's port on the host: `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]`.
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    publish: Vec<String>,
    /// A target (`//app:image`, `:image`; built first) or an image tag in the local store.
    image: String,
    /// Build the image target, run it, and at each change of what it is built from build it
    /// again; when the image changed, stop the container (with its STOPSIGNAL) and start it
    /// anew, as ibazel does for `bazel run`.
    #[arg(long)]
    watch: bool,
    /// The command, replacing the image's CMD.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Builds the image target `image`; its manifest, or none when it was an `oci_push` target
/// (then pushed).
fn built_image(image: &str, store: &Store) -> Result<Option<bld_core::Digest>, Failure> {
    let mut phases = Phases::new(false, None);
    let built = build_workspace(
        &[image.to_owned()],
        store,
        &crate::build::BuildSettings {
            progress: crate::progress::ProgressMode::Quiet,
            ..Default::default()
        },
        &mut phases,
    )?;
    if !built.pushes.is_empty() {
        for (manifest, references) in &built.pushes {
            for reference in references {
                crate::image::push_manifest_as(store, manifest, reference)?;
            }
        }
        return Ok(None);
    }
    match built.images.as_slice() {
        [(_, manifest, _)] => Ok(Some(*manifest)),
        [] => Err(Failure::user(format!("`{image}` is not an image target"))),
        _ => Err(Failure::user(format!(
            "`{image}` names several images: name one"
        ))),
    }
}

/// Adds an anonymous volume for each `VOLUME` of the image `manifest` that `mounts` do not
/// mount over, as Docker does.
fn image_volumes(
    store: &Store,
    manifest: &bld_core::Digest,
    mounts: &mut Vec<containers::Mount>,
) -> Result<(), Failure> {
    let (_, config) = bld_oci::read_image(store, manifest)?;
    let declared = config["config"]["Volumes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for target in declared.keys() {
        let normal = |path: &str| path.trim_end_matches('/').to_owned();
        if mounts.iter().any(|m| normal(&m.target) == normal(target)) {
            continue;
        }
        mounts.push(containers::Mount {
            source: containers::MountSource::Volume {
                name: containers::anonymous_name()?,
                anonymous: true,
                nocopy: false,
            },
            target: target.clone(),
            read_only: false,
        });
    }
    Ok(())
}

/// The network `args` ask for (`none`, `host` or `bridge`) and the ports they publish.
fn network_of(args: &RunArgs) -> Result<(&'static str, Vec<containers::Port>), Failure> {
    let mut publish = Vec::new();
    for text in &args.publish {
        publish.push(containers::Port::parse(text)?);
    }
    let network = match args.network.as_deref() {
        None if !publish.is_empty() => "bridge",
        None | Some("none" | "default") => "none",
        Some("host") => "host",
        Some("bridge") => "bridge",
        Some(other) => {
            return Err(Failure::user(format!(
                "network {other} not found: expected none, host or bridge"
            )));
        }
    };
    match network {
        "none" if !publish.is_empty() => {
            return Err(Failure::user(
                "conflicting options: port publishing and the container type network mode",
            ));
        }
        "host" if !publish.is_empty() => {
            eprintln!("WARNING: Published ports are discarded when using host network mode");
            publish.clear();
        }
        _ => {}
    }
    Ok((network, publish))
}

/// What `args` ask of the container over its image's configuration.
fn run_config(args: &RunArgs) -> Result<RunConfig, Failure> {
    let mut given = Vec::new();
    for file in &args.env_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::user(format!("open {}: {e}", file.display())))?;
        given.extend(
            text.lines()
                .map(str::trim_start)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned),
        );
    }
    given.extend(args.env.iter().cloned());
    let env = given
        .iter()
        .filter_map(|var| match var.split_once('=') {
            Some(_) => Some(var.clone()),
            None => std::env::var(var)
                .ok()
                .map(|value| format!("{var}={value}")),
        })
        .collect();
    for capability in args.cap_add.iter().chain(&args.cap_drop) {
        if !capability.eq_ignore_ascii_case("all") {
            bld_sandbox::capability(capability).map_err(Failure::user)?;
        }
    }
    let mut mounts = Vec::new();
    for volume in &args.volumes {
        mounts.push(containers::parse_volume(volume)?);
    }
    for mount in &args.mounts {
        mounts.push(containers::parse_mount(mount)?);
    }
    for path in &args.tmpfs {
        let target = path.split(':').next().unwrap_or_default();
        mounts.push(containers::parse_mount(&format!(
            "type=tmpfs,target={target}"
        ))?);
    }
    let (network, publish) = network_of(args)?;
    Ok(RunConfig {
        command: args.command.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        host_network: network == "host",
        bridge: network == "bridge",
        publish,
        interactive: args.interactive,
        entrypoint: args.entrypoint.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
        auto_remove: args.rm,
        mounts,
        read_only: args.read_only,
        init: args.init,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
    })
}

/// Runs the container; returns the command's exit code (or Docker's for a command that could
/// not be started).
pub fn run(args: RunArgs, store_root: &Path) -> Result<i32, Failure> {
    if args.watch {
        return watched::run_and_watch(&args, store_root).map(|()| 0);
    }
    let store = Store::open(store_root)?;
    let is_label =
        args.image.starts_with("//") || args.image.starts_with(':') || args.image.starts_with('@');
    let manifest = if is_label {
        match built_image(&args.image, &store)? {
            Some(manifest) => manifest,
            // An `oci_push` target: run, it pushes.
            None => return Ok(0),
        }
    } else {
        crate::image::resolve(&store, &args.image)?
    };
    let detach_keys = crate::container::parse_detach_keys(&args.detach_keys)?;
    if args.tty && args.interactive && !args.detach && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return Ok(1);
    }
    let mut config = run_config(&args)?;
    image_volumes(&store, &manifest, &mut config.mounts)?;
    if args.detach || args.tty {
        let container =
            containers::create(&store, args.name.as_deref(), &args.image, manifest, config)?;
        if !args.detach {
            return crate::container::start_attached(
                &store,
                &container,
                args.interactive,
                &detach_keys,
            );
        }
        crate::container::start_detached(&store, &container)?;
        println!("{}", container.id);
        return Ok(0);
    }
    // A record even with `--rm`: `ps` shows it while it runs, as Docker's does.
    let keep = Some(containers::create(
        &store,
        args.name.as_deref(),
        &args.image,
        manifest,
        config.clone(),
    )?);
    let request = ContainerRequest {
        config,
        keep,
        wait_for_attach: false,
    };
    Ok(run_image(&store, &manifest, &request)?)
}
