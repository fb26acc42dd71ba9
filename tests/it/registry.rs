//! `bld pull` against a real registry: Debian's `docker-registry` (distribution 2.8) started on
//! a free loopback port, filled with `skopeo copy`, stopped by its PID.

use std::path::Path;
use std::process::{Command, Stdio};

#[path = "../../benches/shared/registry.rs"]
pub(crate) mod server;
use server::Registry;

use crate::peers::bld_busybox_base;
use crate::support::{run_bld, run_bld_with_env, tool};

/// Builds the busybox base with bld in `scratch` and copies it into the registry as
/// `repository:1` with skopeo; returns the digest skopeo reports for it there.
pub(crate) fn push_busybox(scratch: &Path, registry: &Registry, repository: &str) -> String {
    push_busybox_as(scratch, registry, repository, None)
}

/// The digest the registry serves for `name` (`HOST:PORT/REPOSITORY:TAG`), as skopeo sees it.
pub(crate) fn served_digest(name: &str) -> String {
    let reference = format!("docker://{name}");
    let args = [
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &reference,
    ];
    tool("skopeo", &args).trim().to_owned()
}

/// [`push_busybox`], logged in as `creds` (`user:password`) when given.
pub(crate) fn push_busybox_as(
    scratch: &Path,
    registry: &Registry,
    repository: &str,
    creds: Option<&str>,
) -> String {
    let store = scratch.join("builder-store");
    bld_busybox_base(scratch, &store);
    let archive = scratch.join("busybox.tar");
    let archive_arg = archive.display().to_string();
    run_bld(
        scratch,
        &store,
        &["save", "--format", "oci", "-o", &archive_arg, "busybox"],
    )
    .ok();
    let dest = format!("docker://{}:1", registry.name(repository));
    let source = format!("oci-archive:{archive_arg}");
    let mut copy = vec!["copy", "--dest-tls-verify=false"];
    let mut inspect = vec!["inspect", "--tls-verify=false", "--format", "{{.Digest}}"];
    if let Some(creds) = creds {
        copy.extend(["--dest-creds", creds]);
        inspect.extend(["--creds", creds]);
    }
    copy.extend([source.as_str(), dest.as_str()]);
    inspect.push(&dest);
    tool("skopeo", &copy);
    tool("skopeo", &inspect).trim().to_owned()
}

#[test]
fn pulled_images_run_keep_the_registrys_digest_and_repeat_without_downloading() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let digest = push_busybox(scratch.path(), &registry, "team/busybox");
    let name = format!("{}:1", registry.name("team/busybox"));
    let store = scratch.path().join("store");
    let first = run_bld(scratch.path(), &store, &["pull", &name]).ok();
    let lines: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(lines[0], "1: Pulling from team/busybox");
    assert!(
        lines[1..lines.len() - 3]
            .iter()
            .all(|l| l.ends_with(": Pull complete")),
        "{lines:?}"
    );
    assert_eq!(
        lines[lines.len() - 3..],
        [
            format!("Digest: {digest}"),
            format!("Status: Downloaded newer image for {name}"),
            name.clone(),
        ]
    );
    // The image is in the store under its name, runs, and keeps its manifest digest.
    let listed = run_bld(
        scratch.path(),
        &store,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
    )
    .ok();
    assert_eq!(listed.stdout.trim(), name);
    let ran = run_bld(scratch.path(), &store, &["run", &name, "echo", "pulled"]).ok();
    assert_eq!(ran.stdout, "pulled\n");
    let saved = scratch.path().join("again.tar").display().to_string();
    run_bld(
        scratch.path(),
        &store,
        &["save", "--format", "oci", "-o", &saved, &name],
    )
    .ok();
    let layout_digest = tool(
        "skopeo",
        &[
            "inspect",
            "--format",
            "{{.Digest}}",
            &format!("oci-archive:{saved}"),
        ],
    );
    assert_eq!(layout_digest.trim(), digest);
    // A second pull downloads nothing.
    let second = run_bld(scratch.path(), &store, &["pull", &name]).ok();
    assert!(
        second.stdout.contains(": Already exists"),
        "{}",
        second.stdout
    );
    assert!(
        !second.stdout.contains(": Pull complete"),
        "{}",
        second.stdout
    );
    assert!(
        second
            .stdout
            .contains(&format!("Status: Image is up to date for {name}"))
    );
    // By digest, as Docker names it.
    let by_digest = format!("{}@{digest}", registry.name("team/busybox"));
    run_bld(scratch.path(), &store, &["pull", "-q", &by_digest]).ok();
}

#[test]
fn a_pull_records_what_the_registry_served_and_rmi_forgets_it_with_the_last_tag() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let digest = push_busybox(scratch.path(), &registry, "team/busybox");
    let name = format!("{}:1", registry.name("team/busybox"));
    let by_digest = format!("{}@{digest}", registry.name("team/busybox"));
    let store = scratch.path().join("store");
    run_bld(scratch.path(), &store, &["pull", "-q", &name]).ok();
    // What the registry served is the image's RepoDigests, and names it.
    let repo_digests = run_bld(
        scratch.path(),
        &store,
        &["inspect", "--format", "{{json .RepoDigests}}", &name],
    )
    .ok();
    assert_eq!(repo_digests.stdout.trim(), format!("[\"{by_digest}\"]"));
    run_bld(scratch.path(), &store, &["run", "--rm", &by_digest, "true"]).ok();
    // Removing its last tag removes the record too, as Docker does.
    let removed = run_bld(scratch.path(), &store, &["rmi", &name]).ok();
    let lines: Vec<&str> = removed.stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!("Untagged: {name}"),
            format!("Untagged: {by_digest}")
        ]
    );
    let listed = run_bld(scratch.path(), &store, &["images", "-q"]).ok();
    assert_eq!(listed.stdout, "");
}

#[test]
fn a_tampered_blob_missing_image_or_remote_registry_is_refused_and_the_store_unchanged() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    push_busybox(scratch.path(), &registry, "team/busybox");
    let store = scratch.path().join("store");
    let missing = run_bld(
        scratch.path(),
        &store,
        &["pull", &format!("{}:2", registry.name("team/busybox"))],
    );
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains(&format!(
            "127.0.0.1:{}: team/busybox:2 not found",
            registry.port
        )),
        "{}",
        missing.stderr
    );
    let remote = run_bld(scratch.path(), &store, &["pull", "registry.example/app:1"]);
    assert_eq!(remote.code, 1);
    assert!(
        remote
            .stderr
            .contains("registry.example: cannot reach the registry"),
        "{}",
        remote.stderr
    );
    // Pushing what the store does not hold.
    let missing = run_bld(
        scratch.path(),
        &store,
        &["push", &format!("{}:v2", registry.name("team/busybox"))],
    );
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("An image does not exist locally with the tag"),
        "{}",
        missing.stderr
    );
    // The largest blob (the busybox layer) has one byte changed in the registry's storage.
    let largest = registry
        .blob_files()
        .into_iter()
        .max_by_key(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .expect("a blob");
    let mut bytes = std::fs::read(&largest).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&largest, bytes).expect("write");
    let tampered = run_bld(
        scratch.path(),
        &store,
        &["pull", &format!("{}:1", registry.name("team/busybox"))],
    );
    assert_eq!(tampered.code, 1, "{}", tampered.stdout);
    assert!(
        tampered.stderr.contains("does not match"),
        "{}",
        tampered.stderr
    );
    let blobs = std::fs::read_dir(store.join("blobs/sha256")).map_or(0, |d| d.count());
    assert_eq!(blobs, 0, "nothing reached the store");
    let listed = run_bld(scratch.path(), &store, &["images", "-q"]).ok();
    assert_eq!(listed.stdout, "");
}

#[test]
fn a_dockerfile_builds_from_a_registry_image_once_pulled_and_then_without_the_registry() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    push_busybox(scratch.path(), &registry, "team/base");
    let context = scratch.path().join("app");
    std::fs::create_dir_all(&context).expect("mkdir");
    let base = format!("{}:1", registry.name("team/base"));
    let dockerfile = |step: &str| {
        std::fs::write(
            context.join("Dockerfile"),
            format!("FROM {base}\nRUN echo {step} > /step\nCMD [\"cat\", \"/step\"]\n"),
        )
        .expect("write");
    };
    dockerfile("one");
    let store = scratch.path().join("store");
    let ctx = context.display().to_string();
    let built = run_bld(scratch.path(), &store, &["build", "-t", "app:1", &ctx]).ok();
    assert!(
        built.stderr.contains(&format!("Pulled {base} (sha256:")),
        "{}",
        built.stderr
    );
    let ran = run_bld(scratch.path(), &store, &["run", "app:1"]).ok();
    assert_eq!(ran.stdout, "one\n");
    // A tag the registry lacks is the Dockerfile's error, at its line.
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}:9\n", registry.name("team/base")),
    )
    .expect("write");
    let missing = run_bld(scratch.path(), &store, &["build", &ctx]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.starts_with(&format!(
            "error: Dockerfile:1:6: FROM: cannot pull `{}:9`: 127.0.0.1:{}: team/base:9 not found",
            registry.name("team/base"),
            registry.port
        )),
        "{}",
        missing.stderr
    );
    // The registry gone, the base comes from the store.
    drop(registry);
    dockerfile("two");
    let rebuilt = run_bld(scratch.path(), &store, &["build", "-t", "app:1", &ctx]).ok();
    assert!(!rebuilt.stderr.contains("Pulled"), "{}", rebuilt.stderr);
    let ran = run_bld(scratch.path(), &store, &["run", "app:1"]).ok();
    assert_eq!(ran.stdout, "two\n");
}

#[test]
fn login_checks_the_password_and_pulls_use_and_logout_forgets_it() {
    let Some(registry) = Registry::with_login("alice", "s3cret") else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let config_dir = scratch.path().join("docker-config");
    let env = [("DOCKER_CONFIG", config_dir.as_os_str())];
    let config = config_dir.join("config.json");
    push_busybox_as(
        scratch.path(),
        &registry,
        "team/private",
        Some("alice:s3cret"),
    );
    let store = scratch.path().join("store");
    let server = format!("127.0.0.1:{}", registry.port);
    let name = format!("{}:1", registry.name("team/private"));
    let bld = |args: &[&str]| run_bld_with_env(scratch.path(), &store, args, &env);
    let anonymous = bld(&["pull", &name]);
    assert_eq!(anonymous.code, 1);
    assert!(
        anonymous
            .stderr
            .contains(&format!("log in first (`bld login {server}`)")),
        "{}",
        anonymous.stderr
    );
    let wrong = bld(&["login", "-u", "alice", "-p", "wrong", &server]);
    assert_eq!(wrong.code, 1);
    assert!(
        wrong
            .stderr
            .contains("unauthorized: incorrect username or password"),
        "{}",
        wrong.stderr
    );
    assert!(!config.exists(), "refused credentials are not written");
    let mut login = Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["login", "-u", "alice", "--password-stdin", &server])
        .env("DOCKER_CONFIG", &config_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("bld login");
    std::io::Write::write_all(&mut login.stdin.take().expect("stdin"), b"s3cret\n").expect("write");
    let output = login.wait_with_output().expect("wait");
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Login Succeeded\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config)
        .expect("config.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("JSON");
    // base64("alice:s3cret"), as docker login writes it.
    assert_eq!(written["auths"][&server]["auth"], "YWxpY2U6czNjcmV0");
    bld(&["pull", "-q", &name]).ok();
    // Logged in, a push goes through the same credentials.
    let pushed = format!("{}:2", registry.name("team/private"));
    bld(&["tag", &name, &pushed]).ok();
    bld(&["push", "-q", &pushed]).ok();
    let logout = bld(&["logout", &server]).ok();
    assert_eq!(
        logout.stdout,
        format!("Removing login credentials for {server}\n")
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("JSON");
    assert!(written["auths"].get(&server).is_none());
    assert_eq!(bld(&["pull", &name]).code, 1);
    let refused = bld(&["push", &pushed]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("log in first"),
        "{}",
        refused.stderr
    );
}

#[test]
fn pushed_images_keep_their_digest_and_a_second_push_uploads_nothing() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = scratch.path().join("store");
    bld_busybox_base(scratch.path(), &store);
    let name = format!("{}:v1", registry.name("team/pushed"));
    run_bld(scratch.path(), &store, &["tag", "busybox", &name]).ok();
    let id = run_bld(
        scratch.path(),
        &store,
        &["images", "--no-trunc", "-q", &name],
    )
    .ok();
    let first = run_bld(scratch.path(), &store, &["push", &name]).ok();
    let lines: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "The push refers to repository [{}]",
            registry.name("team/pushed")
        )
    );
    assert!(
        lines[1..lines.len() - 1]
            .iter()
            .all(|l| l.ends_with(": Pushed")),
        "{lines:?}"
    );
    let digest = served_digest(&name);
    let size = std::fs::metadata(
        store
            .join("blobs/sha256")
            .join(digest.trim().trim_start_matches("sha256:")),
    )
    .expect("the manifest is the store's")
    .len();
    assert_eq!(
        lines[lines.len() - 1],
        format!("v1: digest: {} size: {size}", digest.trim())
    );
    let second = run_bld(scratch.path(), &store, &["push", &name]).ok();
    assert!(
        second.stdout.contains(": Layer already exists"),
        "{}",
        second.stdout
    );
    assert!(!second.stdout.contains(": Pushed"), "{}", second.stdout);
    // Pulled back into another store, it is the same image (IMAGE ID) and runs.
    let other = scratch.path().join("other-store");
    run_bld(scratch.path(), &other, &["pull", "-q", &name]).ok();
    let pulled_id = run_bld(
        scratch.path(),
        &other,
        &["images", "--no-trunc", "-q", &name],
    )
    .ok();
    assert_eq!(pulled_id.stdout, id.stdout);
    let ran = run_bld(
        scratch.path(),
        &other,
        &["run", &name, "echo", "round trip"],
    )
    .ok();
    assert_eq!(ran.stdout, "round trip\n");
}
