//! A container's own network with a way out and published ports (`docker run -p`), from
//! slirp4netns: a network namespace made beforehand and kept at a file (util-linux's
//! `unshare --net=FILE`), which slirp4netns gives a tap device with a user-mode TCP/IP stack
//! (the container is 10.0.2.100, the gateway 10.0.2.2, DNS 10.0.2.3) and forwards host ports
//! into, through its API socket. The runtime joins the namespace at the file. No NAT rules,
//! bridges or veths are made on the host.

use std::fs::File;
use std::io::{BufRead as _, Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{SandboxError, io_error};

/// The resolver a slirp4netns network answers at.
pub const SLIRP_DNS: &str = "10.0.2.3";

/// A host port forwarded into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// The host address to listen at (`0.0.0.0`: every one).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// A running network: its namespace file, and slirp4netns serving it (killed, and the
/// namespace let go, when dropped).
pub struct Network {
    /// The namespace, for the runtime to join.
    pub namespace: PathBuf,
    slirp: Child,
    /// Closed when this process ends, however it ends: slirp4netns then exits.
    _exit: OwnedFd,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Network({})", self.namespace.display())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.slirp.kill();
        let _ = self.slirp.wait();
        let _ = rustix::mount::unmount(&self.namespace, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_file(&self.namespace);
    }
}

/// Lets go of the network namespace a [`Network`] kept in `dir` (when its process was killed
/// before it could): unmounted, so that the directory can be removed.
pub fn release(dir: &Path) {
    let namespace = dir.join("netns");
    if namespace.exists() {
        let _ = rustix::mount::unmount(&namespace, rustix::mount::UnmountFlags::DETACH);
    }
}

fn missing(program: &str) -> SandboxError {
    SandboxError::NotInImage(format!(
        "a network with published ports needs `{program}`: install it (Debian: `apt-get install {}`)",
        if program == "slirp4netns" {
            "slirp4netns"
        } else {
            "util-linux"
        }
    ))
}

/// Makes a network namespace at `dir/netns`, starts slirp4netns for it and forwards `ports`.
pub fn start(dir: &Path, ports: &[PublishedPort]) -> Result<Network, SandboxError> {
    let namespace = dir.join("netns");
    File::create(&namespace).map_err(io_error("create", &namespace))?;
    let made = Command::new("unshare")
        .arg(format!("--net={}", namespace.display()))
        .arg("true")
        .status()
        .map_err(|_| missing("unshare"))?;
    if !made.success() {
        let _ = std::fs::remove_file(&namespace);
        return Err(io_error("make a network namespace at", &namespace)(
            std::io::Error::other(format!("unshare exited with {made}")),
        ));
    }
    let (mut ready_read, ready_write) = std::io::pipe().map_err(io_error("pipe for", dir))?;
    let (exit_read, exit_write) = std::io::pipe().map_err(io_error("pipe for", dir))?;
    let api = dir.join("slirp.sock");
    let (_api_dir, api_short) = crate::attach::short_path(&api).map_err(io_error("use", &api))?;
    // slirp4netns says it is ready on one pipe and exits when the other closes: both ends
    // it keeps are inherited (not close-on-exec), at the numbers its command line gives.
    for fd in [ready_write.as_fd(), exit_read.as_fd()] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())
            .map_err(|e| io_error("pass a pipe to slirp4netns for", dir)(e.into()))?;
    }
    let mut command = Command::new("slirp4netns");
    command
        .args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .arg("--netns-type=path")
        .arg(format!("--ready-fd={}", ready_write.as_raw_fd()))
        .arg(format!("--exit-fd={}", exit_read.as_raw_fd()))
        .arg(format!("--api-socket={}", api_short.display()))
        .arg(&namespace)
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut slirp = command.spawn().map_err(|_| missing("slirp4netns"))?;
    drop((ready_write, exit_read));
    let mut byte = [0];
    if ready_read.read_exact(&mut byte).is_err() {
        let mut why = String::new();
        if let Some(mut stderr) = slirp.stderr.take() {
            let _ = stderr.read_to_string(&mut why);
        }
        let _ = slirp.kill();
        let _ = slirp.wait();
        let _ = rustix::mount::unmount(&namespace, rustix::mount::UnmountFlags::DETACH);
        return Err(SandboxError::NotInImage(format!(
            "slirp4netns could not set up the container's network: {}",
            why.trim()
        )));
    }
    let network = Network {
        namespace,
        slirp,
        _exit: exit_write.into(),
    };
    for port in ports {
        forward(&api, port)?;
    }
    Ok(network)
}

/// Asks slirp4netns (its API socket at `api`) to forward `port`.
fn forward(api: &Path, port: &PublishedPort) -> Result<(), SandboxError> {
    let fail = |why: String| {
        SandboxError::NotInImage(format!(
            "cannot publish port {}:{}->{}/{}: {why}",
            port.host_ip, port.host_port, port.container_port, port.protocol
        ))
    };
    let mut stream = crate::attach::connect(api, &mut || true).map_err(|e| fail(e.to_string()))?;
    let request = serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": port.protocol,
            "host_addr": port.host_ip,
            "host_port": port.host_port,
            "guest_port": port.container_port,
        }
    });
    stream
        .write_all(request.to_string().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| fail(e.to_string()))?;
    let answer: serde_json::Value =
        serde_json::from_str(&answer).map_err(|_| fail(format!("slirp4netns said `{answer}`")))?;
    match answer.get("error") {
        None => Ok(()),
        Some(error) => Err(fail(error["desc"].as_str().unwrap_or("refused").to_owned())),
    }
}
