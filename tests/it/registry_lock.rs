//! The lock file of a Dockerfile build (`Dockerfile.lock`): each registry tag pinned to the
//! manifest it resolved to, against a real registry whose tag moves and which then goes away.

use std::path::Path;

use crate::registry::push_busybox;
use crate::registry::server::Registry;
use crate::support::{Run, run_bld};

/// The manifest digest `bld build` printed in its summary line.
fn built_digest(run: &Run) -> String {
    run.stdout
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("a digest in the summary")
        .to_owned()
}

/// The `digest = "…"` of the lock file.
fn locked_digest(lock: &Path) -> String {
    let text = std::fs::read_to_string(lock).expect("the lock file");
    let value: toml::Table = toml::from_str(&text).expect("TOML");
    value["image"][0]["digest"]
        .as_str()
        .expect("a digest")
        .to_owned()
}

/// This machine's platform, as the lock names it.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
}

/// A registry holding the busybox base as `team/base:1`, a context whose Dockerfile builds
/// on it, and the digest the registry serves for the base.
fn set_up(scratch: &Path) -> Option<(Registry, std::path::PathBuf, String)> {
    let registry = Registry::start()?;
    let first = push_busybox(scratch, &registry, "team/base");
    let context = scratch.join("app");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {}:1\nCOPY . /ctx/\nRUN echo app > /app\n",
            registry.name("team/base")
        ),
    )
    .expect("Dockerfile");
    Some((registry, context, first))
}

#[test]
fn a_lock_pins_each_tag_until_pull_and_locked_refuses_a_stale_one() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let Some((registry, context, first)) = set_up(scratch) else {
        return;
    };
    let base = format!("{}:1", registry.name("team/base"));
    let ctx = context.display().to_string();
    let lock = context.join("Dockerfile.lock");
    let store = scratch.join("store");
    let bld = |store: &Path, args: &[&str]| run_bld(scratch, store, args);

    let built = bld(&store, &["build", &ctx]).ok();
    let image = built_digest(&built);
    assert!(
        built.stderr.contains(&format!(
            "Dockerfile.lock: {base} ({}) locked to {first}",
            platform()
        )),
        "{}",
        built.stderr
    );
    assert_eq!(locked_digest(&lock), first);
    // The lock beside the Dockerfile is not part of the context: the rebuild is all hits.
    let again = bld(&store, &["build", "--locked", "-t", "app:1", &ctx]).ok();
    assert!(again.stdout.contains(" 0 ran,"), "{}", again.stdout);
    let listed = bld(&store, &["run", "app:1", "ls", "/ctx"]).ok();
    assert_eq!(listed.stdout, "Dockerfile\n");

    // The tag moves: another image is pushed as base:1.
    std::fs::write(
        scratch.join("Dockerfile.other"),
        format!("FROM {base}\nRUN echo moved > /m\n"),
    )
    .expect("Dockerfile");
    let other = scratch.join("Dockerfile.other").display().to_string();
    let scratch_ctx = scratch.display().to_string();
    bld(&store, &["build", "-f", &other, "-t", &base, &scratch_ctx]).ok();
    bld(&store, &["push", "-q", &base]).ok();
    // A fresh store builds from the locked manifest, not what the tag names now: the same image.
    let fresh = scratch.join("fresh-store");
    let again = bld(&fresh, &["build", &ctx]).ok();
    assert_eq!(built_digest(&again), image, "{}", again.stderr);
    assert_eq!(locked_digest(&lock), first);
    // --pull sees the move; with --locked that is refused and the lock stays.
    let refused = bld(&fresh, &["build", "--pull", "--locked", &ctx]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("the lock file")
            && refused
                .stderr
                .contains(&format!("moved from {first} to sha256:"))
            && refused.stderr.contains("--locked forbids changing it"),
        "{}",
        refused.stderr
    );
    assert_eq!(locked_digest(&lock), first);
    let pulled = bld(&fresh, &["build", "--pull", &ctx]).ok();
    assert!(
        pulled.stderr.contains(&format!(
            "{base} ({}) moved from {first} to sha256:",
            platform()
        )),
        "{}",
        pulled.stderr
    );
    let moved = locked_digest(&lock);
    assert_ne!(moved, first);
    assert_ne!(built_digest(&pulled), image);
}

#[test]
fn without_the_registry_a_locked_build_goes_on_from_the_store_and_a_bad_lock_is_named() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let Some((mut registry, context, _)) = set_up(scratch) else {
        return;
    };
    let ctx = context.display().to_string();
    let lock = context.join("Dockerfile.lock");
    let store = scratch.join("store");
    let bld = |store: &Path, args: &[&str]| run_bld(scratch, store, args);
    let built = bld(&store, &["build", &ctx]).ok();
    // The registry gone, builds go on from the lock and the store, and stay null builds.
    registry.kill();
    let offline = bld(&store, &["build", "--locked", &ctx]).ok();
    assert_eq!(built_digest(&offline), built_digest(&built));
    assert!(offline.stdout.contains(" 0 ran,"), "{}", offline.stdout);
    let empty = bld(&scratch.join("empty-store"), &["build", &ctx]);
    assert_eq!(empty.code, 1, "a store without the base needs the registry");
    assert!(
        empty.stderr.contains("cannot reach the registry"),
        "{}",
        empty.stderr
    );
    // A lock that is not one is the lock's error, at its line.
    std::fs::write(&lock, "version = 1\n\n[[image]]\nname = \"x:1\"\n").expect("write");
    let bad = bld(&store, &["build", &ctx]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("Dockerfile.lock:3: `platform` must be OS/ARCH"),
        "{}",
        bad.stderr
    );
}
