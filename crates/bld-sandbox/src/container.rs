//! Running one command in a fresh container over unpacked layers.

mod bundle;
mod console;
mod log;
mod seccomp;
mod setup;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{LayerStack, SandboxError, io_error};

pub use bundle::capability;
pub use console::{Attachments, Terminal};

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
    /// Supplementary group ids.
    pub additional_gids: Vec<u32>,
    /// The container's host name.
    pub hostname: String,
    /// Share the host's network (`RUN --network=host`); otherwise a new, empty network namespace.
    pub host_network: bool,
    /// Join this network namespace (a [`crate::network::Network`]'s) instead of a new one.
    pub network_namespace: Option<PathBuf>,
    /// The OCI runtime binary (`runc`).
    pub runtime: String,
    /// Where runtimes keep the state of containers bld starts (each its own `--root` below
    /// it, named after the runtime), so that [`crate::reap_abandoned`] finds them.
    pub state_dir: PathBuf,
    /// Attach the command's stdout and stderr to bld's instead of capturing them.
    pub attach: bool,
    /// With `attach`, also keep them in this json-file log (Docker's format).
    pub log: Option<PathBuf>,
    /// Give the command bld's stdin (`docker run -i`); else it reads nothing.
    pub stdin: bool,
    /// Give the command a terminal, served on an attach socket (`docker run -t`), its output
    /// kept in `log`; then `attach` and `stdin` do not apply.
    pub terminal: Option<Terminal>,
    /// Mount the root filesystem read-only (`docker run --read-only`).
    pub read_only: bool,
    /// Capabilities added to Docker's defaults (`ALL`: every one).
    pub cap_add: Vec<String>,
    /// Capabilities dropped from them (`ALL`: every one).
    pub cap_drop: Vec<String>,
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
    /// Why the command never started, when it did not (then `exit_code` is not the
    /// command's); `None` when it ran, whatever its exit code.
    pub not_started: Option<NotStarted>,
    /// The clients attached to its terminal (with [`RunSpec::terminal`]), waiting to be told
    /// how it ended ([`Attachments::finish`]).
    pub attachments: Option<Attachments>,
}

/// Why a run's command never started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStarted {
    /// Mounting the run's file systems failed before the runtime started (what failed is on
    /// stderr, or in the captured output).
    Setup,
    /// The runtime started but could not start the command; its own error, as it logged it
    /// (runc: `runc run failed: unable to start container process: exec: "x": executable
    /// file not found in $PATH`). The runtime also printed it.
    Runtime(String),
}

static RUNS: AtomicU64 = AtomicU64::new(0);

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether `path` is a cgroup2 mount (a pure cgroup v2 hierarchy when it is `/sys/fs/cgroup`).
fn is_cgroup2(path: &Path) -> bool {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    // `f_type`'s integer type differs between targets.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(path).is_ok_and(|stat| stat.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// The directories of one run, in its `work_dir`.
struct RunDirs {
    /// The OCI bundle: `config.json` and the `rootfs` mount point.
    bundle: PathBuf,
    /// Where the overlay is mounted as the container's root.
    rootfs: PathBuf,
    /// The overlay's upper directory: what the command changes.
    upper: PathBuf,
    /// overlayfs's work directory.
    work: PathBuf,
    /// The lower directory of a run over no layers.
    empty: PathBuf,
}

impl RunDirs {
    fn create(work_dir: &Path) -> Result<RunDirs, SandboxError> {
        let bundle = work_dir.join("bundle");
        let dirs = RunDirs {
            rootfs: bundle.join("rootfs"),
            bundle,
            upper: work_dir.join("upper"),
            work: work_dir.join("work"),
            empty: work_dir.join("empty"),
        };
        // A work directory left by an earlier mount (a container started again) is
        // overlayfs's own, and a `volatile` one refuses a second mount: it starts empty.
        if fs::symlink_metadata(&dirs.work).is_ok() {
            fs::remove_dir_all(&dirs.work).map_err(io_error("remove", &dirs.work))?;
        }
        for dir in [&dirs.rootfs, &dirs.upper, &dirs.work] {
            fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        }
        Ok(dirs)
    }
}

/// A secret to copy into the run's tmpfs: from `source` (absolute) to `dest`, with this mode
/// and owner.
struct SecretCopy {
    source: PathBuf,
    dest: PathBuf,
    mode: u32,
    uid: u32,
    gid: u32,
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
    let dirs = RunDirs::create(&spec.work_dir)?;
    write_bundle(spec, &dirs.bundle)?;
    let (mut command, id) = sandbox_command(spec, &dirs)?;
    if let Some(terminal) = &spec.terminal {
        let mut delete = Command::new(&spec.runtime);
        delete
            .arg("--root")
            .arg(spec.state_dir.join(runtime_name(&spec.runtime)))
            .args(["delete", "--force", &id]);
        let (exit_code, served) = console::run(
            command,
            &id,
            delete,
            terminal,
            &spec.work_dir,
            spec.log.as_deref(),
        )?;
        return Ok(RunOutcome {
            exit_code,
            output: Vec::new(),
            upper: dirs.upper,
            not_started: (exit_code != 0)
                .then(|| not_started(&runtime_log(spec)))
                .flatten(),
            attachments: Some(served),
        });
    }
    command.arg(&id);
    let (status, output) = if let (true, Some(log)) = (spec.attach, &spec.log) {
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(io_error("start", Path::new(&spec.runtime)))?;
        let status = log::tee(&mut child, log).map_err(io_error("keep the output in", log))?;
        (status, Vec::new())
    } else if spec.attach {
        let status = command
            .status()
            .map_err(io_error("start", Path::new(&spec.runtime)))?;
        (status, Vec::new())
    } else {
        stream_output(&mut command, &spec.runtime, &dirs.bundle, on_output)?
    };
    let exit_code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    let not_started = if exit_code == 0 {
        None
    } else {
        not_started(&runtime_log(spec))
    };
    Ok(RunOutcome {
        exit_code,
        output,
        upper: dirs.upper,
        not_started,
        attachments: None,
    })
}

/// Where the runtime of `spec` logs (in JSON): its own errors, never the command's output.
fn runtime_log(spec: &RunSpec) -> PathBuf {
    spec.work_dir.join("runtime.log")
}

/// Why a run that failed never started its command, from the runtime's log at `log`: no log
/// means the runtime never started (a mount before it failed); an error in it, that the
/// runtime could not start the command. The command itself cannot write there (the runtime's
/// log pipe is closed when it execs the command), so a command's own exit code is never taken
/// for the runtime's.
fn not_started(log: &Path) -> Option<NotStarted> {
    let Ok(text) = fs::read_to_string(log) else {
        return Some(NotStarted::Setup);
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry.get("level").and_then(|l| l.as_str()) == Some("error"))
        .filter_map(|entry| entry.get("msg").and_then(|m| m.as_str()).map(str::to_owned))
        .next_back()
        .map(NotStarted::Runtime)
}

/// Writes the runtime config of `spec` into `bundle`.
fn write_bundle(spec: &RunSpec, bundle: &Path) -> Result<(), SandboxError> {
    let config = bundle::bundle_config(spec).map_err(|e| SandboxError::Io {
        action: "write the runtime config in",
        path: bundle.to_owned(),
        source: std::io::Error::other(e),
    })?;
    let config_path = bundle.join("config.json");
    config
        .save(&config_path)
        .map_err(|e| io_error("write", &config_path)(std::io::Error::other(e.to_string())))
}

/// The runtime's command, which first mounts the run's file systems in a mount namespace of
/// its own ([`setup::Setup`], applied between `fork` and `exec`), less its last argument: the
/// container's ID there, returned with it.
// `pre_exec` is unsafe: what runs there must be async-signal-safe, as `Setup::apply` is.
#[allow(unsafe_code)]
fn sandbox_command(spec: &RunSpec, dirs: &RunDirs) -> Result<(Command, String), SandboxError> {
    let mut lowers = lowerdirs(&spec.lowers);
    if lowers.is_empty() {
        fs::create_dir_all(&dirs.empty).map_err(io_error("create", &dirs.empty))?;
        lowers.push(dirs.empty.display().to_string());
    }
    let rootfs_options = overlay_options(&lowers, Some((&dirs.upper, &dirs.work)));
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
    let (runtime_flags, cgroup2) = runtime_flags(&spec.runtime);
    let mut setup = setup::Setup {
        rootfs: Some(setup::Overlay::new(
            Vec::new(),
            setup::c_path(&dirs.rootfs),
            &rootfs_options,
        )),
        cwd_dirs: setup::mkdir_chain(&dirs.rootfs.join(&cwd_inside)),
        cgroup2,
        merge_stderr: !spec.attach,
        ..setup::Setup::default()
    };
    let secrets = secret_copies(spec)?;
    if !secrets.is_empty() {
        let tmpfs = spec.work_dir.join("secrets");
        setup.tmpfs = Some((setup::mkdir_chain(&tmpfs), setup::c_path(&tmpfs)));
    }
    setup.secrets = secrets
        .iter()
        .map(|secret| setup::SecretFile {
            source: setup::c_path(&secret.source),
            dest: setup::c_path(&secret.dest),
            mode: secret.mode,
            uid: secret.uid,
            gid: secret.gid,
        })
        .collect();
    for (i, overlay) in spec.overlays.iter().enumerate() {
        let options = bind_overlay_options(spec, i, overlay)?;
        setup.overlays.push(setup::Overlay::new(
            setup::mkdir_chain(&overlay.mountpoint),
            setup::c_path(&overlay.mountpoint),
            &options,
        ));
    }
    let mut command = Command::new(&spec.runtime);
    command
        .arg("--root")
        .arg(&state_dir)
        .arg(log_option(&spec.runtime, &runtime_log(spec)))
        .args(runtime_flags.split_whitespace())
        .args(["run", "--bundle"])
        .arg(&dirs.bundle)
        .stdin(if spec.stdin {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        });
    // SAFETY: `apply` makes only system calls on strings made above, as a child between
    // `fork` and `exec` may.
    unsafe {
        command.pre_exec(move || setup.apply());
    }
    Ok((command, id))
}

/// `lowers` (bottom first) as overlayfs lists lower layers: top first.
fn lowerdirs(lowers: &[PathBuf]) -> Vec<String> {
    lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect()
}

/// overlayfs mount options over `lowers` (top first), with writes going to an upper directory
/// (and its work directory) when given. `nodev`: a device node in the image (or made by the
/// step) cannot be opened; the runtime's own /dev is a separate mount. `volatile` (Linux 5.10
/// on): unmounting does not sync the upper directory's whole file system, which after a step
/// that wrote a large tree waits for all of it to reach the disk (the store syncs nothing
/// else either: a layer's blob is checked by digest when it is used).
fn overlay_options(lowers: &[String], writes: Option<(&Path, &Path)>) -> String {
    match writes {
        Some((upper, work)) => format!(
            "lowerdir={},upperdir={},workdir={},nodev{}",
            lowers.join(":"),
            upper.display(),
            work.display(),
            if overlay_volatile() { ",volatile" } else { "" }
        ),
        None => format!("lowerdir={},nodev", lowers.join(":")),
    }
}

/// Whether overlayfs here takes `volatile` (Linux 5.10 and later).
fn overlay_volatile() -> bool {
    static VOLATILE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VOLATILE.get_or_init(|| {
        let uname = rustix::system::uname();
        let release = uname.release().to_string_lossy();
        let mut parts = release
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        version >= (5, 10)
    })
}

/// The mount options of `spec.overlays[index]`, making its scratch directories in the run's.
fn bind_overlay_options(
    spec: &RunSpec,
    index: usize,
    overlay: &BindOverlay,
) -> Result<String, SandboxError> {
    let scratch = |name: &str| -> Result<PathBuf, SandboxError> {
        let dir = spec.work_dir.join(format!("overlay-{index}-{name}"));
        fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        Ok(dir)
    };
    let mut lowers = lowerdirs(&overlay.lowers);
    if overlay.writable {
        let (upper, work) = (scratch("upper")?, scratch("work")?);
        Ok(overlay_options(&lowers, Some((&upper, &work))))
    } else {
        // overlayfs needs two lower directories when there is no upper one.
        lowers.push(scratch("empty")?.display().to_string());
        Ok(overlay_options(&lowers, None))
    }
}

/// The secrets `spec` mounts, each checked readable, with where it goes in the run's tmpfs.
fn secret_copies(spec: &RunSpec) -> Result<Vec<SecretCopy>, SandboxError> {
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
            let absolute =
                std::path::absolute(source).map_err(io_error("read the secret", source))?;
            secrets.push(SecretCopy {
                source: absolute,
                dest: secret_path(spec, secrets.len()),
                mode: *mode,
                uid: *uid,
                gid: *gid,
            });
        }
    }
    Ok(secrets)
}

/// The option that makes `runtime` log its own errors to `log`: crun's `--log=file:PATH`,
/// runc's `--log=PATH` (JSON, as [`runtime_flags`] asks of both).
fn log_option(runtime: &str, log: &Path) -> std::ffi::OsString {
    let mut option = std::ffi::OsString::from(if is_crun(runtime) {
        "--log=file:"
    } else {
        "--log="
    });
    option.push(log);
    option
}

/// Whether `runtime` is crun (whose flags differ from runc's).
fn is_crun(runtime: &str) -> bool {
    Path::new(runtime)
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("crun"))
}

/// The runtime's flags, and how cgroup2 is put at /sys/fs/cgroup for it, when it must be.
///
/// crun refuses hybrid cgroup hierarchies (v1 controllers with cgroup2 beside them): it runs
/// without a cgroup manager, with cgroup2 at the place it looks, inside the run's own mount
/// namespace. runc handles either hierarchy itself.
fn runtime_flags(runtime: &str) -> (&'static str, Option<setup::Cgroup2>) {
    if !is_crun(runtime) {
        return ("--log-format=json", None);
    }
    let cgroup2 = (!is_cgroup2(Path::new("/sys/fs/cgroup"))).then(|| {
        host_cgroup2()
            .map(|path| setup::Cgroup2::Bind(setup::c_path(path)))
            .unwrap_or(setup::Cgroup2::Mount)
    });
    ("--log-format=json --cgroup-manager=disabled", cgroup2)
}

/// Where the host has cgroup2 mounted whole (its root), if anywhere.
fn host_cgroup2() -> Option<&'static Path> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
            mountinfo.lines().find_map(|line| {
                // `ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS… - TYPE SOURCE SUPER-OPTIONS`
                let (mount, fs) = line.split_once(" - ")?;
                let fields: Vec<&str> = mount.split(' ').collect();
                let is_whole_cgroup2 =
                    fs.split(' ').next() == Some("cgroup2") && fields.get(3) == Some(&"/");
                let point = PathBuf::from(fields.get(4)?);
                (is_whole_cgroup2 && is_cgroup2(&point)).then_some(point)
            })
        })
        .as_deref()
}

/// Runs `command` with one pipe for both streams (the child sends stderr to stdout), read
/// line by line as the command writes, so the build log can stream it; returns how it ended
/// and everything it wrote.
fn stream_output(
    command: &mut Command,
    runtime: &str,
    bundle: &Path,
    on_output: &dyn Fn(&str),
) -> Result<(ExitStatus, Vec<u8>), SandboxError> {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(io_error("start", Path::new(runtime)))?;
    let mut combined = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = Vec::new();
        while std::io::BufRead::read_until(&mut reader, b'\n', &mut line)
            .map_err(io_error("read the output of", bundle))?
            > 0
        {
            on_output(String::from_utf8_lossy(&line).trim_end_matches('\n'));
            combined.extend_from_slice(&line);
            line.clear();
        }
    }
    let status = child
        .wait()
        .map_err(io_error("wait for", Path::new(runtime)))?;
    Ok((status, combined))
}
