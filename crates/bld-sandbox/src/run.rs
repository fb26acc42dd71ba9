//! Running one command in a fresh container over unpacked layers.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    MountBuilder, ProcessBuilder, RootBuilder, Spec, UserBuilder, get_default_mounts,
};

use crate::{SandboxError, io_error};

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
    /// An empty tmpfs.
    Tmpfs {
        /// Size limit in bytes.
        size: Option<u64>,
    },
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
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .build()
        .map_err(|e| e.to_string())?;
    let mut mounts = get_default_mounts()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .collect::<Vec<_>>();
    for mount in &spec.mounts {
        let built = match &mount.kind {
            MountKind::Bind { source, read_only } => MountBuilder::default()
                .destination(&mount.target)
                .typ("bind")
                .source(source)
                .options(vec![
                    "rbind".to_owned(),
                    if *read_only { "ro" } else { "rw" }.to_owned(),
                ])
                .build(),
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
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    let id = format!(
        "bld-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
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
    // A private mount namespace holds the overlay: it disappears with the run, whatever happens.
    // Arguments: rootfs options, rootfs, cwd, runtime, runtime flags, whether to mount cgroup2,
    // bundle, id, then (options, mount point) pairs of the overlays `type=bind` mounts take
    // directories from.
    let script = r#"set -e
mount -t overlay overlay -o "$1" "$2"
mkdir -p "$2$3"
runtime="$4" flags="$5" bundle="$7" id="$8"
if [ -n "$6" ]; then mount -t cgroup2 cgroup2 /sys/fs/cgroup; fi
shift 8
while [ $# -gt 0 ]; do mkdir -p "$2"; mount -t overlay overlay -o "$1" "$2"; shift 2; done
exec "$runtime" $flags run --bundle "$bundle" "$id" 2>&1"#;
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
        .arg(&spec.cwd)
        .arg(&spec.runtime)
        .arg(runtime_flags)
        .arg(if mount_cgroup2 { "yes" } else { "" })
        .arg(&bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null());
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
                "lowerdir={},upperdir={},workdir={}",
                lowers.join(":"),
                scratch("upper")?,
                scratch("work")?
            )
        } else {
            // overlayfs needs two lower directories when there is no upper one.
            lowers.push(scratch("empty")?);
            format!("lowerdir={}", lowers.join(":"))
        };
        command.arg(options).arg(&overlay.mountpoint);
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
