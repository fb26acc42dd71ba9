//! `bld build -f -` (the Dockerfile from stdin, the context as given) and `bld build -` (a tar
//! of the context on stdin, or a Dockerfile alone and no context), as `docker build` reads them.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{Run, Sandbox};

const DOCKERFILE: &str = "FROM scratch\nCOPY a.txt /a.txt\nLABEL from=stdin\n";

fn sandbox() -> Sandbox {
    Sandbox::with_files(&[("ctx/Dockerfile", DOCKERFILE), ("ctx/a.txt", "a\n")])
}

/// Runs `bld args` at the workspace root with `input` on stdin.
fn bld_with_stdin(sandbox: &Sandbox, args: &[&str], input: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(args)
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bld");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    let output = child.wait_with_output().expect("wait");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn digest(run: &Run) -> String {
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .split_whitespace()
        .nth(2)
        .expect("digest")
        .to_owned()
}

#[test]
fn the_dockerfile_or_the_context_come_from_stdin() {
    let sandbox = sandbox();
    let from_dir = digest(&sandbox.bld(&["build", "ctx"]));
    let dockerfile_on_stdin = bld_with_stdin(
        &sandbox,
        &["build", "-f", "-", "ctx"],
        DOCKERFILE.as_bytes(),
    );
    assert_eq!(digest(&dockerfile_on_stdin), from_dir);

    for flags in ["-c", "-cz"] {
        let tar = crate::support::tool_bytes("tar", &["-C", "ws/ctx", flags, "."], sandbox.path());
        let context_on_stdin = bld_with_stdin(&sandbox, &["build", "-"], &tar);
        assert_eq!(digest(&context_on_stdin), from_dir, "tar {flags}");
    }
    let tar = crate::support::tool_bytes("tar", &["-C", "ws/ctx", "-c", "a.txt"], sandbox.path());
    let named = bld_with_stdin(&sandbox, &["build", "-f", "nope", "-"], &tar);
    assert_eq!(named.code, 1);
    assert!(
        named
            .stderr
            .starts_with("error: cannot read the Dockerfile `nope` in the context from stdin: "),
        "{}",
        named.stderr
    );

    // A Dockerfile alone: no context, as `docker build - < Dockerfile`.
    let alone = bld_with_stdin(&sandbox, &["build", "-"], b"FROM scratch\nLABEL a=b\n");
    digest(&alone);
    let copies = bld_with_stdin(&sandbox, &["build", "-"], DOCKERFILE.as_bytes());
    assert_eq!(copies.code, 1);
    assert!(
        copies.stderr.contains("COPY: source `a.txt` not found"),
        "{}",
        copies.stderr
    );
    // Nothing of the stdin contexts is left in the store.
    let tmp = std::fs::read_dir(sandbox.store().join("tmp")).map_or(0, |d| d.count());
    assert_eq!(tmp, 0);
}

#[test]
fn stdin_read_twice_or_not_text_is_refused() {
    let sandbox = sandbox();
    let twice = bld_with_stdin(&sandbox, &["build", "-f", "-", "-"], DOCKERFILE.as_bytes());
    assert_eq!(twice.code, 1);
    assert_eq!(
        twice.stderr,
        "error: `-f -` and the context `-` both read stdin: give the context as a directory\n"
    );
    let junk = bld_with_stdin(&sandbox, &["build", "-"], &[0xff, 0xfe, 0, 1]);
    assert_eq!(junk.code, 1);
    assert_eq!(
        junk.stderr,
        "error: stdin is neither a tar archive nor a Dockerfile (not UTF-8 text)\n"
    );
}
