//! Running `bld` against throwaway workspaces and stores.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary workspace with its own store.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

/// The result of one `bld` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// What a finished `bld` printed and its exit code.
    pub fn of(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "bld failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The `(ran, cached)` counts of the summary line.
    pub fn counts(&self) -> (usize, usize) {
        let line = self.stdout.lines().last().unwrap_or_default();
        let number_before = |word: &str| -> usize {
            let at = line
                .find(word)
                .unwrap_or_else(|| panic!("no `{word}` in summary `{line}`"));
            line[..at]
                .trim_end()
                .rsplit([' ', ':'])
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad summary `{line}`"))
        };
        (number_before(" ran"), number_before(" cache hits"))
    }

    /// The manifest digest printed for `label`.
    pub fn digest_of(&self, label: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some(label)).then(|| parts.next().unwrap_or_default().to_owned())
            })
            .unwrap_or_else(|| panic!("no line for {label} in:\n{}", self.stdout))
    }
}

impl Sandbox {
    /// An empty sandbox.
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A sandbox holding `files` (path, content) under `ws/`, plus `ws/WORKSPACE.star`.
    pub fn with_files(files: &[(&str, &str)]) -> Sandbox {
        let sandbox = Sandbox::new();
        sandbox.write("WORKSPACE.star", "");
        for (path, content) in files {
            sandbox.write(path, content);
        }
        sandbox
    }

    /// A sandbox holding a copy of this repository's `WORKSPACE.star` and `examples/`.
    pub fn with_examples() -> Sandbox {
        let sandbox = Sandbox::new();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        copy_tree(&repo.join("examples"), &sandbox.ws().join("examples"));
        std::fs::copy(
            repo.join("WORKSPACE.star"),
            sandbox.ws().join("WORKSPACE.star"),
        )
        .expect("copy");
        sandbox
    }

    /// The workspace root.
    pub fn ws(&self) -> PathBuf {
        let ws = self.dir.path().join("ws");
        std::fs::create_dir_all(&ws).expect("mkdir");
        ws
    }

    /// The store directory.
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The sandbox's own directory (for extra workspaces).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file in the workspace.
    pub fn write(&self, path: &str, content: &str) {
        let path = self.ws().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }

    /// Runs `bld args` in `ws/<dir>`.
    pub fn bld_in(&self, dir: &str, args: &[&str]) -> Run {
        run_bld(&self.ws().join(dir), &self.store(), args)
    }

    /// Runs `bld args` at the workspace root.
    pub fn bld(&self, args: &[&str]) -> Run {
        self.bld_in("", args)
    }
}

/// Runs the bld binary in `cwd` with store `store`.
pub fn run_bld(cwd: &Path, store: &Path, args: &[&str]) -> Run {
    run_bld_with_env(cwd, store, args, &[])
}

/// bld's settings for the tests: Docker Hub blocked.
pub const TEST_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/bld-config.toml");

/// `bld ARGS…` in `cwd` with the store `store`, not started.
pub fn bld_command(cwd: &Path, store: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bld"));
    command
        .args(args)
        .current_dir(cwd)
        .env("BLD_STORE", store)
        // bld's registry settings block Docker Hub unless a test gives its own.
        .env("BLD_CONFIG", TEST_CONFIG)
        .env_remove("SOURCE_DATE_EPOCH");
    command
}

/// Runs the bld binary in `cwd` with store `store` and the variables `env` set.
pub fn run_bld_with_env(
    cwd: &Path,
    store: &Path,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> Run {
    let mut command = bld_command(cwd, store, args);
    for (name, value) in env {
        command.env(name, value);
    }
    Run::of(command.output().expect("run bld"))
}

/// Copies a directory tree (files and directories, keeping permissions).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs an external tool, failing the test with its output when it fails or is missing.
#[track_caller]
pub fn tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program}` ({e}): the README's test command installs it with apt-get"
            )
        });
    assert!(
        output.status.success(),
        "`{program} {}` failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Copies the image `latest` of the layout at `layout` with skopeo, which re-verifies every
/// digest on the way (into a scratch directory beside it).
#[track_caller]
pub fn skopeo_verifies(layout: &Path) {
    let copy = tempfile::tempdir().expect("tempdir");
    tool(
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:latest", layout.display()),
            &format!("oci:{}:latest", copy.path().join("copy").display()),
        ],
    );
}

/// What changes from run to run in bld's output, replaced in snapshots (as uv's
/// `uv_snapshot!` does): digests, image IDs, durations, ages and sizes.
pub const SNAPSHOT_FILTERS: &[(&str, &str)] = &[
    (r"\S*/tests/it/bld-config\.toml", "[TEST CONFIG]"),
    (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
    (
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z| \+0000 UTC)?",
        "[TIMESTAMP]",
    ),
    (r"\b[0-9a-f]{12}\b", "[ID]"),
    (r"\b\d+(\.\d+)? ?m?s\b", "[TIME]"),
    (
        r"(About an?|Less than a|\d+) (second|minute|hour|day|week|month|year)s? ago",
        "[CREATED]",
    ),
    (r"\b\d+(\.\d+)?(B|kB|MB|GB)\b", "[SIZE]"),
];

impl Run {
    /// The run as a snapshot shows it: its exit code, stdout and stderr, with `root` (the
    /// sandbox's directory) shown as `[TEMP]`.
    pub fn snapshot(&self, root: &Path) -> String {
        let root = root.display().to_string();
        format!(
            "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code,
            self.stdout.replace(&root, "[TEMP]"),
            self.stderr.replace(&root, "[TEMP]")
        )
    }
}

/// Asserts that a [`Run::snapshot`] (of the sandbox `$sandbox`) matches the snapshot file
/// `$name` beside the calling module, after [`SNAPSHOT_FILTERS`]. Review a changed snapshot
/// by reading its `.snap.new` file (or run with `INSTA_UPDATE=always` and read the diff);
/// never accept them in bulk.
macro_rules! assert_run_snapshot {
    ($name:expr, $sandbox:expr, $run:expr) => {{
        let text = $run.snapshot($sandbox.path());
        insta::with_settings!({
            filters => $crate::support::SNAPSHOT_FILTERS.to_vec(),
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, text);
        });
    }};
}
pub(crate) use assert_run_snapshot;

/// Runs an external tool in `cwd`, failing the test when it fails; its stdout as bytes.
#[track_caller]
pub fn tool_bytes(program: &str, args: &[&str], cwd: &Path) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run the tool");
    assert!(
        output.status.success(),
        "`{program} {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
