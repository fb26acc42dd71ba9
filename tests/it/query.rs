//! `bld query` and `bld clean`.

use crate::support::Sandbox;

#[test]
fn query_lists_targets_and_their_dependencies() {
    let sandbox = Sandbox::with_examples();
    let all = sandbox.bld(&["query", "//examples/..."]).ok();
    for line in [
        "oci_image rule //examples/hello:image",
        "pkg_tar rule //examples/shared_base:api_files",
        "greeting rule //examples/hello:motd",
    ] {
        assert!(
            all.stdout.lines().any(|l| l == line),
            "missing `{line}` in:\n{}",
            all.stdout
        );
    }
    let deps = sandbox
        .bld(&["query", "deps(//examples/shared_base:api)"])
        .ok();
    let labels: Vec<&str> = deps.stdout.lines().collect();
    for label in [
        "//examples/shared_base:api",
        "//examples/shared_base:api_files",
        "//examples/shared_base:api/run.sh",
        "//examples/shared_base:base",
        "//examples/shared_base:etc/os-release",
    ] {
        assert!(labels.contains(&label), "missing {label} in {labels:?}");
    }
    assert!(!labels.contains(&"//examples/shared_base:worker"));
    let position = |l: &str| labels.iter().position(|x| *x == l).expect("listed");
    assert!(position("//examples/shared_base:base") < position("//examples/shared_base:api"));
}

#[test]
fn clean_removes_outputs_and_optionally_the_store() {
    let sandbox = Sandbox::with_examples();
    sandbox.bld(&["build", "//examples/hello:image"]).ok();
    assert!(
        sandbox
            .ws()
            .join("bld-out/examples/hello/image/index.json")
            .is_file()
    );
    sandbox.bld(&["clean"]).ok();
    assert!(!sandbox.ws().join("bld-out").exists());
    assert!(sandbox.store().exists());
    assert_eq!(
        sandbox
            .bld(&["build", "//examples/hello:image"])
            .ok()
            .counts()
            .0,
        0
    );
    sandbox.bld(&["clean", "--store"]).ok();
    assert!(!sandbox.store().exists());
    assert!(
        sandbox
            .bld(&["build", "//examples/hello:image"])
            .ok()
            .counts()
            .0
            > 0
    );
}

#[test]
fn a_reader_that_stops_early_ends_bld_quietly() {
    // More output than a pipe holds, so bld is still writing when `head -1` goes away.
    let targets: String = (0..5000)
        .map(|i| format!("filegroup(name = \"target_number_{i}\", srcs = [])\n"))
        .collect();
    let sandbox = Sandbox::with_files(&[("app/BUILD.star", &targets)]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["query", "//app/..."])
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start bld");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut first,
    )
    .expect("read");
    assert!(first.contains("//app:target_number_0"), "{first}");
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
