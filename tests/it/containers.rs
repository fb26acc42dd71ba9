//! Containers kept after `bld run`: Docker's walkthrough of image layers by hand (run, change,
//! commit with a message, commit with `-c`, run the result, `rm -f`), and `ps`, `logs`,
//! `diff`, names, and `rmi` of an image a container uses.

use std::path::Path;

use crate::peers::bld_busybox_base;
use crate::support::{Run, run_bld};

/// bld in `scratch` with the store `scratch/store`, which must succeed.
fn bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args).ok()
}

/// `bld run --name NAME IMAGE sh -c SCRIPT`, which must succeed.
fn run_named(scratch: &Path, name: &str, image: &str, script: &str) {
    bld(scratch, &["run", "--name", name, image, "sh", "-c", script]);
}

fn try_bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args)
}

#[test]
fn an_image_is_built_by_hand_from_containers_committed_with_messages_and_changes() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    run_named(
        scratch,
        "base-container",
        "busybox",
        "mkdir /opt && echo tool > /opt/tool",
    );
    let id = bld(
        scratch,
        &["commit", "-m", "Add tool", "base-container", "tool-base"],
    );
    assert!(id.stdout.trim().starts_with("sha256:"), "{}", id.stdout);
    let history = bld(
        scratch,
        &[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            "tool-base",
        ],
    );
    assert_eq!(
        history.stdout.lines().next(),
        Some("sh -c mkdir /opt && echo tool > /opt/tool|5B|Add tool"),
        "{}",
        history.stdout
    );
    run_named(
        scratch,
        "app-container",
        "tool-base",
        "echo 'echo app sees; cat /opt/tool' > /app.sh",
    );
    bld(
        scratch,
        &[
            "commit",
            "-c",
            "CMD [\"sh\", \"/app.sh\"]",
            "-c",
            "ENV MODE=hand",
            "-c",
            "WORKDIR /opt",
            "-m",
            "Add app",
            "app-container",
            "sample-app",
        ],
    );
    let ran = bld(scratch, &["run", "--rm", "sample-app"]);
    assert_eq!(ran.stdout, "app sees\ntool\n");
    let config = bld(
        scratch,
        &[
            "inspect",
            "--format",
            "{{json .Config.Cmd}} {{.Config.WorkingDir}} {{json .Config.Env}}",
            "sample-app",
        ],
    );
    assert_eq!(
        config.stdout.trim(),
        "[\"sh\",\"/app.sh\"] /opt [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"MODE=hand\"]"
    );
    let removed = bld(scratch, &["rm", "-f", "base-container", "app-container"]);
    assert_eq!(removed.stdout, "base-container\napp-container\n");
    let left = bld(scratch, &["ps", "-a", "-q"]);
    assert_eq!(left.stdout, "");
    let containers = scratch.join("store/containers");
    let dirs: Vec<_> = std::fs::read_dir(&containers)
        .expect("containers")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().len() == 64)
        .collect();
    assert!(dirs.is_empty(), "every container's directory is gone");
}

#[test]
fn a_kept_container_is_listed_logged_and_diffed_and_keeps_its_name_and_image() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let script = "echo out; echo err >&2; echo new > /new; rm /bin/vi; exit 3";
    let ran = try_bld(
        scratch,
        &["run", "--name", "web", "busybox", "sh", "-c", script],
    );
    assert_eq!(ran.code, 3);
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        ("out\n", "err\n")
    );
    let listed = bld(scratch, &["ps", "-a"]);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("Exited (3)") && lines[1].ends_with("web"),
        "{lines:?}"
    );
    assert_eq!(bld(scratch, &["ps", "-q"]).stdout, "", "none running");
    let logs = bld(scratch, &["logs", "web"]);
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\n", "err\n")
    );
    // Each line stamped; the two streams' order between them is the threads' (as Docker's).
    let tail = bld(scratch, &["logs", "--tail", "2", "-t", "web"]);
    assert!(
        tail.stdout.ends_with("Z out\n") && tail.stderr.ends_with("Z err\n"),
        "{}{}",
        tail.stdout,
        tail.stderr
    );
    let diff = bld(scratch, &["diff", "web"]);
    assert_eq!(diff.stdout, "C /bin\nD /bin/vi\nA /new\n");
    let format = bld(
        scratch,
        &["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Image}}"],
    );
    assert_eq!(format.stdout, "web exited busybox\n");
}

#[test]
fn a_name_is_one_containers_and_its_image_stays_while_it_does() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let ran = try_bld(
        scratch,
        &[
            "run",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "echo new > /new; exit 3",
        ],
    );
    assert_eq!(ran.code, 3);
    // A name is one container's: the second is refused, and nothing of it is made.
    let again = try_bld(scratch, &["run", "--name", "web", "busybox", "true"]);
    assert_eq!(again.code, 125, "docker run's own failure");
    assert!(
        again
            .stderr
            .contains("Conflict. The container name \"/web\" is already in use"),
        "{}",
        again.stderr
    );
    assert_eq!(bld(scratch, &["ps", "-a", "-q"]).stdout.lines().count(), 1);

    // Its image stays while it does.
    let refused = try_bld(scratch, &["rmi", "busybox"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains(
            "conflict: unable to remove repository reference \"busybox\" (must force) - container"
        ),
        "{}",
        refused.stderr
    );
    bld(scratch, &["rmi", "-f", "busybox"]);
    bld(scratch, &["gc"]);
    bld(scratch, &["commit", "web", "web:committed"]);
    let committed = bld(scratch, &["run", "--rm", "web:committed", "cat", "/new"]);
    assert_eq!(committed.stdout, "new\n");
    let inspect = bld(scratch, &["container", "inspect", "web"]);
    let value: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("JSON");
    assert_eq!(value[0]["State"]["ExitCode"], 3);
    assert_eq!(value[0]["Name"], "/web");
    let bad = try_bld(scratch, &["commit", "-c", "RUN true", "web"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("RUN is not an instruction commit applies"),
        "{}",
        bad.stderr
    );

    let missing = try_bld(scratch, &["logs", "nothing"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("No such container: nothing"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_committed_image_loads_into_docker_with_the_same_history() {
    let Some(daemon) = crate::docker_peer::Dockerd::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    run_named(scratch, "maker", "busybox", "echo made > /made");
    bld(
        scratch,
        &[
            "commit",
            "-m",
            "Add made",
            "-c",
            "CMD [\"cat\", \"/made\"]",
            "maker",
            "made:1",
        ],
    );
    let archive = scratch.join("made.tar").display().to_string();
    bld(scratch, &["save", "-o", &archive, "made:1"]);
    let loaded = daemon.docker(&["load", "-i", &archive]);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    // The rows' commands and comments, and the committed layer's size (a loaded image's
    // other sizes Docker counts its own way).
    let format = "{{.CreatedBy}}|{{.Comment}}";
    let ours = bld(
        scratch,
        &["history", "--no-trunc", "--format", format, "made:1"],
    );
    let docker = daemon.docker(&["history", "--no-trunc", "--format", format, "made:1"]);
    assert_eq!(String::from_utf8_lossy(&docker.stdout), ours.stdout);
    let size = ["history", "--format", "{{.Size}}", "made:1"];
    let docker_size = daemon.docker(&size);
    let docker_size = String::from_utf8_lossy(&docker_size.stdout);
    assert_eq!(
        docker_size.lines().next(),
        bld(scratch, &size).stdout.lines().next()
    );
    let ran = daemon.docker(&["run", "--rm", "--network", "none", "made:1"]);
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "made\n");
}

#[test]
fn cp_copies_out_and_into_a_stopped_container_keeping_modes_and_owners() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let script = "mkdir -p /opt/d && echo t > /opt/d/f && chmod 750 /opt/d && chown 5:6 /opt/d/f";
    run_named(scratch, "box", "busybox", script);
    let out = scratch.join("out");
    std::fs::create_dir(&out).expect("mkdir");
    bld(scratch, &["cp", "box:/opt/d", &out.display().to_string()]);
    use std::os::unix::fs::MetadataExt as _;
    let dir = std::fs::metadata(out.join("d")).expect("copied dir");
    assert_eq!(dir.mode() & 0o7777, 0o750);
    let file = std::fs::metadata(out.join("d/f")).expect("copied file");
    assert_eq!((file.uid(), file.gid()), (5, 6));
    assert_eq!(
        std::fs::read_to_string(out.join("d/f")).expect("read"),
        "t\n"
    );
    // Into it: into a directory it has, or as a new name; owned by root, the mode kept.
    let host = scratch.join("hostfile");
    std::fs::write(&host, "from host\n").expect("write");
    std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o640))
        .expect("chmod");
    let host = host.display().to_string();
    bld(scratch, &["cp", &host, "box:/opt/"]);
    bld(scratch, &["cp", &host, "box:/renamed"]);
    let missing = try_bld(scratch, &["cp", &host, "box:/no/such/dir/x"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("no such directory in container box: /no/such/dir")
    );
    bld(scratch, &["commit", "box", "copied:1"]);
    let listed = bld(
        scratch,
        &[
            "run",
            "--rm",
            "copied:1",
            "sh",
            "-c",
            "stat -c '%a %u %n' /opt/hostfile /renamed /opt/d",
        ],
    );
    assert_eq!(
        listed.stdout,
        "640 0 /opt/hostfile\n640 0 /renamed\n750 0 /opt/d\n"
    );
    // The run flags that name the process: --entrypoint, --env-file, --hostname.
    let env_file = scratch.join("env");
    std::fs::write(&env_file, "# a comment\nA=1\n\nB=two\n").expect("write");
    let ran = bld(
        scratch,
        &[
            "run",
            "--rm",
            "--env-file",
            &env_file.display().to_string(),
            "--hostname",
            "named",
            "--entrypoint",
            "/bin/sh",
            "busybox",
            "-c",
            "echo $A $B $(hostname)",
        ],
    );
    assert_eq!(ran.stdout, "1 two named\n");
}
