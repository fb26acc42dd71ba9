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
