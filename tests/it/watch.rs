//! `bld watch` and `bld run --watch`: a real bld watching a workspace and a Dockerfile
//! context; each edit (a source, a new file a glob matches, a Dockerfile, a `.dockerignore`)
//! gives a rebuild and the new image; `run --watch` restarts the container when its image
//! changes.

use std::path::Path;

#[path = "../../benches/shared/watching.rs"]
mod watching;

use watching::{Watching, digest_after};

/// `bld ARGS…` in `cwd` with the store `store`, watched.
fn bld_watching(cwd: &Path, store: &Path, args: &[&str]) -> Watching {
    Watching::start(crate::support::bld_command(cwd, store, args))
}

#[test]
fn watch_rebuilds_a_workspace_target_on_a_source_a_new_glob_match_and_its_dockerfile() {
    let sandbox = crate::run_steps::workspace("FROM busybox\nCOPY . /ctx/\n");
    let mut watching = bld_watching(&sandbox.ws(), &sandbox.store(), &["watch", "//app:image"]);
    let image = digest_after("//app:image ");
    let first = watching.until(&image).0;
    watching.until_watching(1);

    sandbox.write("app/name.txt", "edited\n");
    let edited = watching.until(&image).0;
    assert_ne!(edited, first);
    watching.until_watching(2);

    // A new file the target's glob matches: the analysis listed the directory.
    sandbox.write("app/new.txt", "new\n");
    let globbed = watching.until(&image).0;
    assert_ne!(globbed, edited);
    watching.until_watching(3);

    // Many files at once (a checkout): one build.
    for i in 0..30 {
        sandbox.write(&format!("app/many-{i}.txt"), "one of many\n");
    }
    let many = watching.until(&image).0;
    assert_ne!(many, globbed);
    watching.until_watching(4);
    let built = |seen: &[String]| {
        seen.iter()
            .filter(|l| l.starts_with("//app:image "))
            .count()
    };
    assert_eq!(built(&watching.seen), 4, "{:?}", watching.seen);

    sandbox.write(
        "app/Dockerfile",
        "FROM busybox\nCOPY . /ctx/\nRUN echo more > /more\n",
    );
    let redone = watching.until(&image).0;
    assert_ne!(redone, many);
    assert!(
        watching
            .seen
            .iter()
            .any(|l| l.contains("ms from the change to the build's start")),
        "{:?}",
        watching.seen
    );
    drop(watching);
    let once = sandbox.bld(&["build", "//app:image"]).ok();
    assert!(once.stdout.contains(&redone), "{}", once.stdout);
}

#[test]
fn watch_rebuilds_a_dockerfile_build_when_its_dockerignore_changes() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let ctx = scratch.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY . /ctx/\n").expect("write");
    std::fs::write(ctx.join("a.txt"), "a\n").expect("write");
    std::fs::write(ctx.join("b.txt"), "b\n").expect("write");
    let store = scratch.path().join("store");
    let mut watching = bld_watching(scratch.path(), &store, &["watch", "-t", "w:1", "ctx"]);
    let built = digest_after("Built w:1 ");
    let first = watching.until(&built).0;
    watching.until_watching(1);
    std::fs::write(ctx.join(".dockerignore"), "b.txt\n").expect("write");
    let ignored = watching.until(&built).0;
    assert_ne!(ignored, first);
    watching.until_watching(2);
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n").expect("write");
    let second = watching.until(&built).0;
    assert_ne!(second, ignored);
}

#[test]
fn run_watch_restarts_the_container_when_its_image_changes() {
    let sandbox = crate::run_steps::workspace(
        "FROM busybox\nCOPY name.txt /name.txt\nCMD [\"sh\", \"-c\", \"echo hello $(cat /name.txt); exec sleep 100\"]\n",
    );
    let mut watching = bld_watching(
        &sandbox.ws(),
        &sandbox.store(),
        &["run", "--watch", "//app:image"],
    );
    let name = format!("bld-watch-{}", watching.child.id());
    watching.until(&|l| (l == "hello bld").then_some(()));
    watching.until_watching(1);
    sandbox.write("app/name.txt", "again\n");
    watching.until(&|l| l.contains("restarting its container").then_some(()));
    watching.until(&|l| (l == "hello again").then_some(()));
    drop(watching);
    let _ = sandbox.bld(&["rm", "-f", &name]);
}
