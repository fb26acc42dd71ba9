//! Registries as they are met outside a test: over TLS with a CA of their own, behind a token
//! issuer, through a mirror, with credentials in a helper. Each one real: Debian's
//! `docker-registry`, started by the harness (`benches/shared/registry.rs`).

use std::ffi::OsStr;
use std::path::Path;

use crate::registry::server::Registry;
use crate::registry::{push_busybox, push_busybox_as};
use crate::support::{Run, run_bld_with_env};

/// bld with the settings `config` (a `config.toml` text) and Docker's configuration in
/// `scratch/docker-config`.
fn bld_with(scratch: &Path, config: &str, args: &[&str]) -> Run {
    let file = scratch.join("bld-config.toml");
    std::fs::write(&file, config).expect("config");
    let docker = scratch.join("docker-config");
    let env: [(&str, &OsStr); 2] = [
        ("BLD_CONFIG", file.as_os_str()),
        ("DOCKER_CONFIG", docker.as_os_str()),
    ];
    run_bld_with_env(scratch, &scratch.join("store"), args, &env)
}

#[test]
fn a_tls_registry_is_trusted_through_certs_d_or_insecure_registries_and_refused_otherwise() {
    let Some(registry) = Registry::with_tls() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let digest = push_busybox(scratch, &registry, "team/busybox");
    let name = format!("{}:1", registry.name("team/busybox"));
    let host = format!("127.0.0.1:{}", registry.port);
    // The registry's certificate is signed by a CA nothing trusts: refused, saying what to do.
    let certs = scratch.join("certs.d");
    let trusting = format!("certs-dirs = [\"{}\"]\n", certs.display());
    let refused = bld_with(scratch, &trusting, &["pull", &name]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("the registry's certificate is not trusted"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains(&format!("{}/{host}/ca.crt", certs.display())),
        "{}",
        refused.stderr
    );
    // With the CA where Docker looks for it (certs.d/HOST:PORT/ca.crt), over verified HTTPS.
    std::fs::create_dir_all(certs.join(&host)).expect("mkdir");
    std::fs::copy(
        registry.ca.as_ref().expect("a CA"),
        certs.join(&host).join("ca.crt"),
    )
    .expect("copy CA");
    let pulled = bld_with(scratch, &trusting, &["pull", &name]).ok();
    assert!(
        pulled.stdout.contains(&format!("Digest: {digest}")),
        "{}",
        pulled.stdout
    );
    let pushed = format!("{}:2", registry.name("team/busybox"));
    bld_with(scratch, &trusting, &["tag", &name, &pushed]).ok();
    let push = bld_with(scratch, &trusting, &["push", &pushed]).ok();
    assert!(
        push.stdout.contains(&format!("2: digest: {digest}")),
        "{}",
        push.stdout
    );
    // Listed as insecure, it is reached without its CA.
    let insecure = format!("insecure-registries = [\"{host}\"]\n");
    std::fs::remove_dir_all(scratch.join("store")).expect("clean store");
    bld_with(scratch, &insecure, &["pull", "-q", &pushed]).ok();
}

#[test]
fn bearer_tokens_of_the_registrys_issuer_are_fetched_for_each_scope() {
    let Some(registry) = Registry::with_tokens("alice", "s3cret") else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let digest = push_busybox_as(scratch, &registry, "team/app", Some("alice:s3cret"));
    let server = format!("127.0.0.1:{}", registry.port);
    let name = format!("{}:1", registry.name("team/app"));
    let anonymous = bld_with(scratch, "", &["pull", &name]);
    assert_eq!(anonymous.code, 1);
    assert!(
        anonymous
            .stderr
            .contains(&format!("log in first (`bld login {server}`)")),
        "{}",
        anonymous.stderr
    );
    let wrong = bld_with(
        scratch,
        "",
        &["login", "-u", "alice", "-p", "nope", &server],
    );
    assert_eq!(wrong.code, 1);
    assert!(
        wrong
            .stderr
            .contains("unauthorized: incorrect username or password"),
        "{}",
        wrong.stderr
    );
    bld_with(
        scratch,
        "",
        &["login", "-u", "alice", "-p", "s3cret", &server],
    )
    .ok();
    let pulled = bld_with(scratch, "", &["pull", &name]).ok();
    assert!(
        pulled.stdout.contains(&format!("Digest: {digest}")),
        "{}",
        pulled.stdout
    );
    // A push asks for `pull,push` on another repository: a new challenge, a new token.
    let other = format!("{}:1", registry.name("team/copy"));
    bld_with(scratch, "", &["tag", &name, &other]).ok();
    let pushed = bld_with(scratch, "", &["push", &other]).ok();
    assert!(
        pushed.stdout.contains(&format!("1: digest: {digest}")),
        "{}",
        pushed.stdout
    );
}

#[test]
fn a_mirror_serves_docker_hub_names_and_a_dockerfile_builds_from_it() {
    let Some(mirror) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    // Docker Hub's official images are `library/NAME` in a mirror.
    let digest = push_busybox(scratch, &mirror, "library/busybox");
    // Docker Hub itself blocked: what is pulled comes from the mirror.
    let config = format!(
        "registry-mirrors = [\"http://127.0.0.1:{}\"]\nblocked-registries = [\"docker.io\"]\n",
        mirror.port
    );
    let pulled = bld_with(scratch, &config, &["pull", "busybox:1"]).ok();
    let lines: Vec<&str> = pulled.stdout.lines().collect();
    assert_eq!(lines[0], "1: Pulling from library/busybox");
    assert_eq!(
        lines[lines.len() - 3..],
        [
            format!("Digest: {digest}").as_str(),
            "Status: Downloaded newer image for busybox:1",
            "docker.io/library/busybox:1",
        ]
    );
    let context = scratch.join("ctx");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox:1\nRUN echo mirrored > /m\n",
    )
    .expect("Dockerfile");
    std::fs::remove_dir_all(scratch.join("store")).expect("clean store");
    let context = context.display().to_string();
    bld_with(scratch, &config, &["build", "-t", "m:1", &context]).ok();
    let ran = bld_with(scratch, &config, &["run", "m:1", "cat", "/m"]).ok();
    assert_eq!(ran.stdout, "mirrored\n");
    // A mirror that is down is passed over for the next.
    let config = format!(
        "registry-mirrors = [\"http://127.0.0.1:1\", \"127.0.0.1:{}\"]\nblocked-registries = [\"docker.io\"]\n",
        mirror.port
    );
    std::fs::remove_dir_all(scratch.join("store")).expect("clean store");
    bld_with(scratch, &config, &["pull", "-q", "busybox:1"]).ok();
}

#[test]
fn a_credential_helper_keeps_what_login_stores_and_pulls_use_it() {
    let Some(registry) = Registry::with_login("bob", "hunter2") else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    push_busybox_as(scratch, &registry, "team/private", Some("bob:hunter2"));
    // A helper that keeps one secret in a file, speaking Docker's helper protocol.
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let kept = scratch.join("kept.json");
    let helper = bin.join("docker-credential-bldtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nset -e\ncase \"$1\" in\n\
             store) cat > {kept} ;;\n\
             get) server=$(cat); [ -s {kept} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}; cat {kept} ;;\n\
             erase) server=$(cat); rm -f {kept} ;;\n\
             esac\n",
            kept = kept.display()
        ),
    )
    .expect("helper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let docker = scratch.join("docker-config");
    std::fs::create_dir_all(&docker).expect("mkdir");
    std::fs::write(docker.join("config.json"), r#"{"credsStore": "bldtest"}"#).expect("config");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env: [(&str, &OsStr); 3] = [
        ("PATH", OsStr::new(&path)),
        ("DOCKER_CONFIG", docker.as_os_str()),
        ("BLD_CONFIG", OsStr::new("/nonexistent")),
    ];
    let store = scratch.join("store");
    let bld = |args: &[&str]| run_bld_with_env(scratch, &store, args, &env);
    let server = format!("127.0.0.1:{}", registry.port);
    let name = format!("{}:1", registry.name("team/private"));
    assert_eq!(bld(&["pull", &name]).code, 1, "nothing kept yet");
    bld(&["login", "-u", "bob", "-p", "hunter2", &server]).ok();
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kept).expect("the helper kept it")).expect("JSON");
    assert_eq!(stored["ServerURL"], server.as_str());
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["Secret"], "hunter2");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker.join("config.json")).expect("read"))
            .expect("JSON");
    assert_eq!(
        config["auths"][&server],
        serde_json::json!({}),
        "no secret in config.json"
    );
    bld(&["pull", "-q", &name]).ok();
    bld(&["logout", &server]).ok();
    assert!(!kept.exists(), "erased");
    // The same helper named for this registry alone (`credHelpers`).
    let helpers = serde_json::json!({"credHelpers": {server.clone(): "bldtest"}});
    std::fs::write(docker.join("config.json"), helpers.to_string()).expect("config");
    bld(&["login", "-u", "bob", "-p", "hunter2", &server]).ok();
    assert!(kept.exists(), "the registry's helper kept it");
    bld(&["pull", "-q", &name]).ok();
}

#[test]
fn a_registry_that_asks_for_a_client_certificate_gets_the_one_in_certs_d() {
    let Some(registry) = Registry::with_client_certificates() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let store = scratch.join("store");
    crate::peers::bld_busybox_base(scratch, &store);
    let host = format!("127.0.0.1:{}", registry.port);
    let name = format!("{}:1", registry.name("team/busybox"));
    let certs = scratch.join("certs.d");
    let config = format!("certs-dirs = [\"{}\"]\n", certs.display());
    let dir = certs.join(&host);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let secrets = registry
        .ca
        .as_ref()
        .expect("a CA")
        .parent()
        .expect("dir")
        .to_owned();
    std::fs::copy(secrets.join("ca.crt"), dir.join("ca.crt")).expect("copy");
    bld_with(scratch, &config, &["tag", "busybox", &name]).ok();
    // The CA alone: the registry refuses the handshake.
    let refused = bld_with(scratch, &config, &["push", &name]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains(&host), "{}", refused.stderr);
    // With Docker's pair beside it (`*.cert` and the `*.key` of the same name).
    std::fs::copy(secrets.join("client.crt"), dir.join("client.cert")).expect("copy");
    std::fs::copy(secrets.join("client.key"), dir.join("client.key")).expect("copy");
    let pushed = bld_with(scratch, &config, &["push", &name]).ok();
    assert!(
        pushed.stdout.contains("1: digest: sha256:"),
        "{}",
        pushed.stdout
    );
    std::fs::remove_dir_all(&store).expect("clean store");
    bld_with(scratch, &config, &["pull", "-q", &name]).ok();
    // A key without its certificate is the configuration's mistake, named.
    std::fs::remove_file(dir.join("client.cert")).expect("rm");
    let lone = bld_with(scratch, &config, &["pull", &name]);
    assert_eq!(lone.code, 1);
    assert!(
        lone.stderr.contains("client.key") && lone.stderr.contains("has no client certificate"),
        "{}",
        lone.stderr
    );
}
