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

/// The runtime config of the run `spec`, its root file system at `rootfs` in the bundle.
pub(super) fn bundle_config(spec: &RunSpec) -> Result<Spec, String> {
    let mut config = Spec::default();
    config.set_hostname(Some(spec.hostname.clone()));
    config.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(false)
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
    let capabilities: HashSet<Capability> = DEFAULT_CAPABILITIES.iter().copied().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
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
        .map(|kind| LinuxNamespaceBuilder::default().typ(kind).build())
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
