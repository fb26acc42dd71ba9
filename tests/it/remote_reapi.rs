//! `--remote-cache grpc://…` against a real BuildGrid (REAPI v2: ActionCache, CAS,
//! ByteStream): two stores standing for two machines; a warm remote gives a fresh store the
//! same images with no action run; a changed source runs only its dependants; poisoned CAS
//! bytes are detected and rebuilt, never kept; a server killed mid-build fails nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Run, run_bld};

/// A BuildGrid CAS + ActionCache + ByteStream server on a free loopback port.
struct BuildGrid {
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
    fn start() -> Option<BuildGrid> {
        let Some(bgd) = bgd() else {
            println!("skipped: BuildGrid (bgd) is not installed (`./dev test` installs it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
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
        let began = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "BuildGrid did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(BuildGrid { dir, port, child })
    }

    fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// The files of the server's CAS.
    fn objects(&self) -> Vec<PathBuf> {
        walk(&self.dir.path().join("cas"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.kill();
    }
}

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

fn context(scratch: &Path, app: &str) {
    let dir = scratch.join("ctx");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("/bin/busybox (busybox-static)");
    std::fs::write(dir.join("app.txt"), app).expect("write");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN sleep 2 && echo made > /made\nCOPY app.txt /app.txt\n",
    )
    .expect("write");
}

/// `bld build -t app:1 --remote-cache URL ctx` with the store `store`; the image's digest,
/// how many actions ran and how many were remote hits.
fn build(scratch: &Path, store: &str, url: &str) -> (Run, String, usize, usize) {
    let ctx = scratch.join("ctx").display().to_string();
    let run = run_bld(
        scratch,
        &scratch.join(store),
        &["build", "-t", "app:1", "--remote-cache", url, &ctx],
    )
    .ok();
    let line = run.stdout.lines().last().unwrap_or_default().to_owned();
    let words: Vec<&str> = line.split_whitespace().collect();
    let number_before = |what: &str| {
        words
            .windows(2)
            .find(|w| w[1].trim_end_matches(',') == what)
            .and_then(|w| w[0].parse().ok())
            .unwrap_or(usize::MAX)
    };
    let digest = words
        .iter()
        .find(|w| w.starts_with("sha256:"))
        .map(|w| (*w).to_owned())
        .unwrap_or_default();
    let remote = words
        .windows(3)
        .find(|w| w[1] == "remote")
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0);
    (run, digest, number_before("ran"), remote)
}

#[test]
fn a_fresh_store_builds_from_a_warm_reapi_cache_and_poison_is_rebuilt() {
    let Some(server) = BuildGrid::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch, "v1\n");
    let (_, digest, ran, _) = build(scratch, "a", &server.url());
    assert!(ran > 0);
    let (second, same, ran_b, hits) = build(scratch, "b", &server.url());
    assert_eq!(
        (same.as_str(), ran_b),
        (digest.as_str(), 0),
        "{}",
        second.stdout
    );
    assert!(hits > 0, "{}", second.stdout);

    std::fs::write(scratch.join("ctx/app.txt"), "v2\n").expect("write");
    let (third, changed, ran_c, _) = build(scratch, "c", &server.url());
    assert_ne!(changed, digest);
    assert_eq!(ran_c, 2, "the COPY and the image only: {}", third.stdout);

    // Every CAS object over 100 bytes altered on the server's disk: detected, rebuilt here,
    // and the store keeps only blobs that are what their names say.
    std::fs::write(scratch.join("ctx/app.txt"), "v1\n").expect("write");
    for object in server.objects() {
        let mut bytes = std::fs::read(&object).expect("object");
        if bytes.len() > 100 {
            bytes[50] ^= 0xff;
            std::fs::write(&object, bytes).expect("tamper");
        }
    }
    let (poisoned, again, ran_d, _) = build(scratch, "d", &server.url());
    assert_eq!(again, digest, "{}", poisoned.stdout);
    assert!(ran_d > 0, "{}", poisoned.stdout);
    assert!(
        poisoned.stderr.contains("warning: --remote-cache"),
        "{}",
        poisoned.stderr
    );
    for blob in walk(&scratch.join("d/blobs")) {
        let bytes = std::fs::read(&blob).expect("blob");
        let name = blob
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let sum = crate::support::tool("sha256sum", &[&blob.display().to_string()]);
        assert_eq!(
            sum.split_whitespace().next(),
            Some(name.as_str()),
            "{} bytes",
            bytes.len()
        );
    }
}

#[test]
fn a_server_killed_mid_build_or_never_there_fails_no_build() {
    let Some(mut server) = BuildGrid::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch, "v1\n");
    let url = server.url();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        server.kill();
    });
    let (during, digest, ran, _) = build(scratch, "a", &url);
    killer.join().expect("killer");
    assert!(
        digest.starts_with("sha256:") && ran > 0,
        "{}",
        during.stdout
    );
    let (never, same, _, _) = build(scratch, "b", "grpc://127.0.0.1:9");
    assert_eq!(same, digest);
    assert!(
        never.stderr.contains("building locally"),
        "{}",
        never.stderr
    );
}
