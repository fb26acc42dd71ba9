//! The OCI runtime bundle's `config.json`: the process, Docker's default capabilities and
//! device rules, the namespaces (a network one unless the step asks for the host's) and the
//! mounts of one run.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{
    Capability, Linux, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder,
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, LinuxSeccomp,
    Mount, MountBuilder, Process, ProcessBuilder, RootBuilder, Spec, UserBuilder,
    get_default_mounts,
};

use super::{MountKind, RunSpec, secret_path};

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

/// Every capability Linux has, by name, in the order of their bits.
const ALL_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capability `name` (`NET_ADMIN`, `CAP_NET_ADMIN`, any case), or why it is none.
pub fn capability(name: &str) -> Result<Capability, String> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse()
        .map_err(|_| format!("unknown capability: \"{name}\""))
}

/// Docker's default capabilities with `add` added and `drop` dropped (`ALL` in either: every
/// one), the drops first, as Docker applies them.
fn capability_set(add: &[String], drop: &[String]) -> Result<HashSet<Capability>, String> {
    let all = |names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case("all"));
    let mut set: HashSet<Capability> = if all(drop) {
        HashSet::new()
    } else {
        DEFAULT_CAPABILITIES.iter().copied().collect()
    };
    for name in drop.iter().filter(|n| !n.eq_ignore_ascii_case("all")) {
        set.remove(&capability(name)?);
    }
    if all(add) {
        // Every one this process may pass on: a capability outside its bounding set cannot be
        // given, and the runtime would fail.
        let bounding = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("CapBnd:"))?;
                u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
            })
            .unwrap_or(u64::MAX);
        for (bit, name) in ALL_CAPABILITIES.iter().enumerate() {
            if bounding & (1 << bit) != 0 {
                set.insert(capability(name)?);
            }
        }
    }
    for name in add.iter().filter(|n| !n.eq_ignore_ascii_case("all")) {
        set.insert(capability(name)?);
    }
    Ok(set)
}

/// The runtime config of the run `spec`, its root file system at `rootfs` in the bundle.
pub(super) fn bundle_config(spec: &RunSpec) -> Result<Spec, String> {
    let mut config = Spec::default();
    config.set_hostname(Some(spec.hostname.clone()));
    config.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(spec.read_only)
            .build()
            .map_err(|e| e.to_string())?,
    ));
    config.set_process(Some(process(spec)?));
    let filter = super::seccomp::default_filter()?;
    // crun loads the program compiled here, instead of compiling the profile for each run.
    if super::is_crun(&spec.runtime)
        && let Some(program) = filter.and_then(|f| f.program_base64.clone())
    {
        let mut annotations = config.annotations().clone().unwrap_or_default();
        annotations.insert("run.oci.seccomp_bpf_data".to_owned(), program);
        config.set_annotations(Some(annotations));
    }
    config.set_linux(Some(linux(spec, filter.map(|f| f.profile.clone()))?));
    config.set_mounts(Some(mounts(spec)?));
    Ok(config)
}

/// The command, as `spec.uid:spec.gid`, with Docker's default capabilities.
fn process(spec: &RunSpec) -> Result<Process, String> {
    let capabilities = capability_set(&spec.cap_add, &spec.cap_drop)?;
    // No inheritable or ambient ones (oci-spec's defaults have some), as Docker: a process of
    // a user other than root has no capability.
    let capabilities = LinuxCapabilitiesBuilder::default()
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .bounding(capabilities.clone())
        .effective(capabilities.clone())
        .permitted(capabilities)
        .build()
        .map_err(|e| e.to_string())?;
    ProcessBuilder::default()
        .terminal(spec.terminal.is_some())
        .args(spec.args.clone())
        .env(spec.env.clone())
        .cwd(spec.cwd.clone())
        .user(
            UserBuilder::default()
                .uid(spec.uid)
                .gid(spec.gid)
                .additional_gids(spec.additional_gids.clone())
                .build()
                .map_err(|e| e.to_string())?,
        )
        .capabilities(capabilities)
        .no_new_privileges(false)
        .build()
        .map_err(|e| e.to_string())
}

/// New namespaces (the network one unless `spec.host_network`), and no device but the
/// runtime's defaults.
fn linux(spec: &RunSpec, seccomp: Option<LinuxSeccomp>) -> Result<Linux, String> {
    let mut kinds = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if !spec.host_network {
        kinds.push(LinuxNamespaceType::Network);
    }
    let namespaces = kinds
        .into_iter()
        .map(|kind| match (&spec.network_namespace, kind) {
            (Some(path), LinuxNamespaceType::Network) => LinuxNamespaceBuilder::default()
                .typ(kind)
                .path(path.clone())
                .build(),
            _ => LinuxNamespaceBuilder::default().typ(kind).build(),
        })
        .collect::<Result<Vec<LinuxNamespace>, _>>()
        .map_err(|e| e.to_string())?;
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
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(devices);
    // Docker's default seccomp profile.
    if let Some(profile) = seccomp {
        linux = linux.seccomp(profile);
    }
    linux.build().map_err(|e| e.to_string())
}

/// The runtime's default mounts (less `/sys/fs/cgroup`), then `spec.mounts` in order.
fn mounts(spec: &RunSpec) -> Result<Vec<Mount>, String> {
    let mut mounts = get_default_mounts()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .map(|mut m| {
            // Docker's /proc: no setuid, no devices, nothing executed from it.
            if m.destination() == Path::new("/proc") {
                m.set_options(Some(
                    ["nosuid", "noexec", "nodev"].map(str::to_owned).to_vec(),
                ));
            }
            m
        })
        .collect::<Vec<_>>();
    let mut secrets = 0;
    for mount in &spec.mounts {
        let built = match &mount.kind {
            MountKind::Bind { source, read_only } => bind(&mount.target, source, *read_only),
            MountKind::Secret { .. } => {
                secrets += 1;
                bind(&mount.target, &secret_path(spec, secrets - 1), true)
            }
            MountKind::Tmpfs { size } => tmpfs(&mount.target, *size),
        };
        mounts.push(built.map_err(|e| e.to_string())?);
    }
    Ok(mounts)
}

fn bind(target: &str, source: &Path, read_only: bool) -> Result<Mount, oci_spec::OciSpecError> {
    MountBuilder::default()
        .destination(target)
        .typ("bind")
        .source(source)
        .options(vec![
            "rbind".to_owned(),
            if read_only { "ro" } else { "rw" }.to_owned(),
        ])
        .build()
}

fn tmpfs(target: &str, size: Option<u64>) -> Result<Mount, oci_spec::OciSpecError> {
    let mut options = vec![
        "nosuid".to_owned(),
        "nodev".to_owned(),
        "mode=1777".to_owned(),
    ];
    if let Some(size) = size {
        options.push(format!("size={size}"));
    }
    MountBuilder::default()
        .destination(target)
        .typ("tmpfs")
        .source("tmpfs")
        .options(options)
        .build()
}
