//! Caching and reproducibility: null builds, clean builds elsewhere, one-file changes, corrupt
//! blobs.

use std::time::{Duration, SystemTime};

use crate::support::{Sandbox, copy_tree, run_bld, skopeo_verifies, tool};

#[test]
fn a_second_build_runs_nothing_and_gives_the_same_digests() {
    let sandbox = Sandbox::with_examples();
    let first = sandbox.bld(&["build", "//examples/..."]).ok();
    let (ran, cached) = first.counts();
    assert_eq!((ran, cached), (28, 0), "{}", first.stdout);
    let second = sandbox.bld(&["build", "//examples/..."]).ok();
    assert_eq!(second.counts(), (0, 28), "{}", second.stdout);
    for label in ["//examples/hello:image", "//examples/shared_base:worker"] {
        assert_eq!(first.digest_of(label), second.digest_of(label));
    }
}

fn touch_all(dir: &std::path::Path, when: SystemTime) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_dir() {
            touch_all(&entry.path(), when);
        } else {
            std::fs::File::options()
                .write(true)
                .open(entry.path())
                .expect("open")
                .set_modified(when)
                .expect("mtime");
        }
    }
}

#[test]
fn a_copy_elsewhere_with_other_mtimes_and_a_fresh_store_gives_the_same_digests() {
    let sandbox = Sandbox::with_examples();
    let original = sandbox.bld(&["build", "//examples/..."]).ok();
    let elsewhere = sandbox.path().join("somewhere/else/entirely");
    copy_tree(&sandbox.ws(), &elsewhere);
    std::fs::remove_dir_all(elsewhere.join("bld-out")).expect("rm bld-out");
    touch_all(
        &elsewhere,
        SystemTime::now() - Duration::from_secs(86_400 * 400),
    );
    let copy = run_bld(
        &elsewhere,
        &sandbox.path().join("other-store"),
        &["build", "//examples/..."],
    )
    .ok();
    assert_eq!(copy.counts(), (28, 0));
    for label in [
        "//examples/hello:image",
        "//examples/shared_base:api",
        "//examples/shared_base:worker",
        "//examples/greeter:image",
    ] {
        assert_eq!(original.digest_of(label), copy.digest_of(label), "{label}");
    }
}

#[test]
fn changing_one_source_reruns_only_what_depends_on_it() {
    let sandbox = Sandbox::with_examples();
    let before = sandbox.bld(&["build", "//examples/..."]).ok();
    sandbox.write(
        "examples/shared_base/api/run.sh",
        "#!/bin/sh\necho changed\n",
    );
    let after = sandbox.bld(&["build", "//examples/..."]).ok();
    // api_files (the layer) and api (the image) re-run; the other 26 actions are hits.
    assert_eq!(after.counts(), (2, 26), "{}", after.stderr);
    assert_ne!(
        before.digest_of("//examples/shared_base:api"),
        after.digest_of("//examples/shared_base:api")
    );
    for label in [
        "//examples/shared_base:base",
        "//examples/shared_base:worker",
        "//examples/hello:image",
    ] {
        assert_eq!(before.digest_of(label), after.digest_of(label), "{label}");
    }
}

#[test]
fn an_unchanged_rewrite_of_a_source_is_a_cache_hit() {
    let sandbox = Sandbox::with_examples();
    sandbox.bld(&["build", "//examples/hello:image"]).ok();
    let text = std::fs::read_to_string(sandbox.ws().join("examples/hello/static/index.html"))
        .expect("read");
    sandbox.write("examples/hello/static/index.html", &text);
    assert_eq!(
        sandbox
            .bld(&["build", "//examples/hello:image"])
            .ok()
            .counts()
            .0,
        0
    );
}

#[test]
fn a_corrupt_blob_in_the_store_is_rebuilt_not_served() {
    let sandbox = Sandbox::with_examples();
    let first = sandbox.bld(&["build", "//examples/hello:image"]).ok();
    let layout = sandbox.ws().join("bld-out/examples/hello/image");
    let inspect: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", &format!("oci:{}", layout.display())],
    ))
    .expect("json");
    let layer = inspect["Layers"][0]
        .as_str()
        .expect("layer")
        .trim_start_matches("sha256:")
        .to_owned();
    let blob = sandbox.store().join("blobs/sha256").join(&layer);
    std::fs::remove_file(&blob).expect("rm");
    std::fs::write(&blob, b"not the layer").expect("corrupt");
    let second = sandbox.bld(&["build", "//examples/hello:image"]).ok();
    assert!(
        second.counts().0 >= 1,
        "the layer action must run again: {}",
        second.stdout
    );
    assert_eq!(
        first.digest_of("//examples/hello:image"),
        second.digest_of("//examples/hello:image")
    );
    skopeo_verifies(&layout);
}

#[test]
fn two_processes_sharing_a_store_build_the_same_images() {
    let sandbox = Sandbox::with_examples();
    let other = sandbox.path().join("second-checkout");
    copy_tree(&sandbox.ws(), &other);
    let store = sandbox.store();
    let spawn = |dir: std::path::PathBuf| {
        let store = store.clone();
        std::thread::spawn(move || run_bld(&dir, &store, &["build", "//examples/..."]))
    };
    let (a, b) = (spawn(sandbox.ws()), spawn(other));
    let (a, b) = (
        a.join().expect("thread").ok(),
        b.join().expect("thread").ok(),
    );
    for label in [
        "//examples/hello:image",
        "//examples/shared_base:api",
        "//examples/shared_base:worker",
        "//examples/greeter:image",
    ] {
        assert_eq!(a.digest_of(label), b.digest_of(label), "{label}");
    }
    assert_eq!(
        sandbox.bld(&["build", "//examples/..."]).ok().counts(),
        (0, 28)
    );
    let layout = sandbox.ws().join("bld-out/examples/shared_base/worker");
    skopeo_verifies(&layout);
}

#[test]
fn the_analysis_cache_notices_every_kind_of_workspace_change() {
    let sandbox = Sandbox::with_examples();
    let digest = |run: &crate::support::Run| run.digest_of("//examples/hello:image");
    let first = sandbox.bld(&["build", "//examples/..."]).ok();
    // Creating bld-out/ is not a change to the workspace.
    let again = sandbox.bld(&["build", "--timings", "//examples/..."]).ok();
    assert!(
        again.stderr.contains("analysis (cached)"),
        "{}",
        again.stderr
    );

    // A BUILD file edit.
    let build = sandbox.ws().join("examples/hello/BUILD.star");
    let text = std::fs::read_to_string(&build).expect("read");
    sandbox.write(
        "examples/hello/BUILD.star",
        &text.replace("\"/srv/hello\",\n)", "\"/srv/hi\",\n)"),
    );
    let edited = sandbox.bld(&["build", "//examples/..."]).ok();
    assert_ne!(
        digest(&first),
        digest(&edited),
        "BUILD.star edits must be seen"
    );

    // A new file a glob matches.
    sandbox.write("examples/hello/static/new.txt", "new\n");
    let globbed = sandbox.bld(&["build", "//examples/..."]).ok();
    assert_ne!(
        digest(&edited),
        digest(&globbed),
        "new files matched by glob() must be seen"
    );

    // An edit to a loaded .star file.
    let rule = sandbox.ws().join("examples/rules/greeting.star");
    let text = std::fs::read_to_string(&rule).expect("read");
    sandbox.write(
        "examples/rules/greeting.star",
        &text.replace("Hello, {}!", "Hi, {}!"),
    );
    let relabelled = sandbox.bld(&["build", "//examples/..."]).ok();
    assert_ne!(
        digest(&globbed),
        digest(&relabelled),
        ".star edits must be seen"
    );

    // A new package under a recursive pattern.
    sandbox.write(
        "examples/extra/BUILD.star",
        "filegroup(name = \"files\", srcs = [\"f.txt\"])\n",
    );
    sandbox.write("examples/extra/f.txt", "f\n");
    let grown = sandbox.bld(&["query", "//examples/..."]).ok();
    assert!(grown.stdout.contains("//examples/extra:files"));
    sandbox.bld(&["build", "//examples/..."]).ok();

    // A removed source is an error again, not a stale success.
    std::fs::remove_file(sandbox.ws().join("examples/extra/f.txt")).expect("rm");
    let broken = sandbox.bld(&["build", "//examples/..."]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert!(
        broken.stderr.contains("examples/extra/BUILD.star:1:1"),
        "{}",
        broken.stderr
    );

    // And nothing changed means nothing is re-analysed or rebuilt.
    sandbox.write("examples/extra/f.txt", "f\n");
    sandbox.bld(&["build", "//examples/..."]).ok();
    let timings = sandbox.bld(&["build", "--timings", "//examples/..."]).ok();
    assert!(
        timings.stderr.contains("analysis (cached)"),
        "{}",
        timings.stderr
    );
    assert_eq!(timings.counts().0, 0);
}
