//! A registry of the caller's own: Debian's `docker-registry` (distribution 2.8) on a free
//! loopback port, its storage in a temporary directory, stopped on drop. One definition for the
//! tests that pull and push (`tests/it/registry.rs`) and the registry benchmark.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry of the test's own, on `127.0.0.1:port`, its storage in a temporary directory.
pub struct Registry {
    dir: tempfile::TempDir,
    pub port: u16,
    daemon: Child,
    /// The password file of one that takes a login.
    _secrets: Option<tempfile::TempDir>,
}

impl Registry {
    /// Starts one, or prints why the test is skipped when `docker-registry` is not installed
    /// (the README's test command installs it).
    pub fn start() -> Option<Registry> {
        Registry::start_with("")
    }

    /// Starts one that takes only `user` with `password` (htpasswd, bcrypt).
    pub fn with_login(user: &str, password: &str) -> Option<Registry> {
        if !Path::new("/usr/bin/htpasswd").exists() {
            println!("skipped: htpasswd (Debian's apache2-utils) is not installed");
            return None;
        }
        let secrets = tempfile::tempdir().expect("tempdir");
        let file_arg = secrets.path().join("htpasswd").display().to_string();
        let made = Command::new("htpasswd")
            .args(["-Bbc", &file_arg, user, password])
            .output()
            .expect("run htpasswd");
        assert!(made.status.success(), "htpasswd failed");
        let mut registry = Registry::start_with(&format!(
            "auth: {{htpasswd: {{realm: bld-test, path: {file_arg}}}}}\n"
        ))?;
        registry._secrets = Some(secrets);
        Some(registry)
    }

    fn start_with(extra_config: &str) -> Option<Registry> {
        if !Path::new("/usr/bin/docker-registry").exists() {
            println!("skipped: Debian's docker-registry is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n{extra_config}",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let daemon = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            dir,
            port,
            daemon,
            _secrets: None,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// `127.0.0.1:PORT/repository`.
    pub fn name(&self, repository: &str) -> String {
        format!("127.0.0.1:{}/{repository}", self.port)
    }

    /// The files holding the registry's blobs.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let root = self.dir.path().join("data/docker/registry/v2/blobs/sha256");
        let mut files = Vec::new();
        for prefix in std::fs::read_dir(root).expect("blobs") {
            for blob in std::fs::read_dir(prefix.expect("entry").path()).expect("blob dirs") {
                files.push(blob.expect("entry").path().join("data"));
            }
        }
        files
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
