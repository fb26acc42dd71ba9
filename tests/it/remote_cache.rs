//! `--cache-to` / `--cache-from`: a cache exported by one store (one machine) and used by
//! another that starts empty, through a directory and through a real `docker-registry`; what
//! `mode=min` and `mode=max` export; a poisoned or unreachable cache never fails a build.

use std::path::Path;

use crate::registry::server::Registry;
use crate::support::{Run, run_bld};

/// A multi-stage Dockerfile on busybox-static: a `tools` stage whose RUN step makes a file the
/// final stage copies, and a final stage with a RUN step and a COPY of `app.txt`.
pub(crate) fn context(scratch: &Path) -> std::path::PathBuf {
    let dir = scratch.join("ctx");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("/bin/busybox (busybox-static)");
    std::fs::write(dir.join("app.txt"), "v1\n").expect("write");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch AS base\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         FROM base AS tools\nRUN echo tool > /tool && echo unused > /unused\n\
         FROM base\nCOPY --from=tools /tool /tool\nRUN echo final > /final\nCOPY app.txt /app.txt\n",
    )
    .expect("write");
    dir
}

/// `bld build -t app:1 ARGS… ctx` with the store `store` (a machine of its own).
fn build(scratch: &Path, store: &str, args: &[&str]) -> Run {
    let mut all = vec!["build", "-t", "app:1"];
    all.extend(args);
    let ctx = scratch.join("ctx").display().to_string();
    all.push(&ctx);
    run_bld(scratch, &scratch.join(store), &all)
}

/// `(manifest digest, actions, ran, remote hits)` from a build's summary line (`N actions: R
/// ran, L local hits, C remote hits`; two actions of one key are one run or hit and one local
/// hit).
pub(crate) fn summary(run: &Run) -> (String, usize, usize, usize) {
    let line = run.stdout.lines().last().unwrap_or_default();
    let words: Vec<&str> = line.split_whitespace().collect();
    let before = |what: &str| {
        words
            .windows(2)
            .find(|pair| pair[1].trim_end_matches([',', ':']) == what)
            .and_then(|pair| pair[0].parse().ok())
            .unwrap_or(0)
    };
    let digest = words
        .iter()
        .find(|w| w.starts_with("sha256:"))
        .map(|w| (*w).to_owned())
        .unwrap_or_default();
    let remote = words
        .windows(3)
        .find(|w| w[1] == "remote" && w[2].starts_with("hits"))
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0);
    (digest, before("actions"), before("ran"), remote)
}

/// The outputs of the entries the cache layout at `dir` holds.
fn entries(dir: &Path) -> Vec<serde_json::Value> {
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON")
    };
    let blob = |digest: &str| {
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = read(&dir.join("index.json"));
    let manifest = read(&blob(
        index["manifests"][0]["digest"].as_str().expect("digest"),
    ));
    let config = read(&blob(
        manifest["config"]["digest"].as_str().expect("config"),
    ));
    config["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["output"].clone())
        .collect()
}

/// The digests of the blobs the cache layout at `dir` carries (its manifest's layers).
fn blobs(dir: &Path) -> std::collections::HashSet<String> {
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON")
    };
    let index = read(&dir.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().expect("digest");
    let manifest = read(
        &dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    );
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// Asserts that `run` built the image `digest` of `total` actions with none run: every one a
/// remote hit, or a local hit of a key a remote hit brought.
fn assert_all_from_the_cache(run: &Run, digest: &str, total: usize) {
    let (same, actions, ran, hits) = summary(run);
    assert_eq!(
        (same.as_str(), actions, ran),
        (digest, total, 0),
        "{}",
        run.stdout
    );
    assert!(hits >= total - 1, "{}", run.stdout);
}

/// Removes every blob of the cache layout at `dir` but its manifest and config.
fn keep_only_records(dir: &Path) {
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON")
    };
    let blobs = dir.join("blobs/sha256");
    let index = read(&dir.join("index.json"));
    let manifest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let config = read(&blobs.join(manifest.trim_start_matches("sha256:")))["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    for blob in std::fs::read_dir(&blobs).expect("blobs") {
        let path = blob.expect("entry").path();
        let name = format!(
            "sha256:{}",
            path.file_name().expect("name").to_string_lossy()
        );
        if name != manifest && name != config {
            std::fs::remove_file(path).expect("remove");
        }
    }
}

/// After store `b` was built from the `mode=max` cache at `max` (whose entries are `in_max`,
/// `tools_layer` the `tools` stage's RUN layer among them), to the image `digest` of `total`
/// actions.
fn assert_fetched_lazily_and_relayed(
    scratch: &Path,
    max: &str,
    (in_max, tools_layer): (&[serde_json::Value], &str),
    digest: &str,
    total: usize,
) {
    // Blobs come only where the image or a step that runs needs them: the `tools` stage's RUN
    // layer stays in the cache (its file is a hit), and the image is whole.
    let blob = |store: &str, digest: &str| {
        scratch
            .join(store)
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    assert!(blob("a", tools_layer).is_file());
    assert!(!blob("b", tools_layer).exists(), "{tools_layer}");
    let ran = run_bld(
        scratch,
        &scratch.join("b"),
        &["run", "--rm", "app:1", "cat", "/tool", "/final"],
    )
    .ok();
    assert_eq!(ran.stdout, "tool\nfinal\n");
    // A CI runner's `--cache-from` and `--cache-to mode=max` at once: the cache it exports
    // holds every entry it was given, those whose blobs the build did not need included.
    let again = scratch.join("cache-again").display().to_string();
    let relay = build(
        scratch,
        "b2",
        &[
            "--cache-from",
            &format!("type=local,src={max}"),
            "--cache-to",
            &format!("type=local,dest={again},mode=max"),
        ],
    )
    .ok();
    assert_all_from_the_cache(&relay, digest, total);
    assert_eq!(entries(Path::new(&again)), in_max);
}

#[test]
fn a_fresh_store_builds_from_a_directory_cache_with_no_action_run() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch);
    let max = scratch.join("cache-max").display().to_string();
    let min = scratch.join("cache-min").display().to_string();
    let first = build(
        scratch,
        "a",
        &["--cache-to", &format!("type=local,dest={max},mode=max")],
    )
    .ok();
    let (digest, total, ran, _) = summary(&first);
    assert!(ran > 0 && digest.starts_with("sha256:"), "{}", first.stdout);
    build(
        scratch,
        "a",
        &["--cache-to", &format!("type=local,dest={min}")],
    )
    .ok();
    // Both hold every action's record. min: the blobs the image is made of; max: the files
    // COPY lands and the `tools` stage's RUN layer, which the image does not hold, too.
    let (in_max, in_min) = (entries(Path::new(&max)), entries(Path::new(&min)));
    assert_eq!(in_min, in_max);
    let (max_blobs, min_blobs) = (blobs(Path::new(&max)), blobs(Path::new(&min)));
    assert!(min_blobs.is_subset(&max_blobs));
    let digest_of = |o: &serde_json::Value| o["digest"].as_str().unwrap_or_default().to_owned();
    let tools_layer: Vec<String> = in_max
        .iter()
        .filter(|o| o["kind"] == "layer")
        .map(digest_of)
        .filter(|d| !min_blobs.contains(d))
        .collect();
    assert_eq!(
        tools_layer.len(),
        1,
        "the tools stage's RUN layer: {in_max:?}"
    );
    let files: Vec<String> = in_max
        .iter()
        .filter(|o| o["kind"] == "file")
        .map(digest_of)
        .collect();
    assert!(!files.is_empty(), "{in_max:?}");
    assert!(
        files
            .iter()
            .all(|f| max_blobs.contains(f) && !min_blobs.contains(f))
    );

    let second = build(
        scratch,
        "b",
        &["--cache-from", &format!("type=local,src={max}")],
    )
    .ok();
    assert_all_from_the_cache(&second, &digest, total);
    assert_fetched_lazily_and_relayed(scratch, &max, (&in_max, &tools_layer[0]), &digest, total);
    // One source changed: only what depends on it runs.
    std::fs::write(scratch.join("ctx/app.txt"), "v2\n").expect("write");
    let third = build(
        scratch,
        "c",
        &["--cache-from", &format!("type=local,src={max}")],
    )
    .ok();
    let (changed, _, ran_again, _) = summary(&third);
    assert_ne!(changed, digest);
    assert_eq!(ran_again, 2, "the COPY and the image: {}", third.stdout);

    // A cache whose blobs are gone but its records: what a step that runs needs is made here
    // (files a hit left on the remote too), and the image is the same.
    std::fs::write(scratch.join("ctx/app.txt"), "v1\n").expect("write");
    keep_only_records(Path::new(&max));
    let bare = build(
        scratch,
        "e",
        &["--cache-from", &format!("type=local,src={max}")],
    )
    .ok();
    let (remade, _, ran_here, _) = summary(&bare);
    assert_eq!(remade, digest, "{}", bare.stdout);
    assert!(ran_here > 0, "{}", bare.stdout);
}

#[test]
fn a_registry_cache_serves_a_fresh_store_and_poisoned_blobs_are_rebuilt() {
    let Some(mut registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch);
    let reference = format!("{}:buildcache", registry.name("team/cache"));
    let to = format!("type=registry,ref={reference},mode=max");
    let from = format!("type=registry,ref={reference}");
    let first = build(scratch, "a", &["--cache-to", &to]).ok();
    let (digest, total, _, _) = summary(&first);
    let second = build(scratch, "b", &["--cache-from", &from]).ok();
    assert_all_from_the_cache(&second, &digest, total);
    // A push to the cache's registry mounts the layers from the cache's repository.
    let app = format!("{}:1", registry.name("team/app"));
    run_bld(scratch, &scratch.join("b"), &["tag", "app:1", &app]).ok();
    let pushed = run_bld(scratch, &scratch.join("b"), &["push", &app]).ok();
    assert!(
        pushed.stdout.contains("Mounted from team/cache"),
        "{}",
        pushed.stdout
    );
    assert!(!pushed.stdout.contains("Pushed"), "{}", pushed.stdout);

    // Every blob's bytes changed on the registry's disk: each is detected, none is kept,
    // and the build runs here instead, to the same image.
    for file in registry.blob_files() {
        let mut bytes = std::fs::read(&file).expect("blob");
        if bytes.len() > 100 && bytes.first() != Some(&b'{') {
            bytes[60] ^= 0xff;
            std::fs::write(&file, bytes).expect("tamper");
        }
    }
    let poisoned = build(scratch, "c", &["--cache-from", &from]).ok();
    let (again, _, ran_here, _) = summary(&poisoned);
    assert_eq!(again, digest, "{}", poisoned.stdout);
    assert!(ran_here > 0, "{}", poisoned.stdout);
    assert!(
        poisoned.stderr.contains("warning: remote cache"),
        "{}",
        poisoned.stderr
    );
    assert_blobs_are_what_their_names_say(&scratch.join("c"));

    // The registry down: a warning, and the build.
    registry.kill();
    let down = build(scratch, "d", &["--cache-from", &from, "--cache-to", &to]).ok();
    assert_eq!(summary(&down).0, digest);
    assert!(down.stderr.contains("--cache-from"), "{}", down.stderr);
    assert!(
        down.stderr.contains("the cache was not exported"),
        "{}",
        down.stderr
    );
}

/// Asserts that each blob of the store at `store` has the sha256 its name says.
pub(crate) fn assert_blobs_are_what_their_names_say(store: &Path) {
    let dir = store.join("blobs/sha256");
    for blob in std::fs::read_dir(&dir).expect("blobs") {
        let path = blob.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let sum = crate::support::tool("sha256sum", &[&path.display().to_string()]);
        assert_eq!(
            sum.split_whitespace().next(),
            Some(name.as_str()),
            "{}",
            path.display()
        );
    }
}

/// `--cache-to type=inline`: the cache rides in the pushed image's config, and a fresh store
/// given that image as `--cache-from` runs none of the RUN steps whose layers the image holds.
#[test]
fn an_inline_cache_travels_in_the_pushed_image() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch);
    let image = format!("{}:1", registry.name("team/app"));
    let ctx = scratch.join("ctx").display().to_string();
    let inline = |store: &str, from: &[&str]| {
        let mut args = vec!["build", "-t", &image, "--push", "--cache-to", "type=inline"];
        args.extend(from);
        args.push(&ctx);
        run_bld(scratch, &scratch.join(store), &args).ok()
    };
    let (pushed, _, _, _) = summary(&inline("a", &[]));
    let (plain, total, _, _) = summary(&build(scratch, "a", &[]).ok());
    assert_ne!(pushed, plain, "the cache is in the image's config");

    let from = format!("type=registry,ref={image}");
    let warm = build(scratch, "b", &["--cache-from", &from]).ok();
    let (digest, actions, _, hits) = summary(&warm);
    assert!(hits > 0, "{}", warm.stdout);
    assert_eq!((digest.as_str(), actions), (plain.as_str(), total));
    let log = format!("{}{}", warm.stdout, warm.stderr);
    let ran: Vec<&str> = log
        .lines()
        .filter(|l| l.trim_start().starts_with("built "))
        .collect();
    // Every step from the records the image carries (the `tools` stage's too); what runs is
    // the image itself, whose entry it cannot hold, and the stage image it is based on, whose
    // blobs it does not hold: no failure, so no warning.
    assert!(
        ran.iter()
            .all(|l| l.contains("built image  ") || l.contains("stages/")),
        "{log}"
    );
    assert!(!warm.stderr.contains("warning"), "{}", warm.stderr);
    assert!(hits + ran.len() + 1 >= actions, "{log}");
    // The same inline image again, from the cache it carries.
    let (again, _, _, _) = summary(&inline("c", &["--cache-from", &from]));
    assert_eq!(again, pushed);

    let refused = build(scratch, "d", &["--cache-to", "type=inline,mode=max"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("mode=min only"),
        "{}",
        refused.stderr
    );
}
