//! A BuildGrid server (REAPI v2: CAS, ActionCache, ByteStream) on a free loopback port, for the
//! remote-cache tests and benchmark: `bgd` from `$BLD_BGD`, the one `./dev` installs in
//! `.tools/buildgrid`, or `$PATH`.
// Each user of this file uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A BuildGrid CAS + ActionCache + ByteStream server on a free loopback port.
pub struct BuildGrid {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

/// `bgd`: `$BLD_BGD`, else the one `./dev` installs in `.tools/buildgrid`, else on `$PATH`.
fn bgd() -> Option<PathBuf> {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/buildgrid/bin/bgd");
    std::env::var_os("BLD_BGD")
        .map(PathBuf::from)
        .into_iter()
        .chain([installed])
        .find(|p| p.is_file())
        .or_else(|| {
            Command::new("bgd")
                .arg("--help")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .ok()
                .filter(|s| s.success())
                .map(|_| PathBuf::from("bgd"))
        })
}

impl BuildGrid {
    /// Starts one, or says the test is skipped when `bgd` is not installed.
    pub fn start() -> Option<BuildGrid> {
        let Some(bgd) = bgd() else {
            println!("skipped: BuildGrid (bgd) is not installed (`./dev test` installs it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::ports::free_port();
        let config = dir.path().join("server.yml");
        std::fs::write(
            &config,
            format!(
                "server:\n  - !channel {{address: \"127.0.0.1:{port}\", insecure-mode: true}}\n\
                 storages:\n  - !disk-storage &main-storage {{path: {}}}\n\
                 caches:\n  - !lru-action-cache &main-action {{storage: *main-storage, max-cached-refs: 100000, allow-updates: true, cache-failed-actions: false}}\n\
                 instances:\n  - name: \"\"\n    services:\n      - !action-cache {{cache: *main-action}}\n      - !cas {{storage: *main-storage}}\n      - !bytestream {{storage: *main-storage}}\n",
                dir.path().join("cas").display()
            ),
        )
        .expect("config");
        let child = Command::new(bgd)
            .args(["server", "start"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bgd");
        crate::ports::wait_for(port, "BuildGrid", 60);
        Some(BuildGrid { dir, port, child })
    }

    /// `grpc://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// The files of the server's CAS.
    pub fn objects(&self) -> Vec<PathBuf> {
        walk(&self.dir.path().join("cas"))
    }

    /// Stops it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
