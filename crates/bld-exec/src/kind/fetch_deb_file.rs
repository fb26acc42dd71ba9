//! Fetching one file out of a pinned Debian package: `apt-get download` from the machine's
//! configured archive, the `.deb` checked against its sha256, the file taken from
//! `dpkg-deb --fsys-tarfile`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use bld_core::Digest;
use bld_store::Store;

use bld_graph::FetchDebFile;

use super::{Execute, Run};
use crate::{ActionOutput, Failure};

fn command_failed(what: &str, output: &std::process::Output) -> Failure {
    Failure::user(format!(
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

impl Execute for FetchDebFile {
    /// Fetches `package=version`, checks it is `sha256`, and stores its file `path`.
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        fetch_deb_file(
            run.store(),
            &self.package,
            &self.version,
            &self.sha256,
            &self.path,
        )
    }
}

fn fetch_deb_file(
    store: &Store,
    package: &str,
    version: &str,
    sha256: &Digest,
    path: &str,
) -> Result<ActionOutput, Failure> {
    let dir = store.temp_path("deb");
    std::fs::create_dir_all(&dir).map_err(Failure::internal)?;
    let result = fetch_into(store, &dir, package, version, sha256, path);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn fetch_into(
    store: &Store,
    dir: &Path,
    package: &str,
    version: &str,
    sha256: &Digest,
    path: &str,
) -> Result<ActionOutput, Failure> {
    let output = Command::new("apt-get")
        .args(["download", "-q", &format!("{package}={version}")])
        .current_dir(dir)
        .output()
        .map_err(|e| Failure::user(format!("cannot run apt-get to fetch {package}: {e}")))?;
    if !output.status.success() {
        return Err(command_failed(
            &format!("apt-get download {package}={version}"),
            &output,
        ));
    }
    let deb = std::fs::read_dir(dir)
        .map_err(Failure::internal)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| Failure::internal(format!("apt-get download {package} wrote no .deb")))?;
    let bytes = std::fs::read(&deb).map_err(Failure::internal)?;
    let actual = Digest::of(&bytes);
    if actual != *sha256 {
        return Err(Failure::user(format!(
            "{package} {version}: the archive served {actual}, but the pin is {sha256}"
        )));
    }
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::user(format!("cannot run dpkg-deb: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failure::internal("dpkg-deb: no output"))?;
    let mut archive = tar::Archive::new(stdout);
    let wanted = path.trim_start_matches("./").trim_start_matches('/');
    let mut found = None;
    for entry in archive.entries().map_err(Failure::internal)? {
        let mut entry = entry.map_err(Failure::internal)?;
        let name = entry
            .path()
            .map_err(Failure::internal)?
            .to_string_lossy()
            .into_owned();
        if name.trim_start_matches("./") == wanted && entry.header().entry_type().is_file() {
            let executable = entry.header().mode().unwrap_or(0) & 0o100 != 0;
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(Failure::internal)?;
            let (digest, size) = store.put_bytes(&content).map_err(Failure::internal)?;
            found = Some(ActionOutput::File {
                digest,
                size,
                executable,
            });
        }
    }
    let _ = child.wait();
    found.ok_or_else(|| Failure::user(format!("{package} {version} has no file `{path}`")))
}
