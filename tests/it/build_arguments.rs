//! What `bld build ARG` takes its one argument for: a build context (a path, as
//! `docker build ARG` takes it) or a target pattern (relative ones as in Bazel), and what it
//! says when the path is no context.

use crate::errors::fails_with;
use crate::support::{Sandbox, run_bld};

const DOCKERFILE: &str = "FROM scratch\nCOPY a.txt /a.txt\n";
const TWO_TARGETS: &str =
    "pkg_tar(name = \"t\", srcs = [\"a.txt\"])\npkg_tar(name = \"u\", srcs = [\"a.txt\"])\n";

/// A workspace with `pkg` (a package), `both` (a package with a Dockerfile), `ctx` (a
/// Dockerfile only), `empty` (neither) and `file.txt`; and `outside/`, beside the workspace.
fn sandbox() -> Sandbox {
    let sandbox = Sandbox::with_files(&[
        ("pkg/BUILD.star", TWO_TARGETS),
        ("pkg/a.txt", "a\n"),
        ("both/BUILD.star", TWO_TARGETS),
        ("both/Dockerfile", DOCKERFILE),
        ("both/a.txt", "a\n"),
        ("ctx/Dockerfile", DOCKERFILE),
        ("ctx/a.txt", "a\n"),
        ("file.txt", "x\n"),
    ]);
    std::fs::create_dir_all(sandbox.ws().join("empty")).expect("mkdir");
    std::fs::create_dir_all(sandbox.path().join("outside")).expect("mkdir");
    sandbox
}

#[test]
fn a_context_that_is_missing_no_directory_or_without_dockerfile_says_so() {
    let sandbox = sandbox();
    let ws = sandbox.ws();
    let outside = sandbox.path().join("outside");
    let ws_text = ws.display().to_string();
    // (working directory, argument, message); docker: `unable to prepare context: path "…"
    // not found`, `context must be a directory: …`, `… Dockerfile: no such file or
    // directory`, all exit 1.
    let cases = [
        (&ws, "/nonexistent", "build context `/nonexistent` does not exist".to_owned()),
        (&ws, "empty", "no `Dockerfile` in build context `empty`".to_owned()),
        (&ws, "./empty", "no `Dockerfile` in build context `./empty`".to_owned()),
        (&ws, "file.txt", "build context `file.txt` is not a directory".to_owned()),
        (&ws, "./nosuch", "build context `./nosuch` does not exist".to_owned()),
        (
            &ws,
            "./pkg",
            "no `Dockerfile` in build context `./pkg` (to build its package's targets: `bld build //pkg:all`)"
                .to_owned(),
        ),
        (&outside, "/nonexistent", "build context `/nonexistent` does not exist".to_owned()),
        (&outside, "nosuch", "build context `nosuch` does not exist".to_owned()),
        (
            &outside,
            &format!("{ws_text}/empty"),
            format!("no `Dockerfile` in build context `{ws_text}/empty`"),
        ),
        (
            &outside,
            &format!("{ws_text}/file.txt"),
            format!("build context `{ws_text}/file.txt` is not a directory"),
        ),
        (&outside, ".", "no `Dockerfile` in build context `.`".to_owned()),
    ];
    for (cwd, argument, message) in cases {
        let run = run_bld(cwd, &sandbox.store(), &["build", argument]);
        fails_with(&run, &[]);
        assert_eq!(
            run.stderr,
            format!("error: {message}\n"),
            "bld build {argument}"
        );
    }
    // Inside a workspace a name that is nothing is still a pattern.
    fails_with(
        &sandbox.bld(&["build", "nosuch"]),
        &["no package `//nosuch`: expected a `BUILD.star`"],
    );
    // Outside one, a pattern's own syntax is not taken for a path.
    fails_with(
        &run_bld(&outside, &sandbox.store(), &["build", "a:b"]),
        &["no `WORKSPACE.star` in"],
    );
}

#[test]
fn a_path_to_a_directory_with_a_dockerfile_builds_it_even_beside_a_build_file() {
    let sandbox = sandbox();
    // `-q` prints the image ID alone, as `docker build -q` does.
    let digest = |run: crate::support::Run| {
        let id = run.stdout.strip_suffix('\n').map(str::to_owned);
        assert!(
            id.as_ref()
                .is_some_and(|id| id.starts_with("sha256:") && id.len() == 71),
            "{}",
            run.stdout
        );
        id
    };
    let from_ctx = digest(sandbox.bld_in("ctx", &["build", "-q", "."]).ok());
    // `docker build .` in a package: the Dockerfile, not `invalid label`.
    assert_eq!(
        digest(sandbox.bld_in("both", &["build", "-q", "."]).ok()),
        from_ctx
    );
    assert_eq!(
        digest(sandbox.bld(&["build", "-q", "./both"]).ok()),
        from_ctx
    );
    assert_eq!(
        digest(sandbox.bld(&["build", "-q", "both/"]).ok()),
        from_ctx
    );
    let outside = sandbox.path().join("outside");
    let path = sandbox.ws().join("both").display().to_string();
    assert_eq!(
        digest(run_bld(&outside, &sandbox.store(), &["build", "-q", &path]).ok()),
        from_ctx
    );
    // A package's name stays a pattern (`//both:both`), as before.
    fails_with(
        &sandbox.bld(&["build", "both"]),
        &["no target `//both:both`: package `//both` declares `t`, `u`"],
    );
}

#[test]
fn relative_all_and_targets_name_the_working_directorys_package() {
    let sandbox = sandbox();
    let all = sandbox.bld_in("pkg", &["build", "-q", ":all"]).ok();
    assert!(all.stdout.starts_with("Built 2 targets"), "{}", all.stdout);
    let star = sandbox.bld_in("pkg", &["build", "-q", ":*"]).ok();
    assert!(
        star.stdout.starts_with("Built 2 targets"),
        "{}",
        star.stdout
    );
    let one = sandbox.bld_in("pkg", &["build", "-q", ":t"]).ok();
    assert!(one.stdout.starts_with("Built 1 targets"), "{}", one.stdout);
    let absolute = sandbox.bld_in("both", &["build", "-q", "//pkg:all"]).ok();
    assert!(
        absolute.stdout.starts_with("Built 2 targets"),
        "{}",
        absolute.stdout
    );
    let sub = sandbox.bld(&["build", "-q", "pkg:all"]).ok();
    assert!(sub.stdout.starts_with("Built 2 targets"), "{}", sub.stdout);
}
