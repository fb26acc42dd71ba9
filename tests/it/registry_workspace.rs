//! `oci_pull` and `oci_push` in a workspace, against a real registry: a tag resolved once and
//! pinned in `bld.lock`, the image used as a `dockerfile` stage and an `oci_image` base, and
//! pushed by `bld run`.

use crate::registry::server::Registry;
use crate::registry::{push_busybox, served_digest};
use crate::support::Sandbox;

/// A workspace whose `app` package pulls `team/base:1` of `registry`, builds on it twice and
/// pushes the Dockerfile's image to `team/app`.
fn workspace(registry: &Registry, pull: &str) -> Sandbox {
    let port = registry.port;
    Sandbox::with_files(&[
        (
            "app/BUILD.star",
            &format!(
                "{pull}\n\
                 dockerfile(name = \"image\", src = \"Dockerfile\", stages = {{\"busybox\": \":base\"}})\n\
                 oci_image(name = \"plain\", base = \":base\", cmd = [\"echo\", \"plain\"])\n\
                 oci_push(name = \"push\", image = \":image\", repository = \"127.0.0.1:{port}/team/app\", remote_tags = [\"1\", \"latest\"])\n"
            ),
        ),
        ("app/Dockerfile", "FROM busybox\nRUN echo ws > /ws\n"),
    ])
}

#[test]
fn an_oci_pull_tag_is_pinned_in_bld_lock_and_oci_push_pushes_when_run() {
    let Some(mut registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let digest = push_busybox(scratch.path(), &registry, "team/base");
    let base = registry.name("team/base");
    let sandbox = workspace(
        &registry,
        &format!("oci_pull(name = \"base\", image = \"{base}\", tag = \"1\")"),
    );
    let built = sandbox.bld(&["build", "//app:image", "//app:plain"]).ok();
    assert!(
        built
            .stderr
            .contains(&format!("bld.lock: {base}:1 (linux/")),
        "{}",
        built.stderr
    );
    let lock = std::fs::read_to_string(sandbox.ws().join("bld.lock")).expect("bld.lock");
    assert!(lock.contains(&format!("digest = \"{digest}\"")), "{lock}");
    let ran = sandbox.bld(&["run", "//app:image", "cat", "/ws"]).ok();
    assert_eq!(ran.stdout, "ws\n");
    let plain = sandbox.bld(&["run", "//app:plain"]).ok();
    assert_eq!(plain.stdout, "plain\n");

    let pushed = sandbox.bld(&["run", "//app:push"]).ok();
    assert!(
        pushed.stdout.contains("1: digest: sha256:"),
        "{}",
        pushed.stdout
    );
    assert!(
        pushed.stdout.contains("latest: digest: sha256:"),
        "{}",
        pushed.stdout
    );
    let served = served_digest(&format!("{}:1", registry.name("team/app")));
    let image = sandbox.bld(&["build", "//app:image"]).ok();
    assert_eq!(served, image.digest_of("//app:image"));

    // The registry gone, the lock and the store build it all again, running nothing.
    registry.kill();
    let again = sandbox
        .bld(&["build", "--locked", "//app:image", "//app:plain"])
        .ok();
    assert_eq!(again.counts().0, 0, "{}", again.stdout);
}

#[test]
fn a_pinned_digest_needs_no_lock_and_a_bad_oci_pull_is_named_at_its_line() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let digest = push_busybox(scratch.path(), &registry, "team/base");
    let base = registry.name("team/base");
    let sandbox = workspace(
        &registry,
        &format!("oci_pull(name = \"base\", image = \"{base}\", digest = \"{digest}\")"),
    );
    sandbox.bld(&["build", "--locked", "//app:plain"]).ok();
    assert!(!sandbox.ws().join("bld.lock").exists());

    sandbox.write(
        "app/BUILD.star",
        &format!("oci_pull(name = \"base\", image = \"{base}\")\n"),
    );
    let neither = sandbox.bld(&["build", "//app:base"]);
    assert_eq!(neither.code, 1);
    assert!(
        neither.stderr.contains("app/BUILD.star:1")
            && neither.stderr.contains("needs a `digest` or a `tag`"),
        "{}",
        neither.stderr
    );
    sandbox.write(
        "app/BUILD.star",
        &format!("oci_pull(name = \"base\", image = \"{base}:1\", tag = \"1\")\n"),
    );
    let tagged = sandbox.bld(&["build", "//app:base"]);
    assert_eq!(tagged.code, 1);
    assert!(
        tagged.stderr.contains("give its tag and digest apart"),
        "{}",
        tagged.stderr
    );
    // A tag the registry lacks names the target and the image.
    sandbox.write(
        "app/BUILD.star",
        &format!("oci_pull(name = \"base\", image = \"{base}\", tag = \"9\")\n"),
    );
    let missing = sandbox.bld(&["build", "//app:base"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("//app:base") && missing.stderr.contains("team/base:9 not found"),
        "{}",
        missing.stderr
    );
}
