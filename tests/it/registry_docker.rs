//! bld and Docker through one registry: an image Docker built and pushed (Docker's v2 schema 2
//! media types) pulls into bld with the IMAGE ID Docker reports and runs; what bld pushes
//! back, Docker pulls with the same ID.

use crate::docker_peer::Dockerd;
use crate::peers::bld_busybox_base;
use crate::registry::server::Registry;
use crate::support::run_bld;

/// `docker args…`, which must succeed; its stdout.
fn docker(daemon: &Dockerd, args: &[&str]) -> String {
    let output = daemon.docker(args);
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn an_image_docker_pushed_pulls_with_dockers_image_id_and_docker_pulls_what_bld_pushed() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let Some(daemon) = Dockerd::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    let store = scratch.join("store");
    bld_busybox_base(scratch, &store);
    let archive = scratch.join("busybox.tar").display().to_string();
    run_bld(scratch, &store, &["save", "-o", &archive, "busybox"]).ok();
    docker(&daemon, &["load", "-i", &archive]);
    let context = scratch.join("app");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN echo from-docker > /d\nCMD [\"cat\", \"/d\"]\n",
    )
    .expect("Dockerfile");
    let name = format!("{}:1", registry.name("peer/app"));
    let built = daemon.build(&context, &name);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    docker(&daemon, &["push", &name]);
    let docker_id = docker(&daemon, &["inspect", "--format", "{{.Id}}", &name]);

    let fresh = scratch.join("fresh");
    run_bld(scratch, &fresh, &["pull", "-q", &name]).ok();
    let bld_id = run_bld(scratch, &fresh, &["inspect", "--format", "{{.Id}}", &name]).ok();
    assert_eq!(bld_id.stdout.trim(), docker_id.trim());
    let ran = run_bld(scratch, &fresh, &["run", &name]).ok();
    assert_eq!(ran.stdout, "from-docker\n");

    // Back the other way: bld pushes it to another repository, Docker pulls it.
    let back = format!("{}:1", registry.name("peer/back"));
    run_bld(scratch, &fresh, &["tag", &name, &back]).ok();
    run_bld(scratch, &fresh, &["push", "-q", &back]).ok();
    docker(&daemon, &["rmi", &name]);
    docker(&daemon, &["pull", &back]);
    let pulled_id = docker(&daemon, &["inspect", "--format", "{{.Id}}", &back]);
    assert_eq!(pulled_id.trim(), docker_id.trim());
    let docker_ran = docker(&daemon, &["run", "--rm", "--network", "none", &back]);
    assert_eq!(docker_ran, "from-docker\n");
}
