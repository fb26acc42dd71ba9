//! A dockerd of the caller's own: Debian's `docker.io` daemon (dockerd 20.10 with BuildKit),
//! started on a private socket, data root and exec root in a temporary directory under /tmp and
//! stopped by its PID on drop. One definition for the benchmarks that time BuildKit
//! (`benches/*.rs`) and the tests that compare images with it (`tests/it/docker_peer.rs`).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A dockerd of the caller's own, on a socket in a temporary directory.
pub struct Dockerd {
    dir: tempfile::TempDir,
    daemon: Child,
}

impl Dockerd {
    /// Starts the daemon, or says the comparison is skipped when `dockerd` is not installed
    /// (the README's test command installs `docker.io`).
    pub fn start() -> Option<Dockerd> {
        if !Path::new("/usr/sbin/dockerd").exists() || !Path::new("/usr/bin/docker").exists() {
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("skipped: Docker's daemon (Debian's docker.io) is not installed\n"),
            );
            return None;
        }
        // A short path: the socket's name must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("bld-dockerd")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let daemon = Command::new("/usr/sbin/dockerd")
            .args(["--data-root", &path("data"), "--exec-root", &path("exec")])
            .args(["-H", &format!("unix://{}", path("docker.sock"))])
            .args(["--pidfile", &path("dockerd.pid")])
            .args(["--iptables=false", "--ip-forward=false", "--bridge=none"])
            .args(["--storage-driver", "overlay2"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let dockerd = Dockerd { dir, daemon };
        let started = Instant::now();
        while !dockerd.docker(&["version"]).status.success() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "dockerd did not start: {}",
                std::fs::read_to_string(dockerd.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(dockerd)
    }

    /// The client against this daemon, with BuildKit, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("/usr/bin/docker");
        command
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("docker.sock").display()),
            )
            .env("DOCKER_BUILDKIT", "1")
            .stdin(Stdio::null());
        command
    }

    /// Runs the client against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run docker")
    }

    /// `docker build --network none -t tag context`, not yet run.
    pub fn build_command(&self, context: &Path, tag: &str) -> Command {
        let context = context.display().to_string();
        self.command(&["build", "--network", "none", "-t", tag, &context])
    }

    /// `docker build --network none -t tag context`.
    pub fn build(&self, context: &Path, tag: &str) -> Output {
        self.build_command(context, tag)
            .output()
            .expect("run docker")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = self.daemon.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let stopping = Instant::now();
        while stopping.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
