//! Pushes and pulls past the plain case, against a real `docker-registry`: blobs mounted from
//! another repository, a push the registry's death cuts short, a multi-platform index.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry::server::Registry;
use crate::registry::{push_busybox, served_digest};
use crate::support::{run_bld, tool};

#[test]
fn a_push_mounts_what_another_repository_of_the_registry_holds() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let digest = push_busybox(scratch, &registry, "team/base");
    let store = scratch.join("store");
    let base = format!("{}:1", registry.name("team/base"));
    run_bld(scratch, &store, &["pull", "-q", &base]).ok();
    let app = format!("{}:1", registry.name("team/app"));
    run_bld(scratch, &store, &["tag", &base, &app]).ok();
    let pushed = run_bld(scratch, &store, &["push", &app]).ok();
    let layers: Vec<&str> = pushed
        .stdout
        .lines()
        .filter(|l| l.len() > 14 && l.as_bytes()[12] == b':')
        .collect();
    assert!(!layers.is_empty(), "{}", pushed.stdout);
    assert!(
        layers
            .iter()
            .all(|l| l.ends_with(": Mounted from team/base")),
        "{}",
        pushed.stdout
    );
    assert_eq!(served_digest(&app), digest);
}

/// Writes `size` bytes of noise (xorshift) to `path`: a layer gzip cannot shrink.
fn noise(path: &Path, size: usize, seed: u64) {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(size);
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("noise");
}

#[test]
fn a_push_the_registry_dies_during_leaves_no_manifest_and_a_second_push_completes() {
    let Some(mut registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let context = scratch.join("big");
    std::fs::create_dir_all(&context).expect("mkdir");
    let mut dockerfile = String::from("FROM scratch\n");
    for n in 0..4 {
        noise(&context.join(format!("part{n}")), 48 << 20, n + 1);
        dockerfile.push_str(&format!("COPY part{n} /part{n}\n"));
    }
    std::fs::write(context.join("Dockerfile"), dockerfile).expect("Dockerfile");
    let store = scratch.join("store");
    let name = format!("{}:1", registry.name("team/big"));
    let ctx = context.display().to_string();
    run_bld(scratch, &store, &["build", "-t", &name, &ctx]).ok();

    let push = Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["push", &name])
        .env("BLD_STORE", &store)
        .env("BLD_CONFIG", crate::support::TEST_CONFIG)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bld push");
    // Killed as soon as the first upload starts.
    let uploads = registry.storage().join("repositories/team/big/_uploads");
    let started = Instant::now();
    while !uploads.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no upload began"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    registry.kill();
    let output = push.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "127.0.0.1:{}: cannot reach the registry",
            registry.port
        )),
        "{stderr}"
    );
    let tags = registry
        .storage()
        .join("repositories/team/big/_manifests/tags");
    assert!(!tags.exists(), "no manifest was put");

    registry.restart();
    let second = run_bld(scratch, &store, &["push", &name]).ok();
    assert!(
        second.stdout.contains("1: digest: sha256:"),
        "{}",
        second.stdout
    );
    // Every blob is there: a fresh store pulls the image whole.
    let fresh = scratch.join("fresh");
    run_bld(scratch, &fresh, &["pull", "-q", &name]).ok();
    let saved = scratch.join("saved.tar").display().to_string();
    run_bld(scratch, &fresh, &["save", "-o", &saved, &name]).ok();
}

/// Pushes an index of two images to `team/multi:1` with buildah: the busybox base as
/// linux/amd64 and another as linux/arm64/v8; returns the config digest of the entry for an
/// architecture.
fn push_index(scratch: &Path, registry: &Registry) -> impl Fn(&str) -> String {
    push_busybox(scratch, registry, "team/base");
    let store = scratch.join("builder-store");
    // A second image, to stand for another platform's.
    let context = scratch.join("other");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nCOPY Dockerfile /arm\n",
    )
    .expect("write");
    let ctx = context.display().to_string();
    run_bld(scratch, &store, &["build", "-t", "other", &ctx]).ok();
    let archives: Vec<String> = ["busybox", "other"]
        .iter()
        .map(|image| {
            let path = scratch
                .join(format!("{image}.oci.tar"))
                .display()
                .to_string();
            run_bld(
                scratch,
                &store,
                &["save", "--format", "oci", "-o", &path, image],
            )
            .ok();
            format!("oci-archive:{path}")
        })
        .collect();
    let list = format!("bld-test-list-{}", std::process::id());
    let index = format!("docker://{}:1", registry.name("team/multi"));
    tool("buildah", &["manifest", "create", &list]);
    let add = |arch: &[&str], archive: &str| {
        let mut args = vec!["manifest", "add", "--os", "linux"];
        args.extend(arch);
        args.extend([list.as_str(), archive]);
        tool("buildah", &args);
    };
    add(&["--arch", "amd64"], &archives[0]);
    add(&["--arch", "arm64", "--variant", "v8"], &archives[1]);
    tool(
        "buildah",
        &[
            "manifest",
            "push",
            "--all",
            "--tls-verify=false",
            &list,
            &index,
        ],
    );
    tool("buildah", &["manifest", "rm", &list]);
    let raw = tool(
        "skopeo",
        &["inspect", "--raw", "--tls-verify=false", &index],
    );
    let served: serde_json::Value = serde_json::from_str(&raw).expect("an index");
    let repository = registry.name("team/multi");
    move |architecture: &str| {
        let entry = served["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|m| m["platform"]["architecture"] == architecture)
            .expect("an entry")
            .clone();
        let by_digest = format!(
            "docker://{repository}@{}",
            entry["digest"].as_str().expect("digest")
        );
        let manifest = tool(
            "skopeo",
            &["inspect", "--raw", "--tls-verify=false", &by_digest],
        );
        let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("a manifest");
        manifest["config"]["digest"]
            .as_str()
            .expect("config")
            .to_owned()
    }
}

#[test]
fn an_index_is_resolved_to_the_host_platform_or_the_one_asked_for() {
    let Some(registry) = Registry::start() else {
        return;
    };
    if Command::new("buildah").arg("--version").output().is_err() {
        println!("skipped: buildah is not installed");
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let config_of = push_index(scratch, &registry);
    let name = format!("{}:1", registry.name("team/multi"));
    let id = |store: &Path| {
        let out = run_bld(scratch, store, &["inspect", "--format", "{{.Id}}", &name]).ok();
        out.stdout.trim().to_owned()
    };
    let host = scratch.join("host");
    run_bld(scratch, &host, &["pull", "-q", &name]).ok();
    let native = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    assert_eq!(id(&host), config_of(native));
    let arm = scratch.join("arm");
    run_bld(
        scratch,
        &arm,
        &["pull", "-q", "--platform", "linux/arm64/v8", &name],
    )
    .ok();
    assert_eq!(id(&arm), config_of("arm64"));
    let none = run_bld(scratch, &arm, &["pull", "--platform", "linux/s390x", &name]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.contains("no matching manifest for linux/s390x"),
        "{}",
        none.stderr
    );
    let bad = run_bld(scratch, &arm, &["pull", "--platform", "s390x", &name]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("expected OS/ARCH[/VARIANT]"),
        "{}",
        bad.stderr
    );
}

/// Builds an image on the registry's busybox base and pushes it as `team/app:1` and `:2`
/// with `bld build --push`; returns the repository's full name.
fn two_tags(scratch: &Path, registry: &Registry) -> String {
    push_busybox(scratch, registry, "team/base");
    let store = scratch.join("store");
    let context = scratch.join("app");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}:1\nCOPY Dockerfile /\n", registry.name("team/base")),
    )
    .expect("Dockerfile");
    let app = registry.name("team/app");
    let (one, two) = (format!("{app}:1"), format!("{app}:2"));
    let ctx = context.display().to_string();
    let no_tag = run_bld(scratch, &store, &["build", "--push", &ctx]);
    assert_eq!(no_tag.code, 1);
    assert!(
        no_tag.stderr.contains("tag is needed when pushing"),
        "{}",
        no_tag.stderr
    );
    let built = run_bld(
        scratch,
        &store,
        &["build", "--push", "-t", &one, "-t", &two, &ctx],
    )
    .ok();
    assert!(
        built.stdout.contains("1: digest: sha256:"),
        "{}",
        built.stdout
    );
    assert!(
        built.stdout.contains("2: digest: sha256:"),
        "{}",
        built.stdout
    );
    app
}

#[test]
fn build_push_pushes_each_tag_and_search_lists_the_registrys_repositories() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let app = two_tags(scratch, &registry);
    let store = scratch.join("store");
    let found = run_bld(
        scratch,
        &store,
        &["search", &format!("127.0.0.1:{}/team", registry.port)],
    )
    .ok();
    let lines: Vec<&str> = found.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DESCRIPTION"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&app) && l.contains("tags: 1, 2")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&registry.name("team/base"))),
        "{lines:?}"
    );
    let names = run_bld(
        scratch,
        &store,
        &[
            "search",
            "--format",
            "{{.Name}}",
            &format!("127.0.0.1:{}/app", registry.port),
        ],
    )
    .ok();
    assert_eq!(names.stdout, format!("{app}\n"));
    let hub = run_bld(scratch, &store, &["search", "busybox"]);
    assert_eq!(hub.code, 1);
    assert!(
        hub.stderr.contains("docker.io: this registry is blocked"),
        "{}",
        hub.stderr
    );
}

#[test]
fn pull_a_and_push_a_take_every_tag_of_a_repository() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let app = two_tags(scratch, &registry);
    let one = format!("{app}:1");
    let fresh = scratch.join("fresh");
    let all = run_bld(scratch, &fresh, &["pull", "-a", &app]).ok();
    assert!(
        all.stdout.contains("1: Pulling from team/app"),
        "{}",
        all.stdout
    );
    assert!(
        all.stdout.contains("2: Pulling from team/app"),
        "{}",
        all.stdout
    );
    assert_eq!(all.stdout.lines().last(), Some(app.as_str()));
    let listed = run_bld(scratch, &fresh, &["images", "--format", "{{.Tag}}"]).ok();
    assert_eq!(listed.stdout, "1\n2\n");
    let again = run_bld(scratch, &fresh, &["push", "-a", &app]).ok();
    assert_eq!(
        again.stdout.matches(": digest: sha256:").count(),
        2,
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains(": Pushed"), "{}", again.stdout);
    let tagged = run_bld(scratch, &fresh, &["pull", "-a", &one]);
    assert_eq!(tagged.code, 1);
    assert!(
        tagged
            .stderr
            .contains("tag can't be used with --all-tags/-a")
    );
}
