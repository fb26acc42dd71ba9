//! The files Docker gives every build step and container: `/etc/hosts`, `/etc/resolv.conf`
//! and, for a container, `/etc/hostname`. They are written in the run's directory and
//! bind-mounted over the image's, so what a step writes to them never reaches its layer.

use std::fs;
use std::io;
use std::path::Path;

use crate::{MountKind, SandboxMount};

/// What a run is, for the names and files Docker gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A `RUN` step: BuildKit's host name, no `/etc/hostname`.
    BuildStep,
    /// A container (`bld run`): its own host name, as Docker names it from the container's ID.
    Container {
        /// The host name (12 hex digits).
        hostname: String,
    },
}

/// The host name BuildKit gives its steps.
pub const BUILD_STEP_HOSTNAME: &str = "buildkitsandbox";

/// Docker's `/etc/hosts` for a container without a network of its own.
const CONTAINER_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
    fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

impl Identity {
    /// The run's host name.
    pub fn hostname(&self) -> &str {
        match self {
            Identity::BuildStep => BUILD_STEP_HOSTNAME,
            Identity::Container { hostname } => hostname,
        }
    }
}

/// Writes the files for a run of `identity` in `dir` and returns their mounts: `/etc/hosts`
/// (the host's own with `host_network` for a container, as Docker does; then `extra_hosts`), `/etc/resolv.conf`
/// (the host's), and a container's `/etc/hostname`.
pub fn etc_files(
    dir: &Path,
    identity: &Identity,
    host_network: bool,
    extra_hosts: &[(String, String)],
) -> io::Result<Vec<SandboxMount>> {
    let mut hosts = match identity {
        Identity::BuildStep => format!(
            "127.0.0.1\tlocalhost {BUILD_STEP_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
        Identity::Container { .. } if host_network => {
            fs::read_to_string("/etc/hosts").unwrap_or_default()
        }
        Identity::Container { .. } => CONTAINER_HOSTS.to_owned(),
    };
    for (name, address) in extra_hosts {
        hosts.push_str(&format!("{address}\t{name}\n"));
    }
    let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut files = vec![("hosts", hosts), ("resolv.conf", resolv)];
    if let Identity::Container { hostname } = identity {
        files.push(("hostname", format!("{hostname}\n")));
    }
    fs::create_dir_all(dir)?;
    files
        .into_iter()
        .map(|(name, content)| {
            let source = dir.join(format!("etc-{name}"));
            fs::write(&source, content)?;
            Ok(SandboxMount {
                target: format!("/etc/{name}"),
                kind: MountKind::Bind {
                    source,
                    read_only: false,
                },
            })
        })
        .collect()
}
