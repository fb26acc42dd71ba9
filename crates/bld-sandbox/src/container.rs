//! Running one command in a fresh container over unpacked layers.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, MountBuilder, ProcessBuilder,
    RootBuilder, Spec, UserBuilder, get_default_mounts,
};

use crate::{LayerStack, SandboxError, io_error};

/// What to run, and over what.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Unpacked layers, bottom first.
    pub lowers: Vec<PathBuf>,
    /// A new, empty directory for this run (bundle, upper and work directories go in it).
    pub work_dir: PathBuf,
    /// The program and its arguments.
    pub args: Vec<String>,
    /// `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// Working directory inside the container (created if missing).
    pub cwd: String,
    /// User and group ids.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Share the host's network (`RUN --network=host`); otherwise a new, empty network namespace.
    pub host_network: bool,
    /// The OCI runtime binary (`runc`).
    pub runtime: String,
    /// Where runtimes keep the state of containers bld starts (each its own `--root` below
    /// it, named after the runtime), so that [`crate::reap_abandoned`] finds them.
    pub state_dir: PathBuf,
    /// Attach the command's stdout and stderr to bld's instead of capturing them.
    pub attach: bool,
    /// Extra mounts (`RUN --mount`), which never reach the upper directory's content.
    pub mounts: Vec<SandboxMount>,
    /// Overlays of other images or directories, mounted before the container starts (so that
    /// `mounts` can bind directories of them).
    pub overlays: Vec<BindOverlay>,
}

/// Directories (an image's unpacked layers) stacked at a mount point for the duration of a
/// run: read-only, or writable with the writes kept in the run's directory and dropped with it.
#[derive(Debug, Clone)]
pub struct BindOverlay {
    /// The directories, bottom first.
    pub lowers: Vec<PathBuf>,
    /// Where to mount them (inside the run's directory).
    pub mountpoint: PathBuf,
    /// Whether the overlay takes writes.
    pub writable: bool,
}

/// A mount for one run.
#[derive(Debug, Clone)]
pub struct SandboxMount {
    /// Absolute path inside the container.
    pub target: String,
    /// What is mounted there.
    pub kind: MountKind,
}

/// What a [`SandboxMount`] mounts.
#[derive(Debug, Clone)]
pub enum MountKind {
    /// A host file or directory.
    Bind {
        /// The host path.
        source: PathBuf,
        /// Mounted read-only.
        read_only: bool,
    },
    /// A secret: the host file `source`, copied into a tmpfs inside the run's mount namespace
    /// (never onto a disk) with this mode and owner, and mounted read-only.
    Secret {
        /// The file holding the secret.
        source: PathBuf,
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
    /// An empty tmpfs.
    Tmpfs {
        /// Size limit in bytes.
        size: Option<u64>,
    },
}

/// Where the `index`-th secret of a run is, inside the tmpfs its mount namespace has.
fn secret_path(spec: &RunSpec, index: usize) -> PathBuf {
    spec.work_dir.join("secrets").join(index.to_string())
}

/// The runtime's name (`runc`, `crun`), which names its state directory.
fn runtime_name(runtime: &str) -> String {
    Path::new(runtime)
        .file_name()
        .map_or_else(|| runtime.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// The command's exit code (128 + signal when killed).
    pub exit_code: i32,
    /// What it wrote to stdout, then stderr.
    pub output: Vec<u8>,
    /// The overlay upper directory: everything the command changed.
    pub upper: PathBuf,
}

/// Docker's default capability set.
const DEFAULT_CAPABILITIES: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::NetRaw,
    Capability::SysChroot,
    Capability::Mknod,
    Capability::AuditWrite,
    Capability::Setfcap,
];

static RUNS: AtomicU64 = AtomicU64::new(0);

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn bundle_config(spec: &RunSpec) -> Result<Spec, String> {
    let capabilities: HashSet<Capability> = DEFAULT_CAPABILITIES.iter().copied().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(capabilities.clone())
        .effective(capabilities.clone())
        .permitted(capabilities)
        .build()
        .map_err(|e| e.to_string())?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(spec.args.clone())
        .env(spec.env.clone())
        .cwd(spec.cwd.clone())
        .user(
            UserBuilder::default()
                .uid(spec.uid)
                .gid(spec.gid)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .capabilities(capabilities)
        .no_new_privileges(false)
        .build()
        .map_err(|e| e.to_string())?;
    let mut namespaces = Vec::new();
    let mut kinds = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if !spec.host_network {
        kinds.push(LinuxNamespaceType::Network);
    }
    for kind in kinds {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(kind)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    // Deny every device but the runtime's defaults (/dev/null, /dev/zero, …), as Docker does:
    // a device node in an image must not reach the host's disks.
    let devices = LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .map_err(|e| e.to_string())?,
        ])
        .build()
        .map_err(|e| e.to_string())?;
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(devices)
        .build()
        .map_err(|e| e.to_string())?;
    let mut mounts = get_default_mounts()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .collect::<Vec<_>>();
    let bind = |target: &str, source: &Path, read_only: bool| {
        MountBuilder::default()
            .destination(target)
            .typ("bind")
            .source(source)
            .options(vec![
                "rbind".to_owned(),
                if read_only { "ro" } else { "rw" }.to_owned(),
            ])
            .build()
    };
    let mut secrets = 0;
    for mount in &spec.mounts {
        let built = match &mount.kind {
            MountKind::Bind { source, read_only } => bind(&mount.target, source, *read_only),
            MountKind::Secret { .. } => {
                secrets += 1;
                bind(&mount.target, &secret_path(spec, secrets - 1), true)
            }
            MountKind::Tmpfs { size } => {
                let mut options = vec![
                    "nosuid".to_owned(),
                    "nodev".to_owned(),
                    "mode=1777".to_owned(),
                ];
                if let Some(size) = size {
                    options.push(format!("size={size}"));
                }
                MountBuilder::default()
                    .destination(&mount.target)
                    .typ("tmpfs")
                    .source("tmpfs")
                    .options(options)
                    .build()
            }
        };
        mounts.push(built.map_err(|e| e.to_string())?);
    }
    let mut config = Spec::default();
    config.set_hostname(Some("bld".to_owned()));
    config.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(false)
            .build()
            .map_err(|e| e.to_string())?,
    ));
    config.set_process(Some(process));
    config.set_linux(Some(linux));
    config.set_mounts(Some(mounts));
    Ok(config)
}

/// Whether `path` is a cgroup2 mount (a pure cgroup v2 hierarchy when it is `/sys/fs/cgroup`).
fn is_cgroup2(path: &Path) -> bool {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    // `f_type`'s integer type differs between targets.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(path).is_ok_and(|stat| stat.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// Runs `spec.args` in a new container over `spec.lowers` and returns how it ended, with the
/// upper directory holding its changes.
/// `on_output` gets each line the command writes to stdout or stderr as it writes it (the two
/// streams interleaved as the runtime delivers them), unless `spec.attach` hands the streams to
/// the terminal.
pub fn run(spec: &RunSpec, on_output: &dyn Fn(&str)) -> Result<RunOutcome, SandboxError> {
    if !on_path(&spec.runtime) {
        return Err(SandboxError::MissingRuntime {
            runtime: spec.runtime.clone(),
        });
    }
    let bundle = spec.work_dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    let upper = spec.work_dir.join("upper");
    let work = spec.work_dir.join("work");
    let empty = spec.work_dir.join("empty");
    for dir in [&rootfs, &upper, &work, &empty] {
        fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    }
    let config = bundle_config(spec).map_err(|e| SandboxError::Io {
        action: "write the runtime config in",
        path: bundle.clone(),
        source: std::io::Error::other(e),
    })?;
    let config_path = bundle.join("config.json");
    config
        .save(&config_path)
        .map_err(|e| io_error("write", &config_path)(std::io::Error::other(e.to_string())))?;

    // overlayfs lists lower layers top first.
    let mut lowers: Vec<String> = spec
        .lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    if lowers.is_empty() {
        lowers.push(empty.display().to_string());
    }
    // `nodev`: a device node in the image (or made by the step) cannot be opened; the
    // runtime's own /dev is a separate mount.
    let options = format!(
        "lowerdir={},upperdir={},workdir={},nodev",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    // The working directory is made through the overlay at a path resolved inside the image,
    // so a symlink in the image cannot point the `mkdir` at the host.
    let cwd_inside = LayerStack::new(&spec.lowers)
        .resolve_for_create(&spec.cwd)
        .map_err(|e| {
            SandboxError::NotInImage(format!("the working directory `{}`: {e}", spec.cwd))
        })?;
    // The runtime keeps its state under the runtime's own directory of `spec.state_dir`, and
    // the id names this process: a later bld finds and reaps what a killed one left running.
    let id = format!(
        "bld-{}-{}",
        bld_core::current_owner(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    let state_dir = spec.state_dir.join(runtime_name(&spec.runtime));
    fs::create_dir_all(&state_dir).map_err(io_error("create", &state_dir))?;
    // Secrets are copied, inside the run's mount namespace, into a tmpfs there.
    let mut secrets = Vec::new();
    for mount in &spec.mounts {
        if let MountKind::Secret {
            source,
            mode,
            uid,
            gid,
        } = &mount.kind
        {
            fs::File::open(source).map_err(io_error("read the secret", source))?;
            let source =
                std::path::absolute(source).map_err(io_error("read the secret", source))?;
            secrets.push((source, secret_path(spec, secrets.len()), *mode, *uid, *gid));
        }
    }
    // crun refuses hybrid cgroup hierarchies (v1 controllers with cgroup2 beside them): it
    // runs without a cgroup manager, with cgroup2 mounted where it looks, inside the run's own
    // mount namespace. runc handles either hierarchy itself.
    let is_crun = Path::new(&spec.runtime)
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("crun"));
    let (runtime_flags, mount_cgroup2) = if is_crun {
        (
            "--cgroup-manager=disabled",
            !is_cgroup2(Path::new("/sys/fs/cgroup")),
        )
    } else {
        ("", false)
    };
    // A private mount namespace holds the overlays and the secrets' tmpfs: they disappear
    // with the run, whatever happens to bld.
    // Arguments: rootfs options, rootfs, cwd (resolved inside the image), runtime, runtime
    // flags, whether to mount cgroup2, bundle, id, the runtime's state directory, then
    // commands: `overlay OPTIONS MOUNTPOINT` (the overlays `type=bind` mounts take directories
    // from), `tmpfs DIR`, and `secret SOURCE DEST MODE UID GID` (copied into that tmpfs, so a
    // secret never touches a disk).
    let script = r#"set -e
mount -t overlay overlay -o "$1" "$2"
mkdir -p "$2/$3"
runtime="$4" flags="$5" bundle="$7" id="$8" root="$9"
if [ -n "$6" ]; then mount -t cgroup2 cgroup2 /sys/fs/cgroup; fi
shift 9
while [ $# -gt 0 ]; do
  case "$1" in
    overlay) mkdir -p "$3"; mount -t overlay overlay -o "$2" "$3"; shift 3 ;;
    tmpfs) mkdir -p "$2"; mount -t tmpfs -o mode=0700 tmpfs "$2"; shift 2 ;;
    secret) cat "$2" > "$3"; chown "$5:$6" "$3"; chmod "$4" "$3"; shift 6 ;;
    *) echo "bld: unknown sandbox command $1" >&2; exit 125 ;;
  esac
done
exec "$runtime" --root "$root" $flags run --bundle "$bundle" "$id" 2>&1"#;
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&options)
        .arg(&rootfs)
        .arg(&cwd_inside)
        .arg(&spec.runtime)
        .arg(runtime_flags)
        .arg(if mount_cgroup2 { "yes" } else { "" })
        .arg(&bundle)
        .arg(&id)
        .arg(&state_dir)
        .stdin(std::process::Stdio::null());
    let secrets_dir = spec.work_dir.join("secrets");
    if !secrets.is_empty() {
        command.arg("tmpfs").arg(&secrets_dir);
    }
    for (source, dest, mode, uid, gid) in &secrets {
        command
            .arg("secret")
            .arg(source)
            .arg(dest)
            .arg(format!("{mode:o}"))
            .arg(uid.to_string())
            .arg(gid.to_string());
    }
    for (i, overlay) in spec.overlays.iter().enumerate() {
        let mut lowers: Vec<String> = overlay
            .lowers
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
        let scratch = |name: &str| -> Result<String, SandboxError> {
            let dir = spec.work_dir.join(format!("overlay-{i}-{name}"));
            fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
            Ok(dir.display().to_string())
        };
        let options = if overlay.writable {
            format!(
                "lowerdir={},upperdir={},workdir={},nodev",
                lowers.join(":"),
                scratch("upper")?,
                scratch("work")?
            )
        } else {
            // overlayfs needs two lower directories when there is no upper one.
            lowers.push(scratch("empty")?);
            format!("lowerdir={},nodev", lowers.join(":"))
        };
        command.arg("overlay").arg(options).arg(&overlay.mountpoint);
    }
    let (status, combined) = if spec.attach {
        let status = command
            .status()
            .map_err(io_error("start", Path::new("unshare")))?;
        (status, Vec::new())
    } else {
        // One pipe for both streams (the script sends stderr to stdout), read line by line as
        // the command writes, so the build log can stream it.
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(io_error("start", Path::new("unshare")))?;
        let mut combined = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = Vec::new();
            while std::io::BufRead::read_until(&mut reader, b'\n', &mut line)
                .map_err(io_error("read the output of", &bundle))?
                > 0
            {
                on_output(String::from_utf8_lossy(&line).trim_end_matches('\n'));
                combined.extend_from_slice(&line);
                line.clear();
            }
        }
        let status = child
            .wait()
            .map_err(io_error("wait for", Path::new("unshare")))?;
        (status, combined)
    };
    let exit_code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    Ok(RunOutcome {
        exit_code,
        output: combined,
        upper,
    })
}
