//! `bld build -t NAME:TAG -f Dockerfile CONTEXT`: Dockerfiles without RUN, checked with skopeo
//! and umoci.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Run, Sandbox, assert_run_snapshot, run_bld, tool};

/// A context directory with `files` (path, content) under `ctx/`.
fn context(sandbox: &Sandbox, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = sandbox.path().join("ctx");
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    dir
}

fn build(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push(".");
    run_bld(dir, &sandbox.store(), &all)
}

/// The image config as stored (`--raw`: skopeo would drop Docker fields such as `OnBuild`).
fn config(layout: &Path) -> Value {
    serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--config",
            "--raw",
            &format!("oci:{}", layout.display()),
        ],
    ))
    .expect("json")
}

/// Unpacks the image named `tag` in the layout (the ref name is the `-t` tag, as BuildKit's
/// OCI exporter writes it; `latest` without `-t`).
fn unpack(layout: &Path, tag: &str, into: &Path) -> std::path::PathBuf {
    let image = format!("{}:{tag}", layout.display());
    tool(
        "umoci",
        &["unpack", "--image", &image, into.to_str().expect("utf-8")],
    );
    into.join("rootfs")
}

fn manifest_digest(run: &Run) -> String {
    run.stdout
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("digest")
        .to_owned()
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const APP: &str = "\
FROM scratch
LABEL org.opencontainers.image.title=\"demo app\" version=1
ENV APP_HOME=/srv/app \\
    MODE=production
WORKDIR $APP_HOME
COPY conf/ ./conf/
COPY --chown=1000:1000 --chmod=0750 bin/run.sh bin/
COPY *.txt docs/
USER 1000
EXPOSE 8080 9090/udp
VOLUME /data
CMD [\"/srv/app/bin/run.sh\"]
ENTRYPOINT [\"/bin/sh\", \"-c\"]
STOPSIGNAL SIGTERM
";

/// Builds [`APP`] as `demo:1` into the OCI layout `layout` beside the context; returns it.
fn build_app_layout(sandbox: &Sandbox) -> std::path::PathBuf {
    let dir = context(
        sandbox,
        &[
            ("Dockerfile", APP),
            ("conf/app.toml", "port = 8080\n"),
            ("conf/nested/extra.toml", "x = 1\n"),
            ("bin/run.sh", "#!/bin/sh\necho run\n"),
            ("README.txt", "read me\n"),
            ("NOTES.txt", "notes\n"),
            ("ignored.md", "not copied\n"),
        ],
    );
    std::fs::set_permissions(
        dir.join("conf/app.toml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let out = sandbox.path().join("layout");
    let run = build(
        sandbox,
        &dir,
        &["-t", "demo:1", "--output", out.to_str().expect("utf-8")],
    )
    .ok();
    assert!(
        run.stdout.contains("Built demo:1 sha256:"),
        "{}",
        run.stdout
    );
    out
}

/// The config [`APP`] gives: every instruction's setting, one history entry each, a layer
/// per COPY.
fn assert_app_config(layout: &Path) {
    let config = config(layout);
    let c = &config["config"];
    assert_eq!(
        c["Env"],
        json!([DEFAULT_PATH, "APP_HOME=/srv/app", "MODE=production"])
    );
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "1000");
    assert_eq!(c["Cmd"], json!(["/srv/app/bin/run.sh"]));
    assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}, "9090/udp": {}}));
    assert_eq!(c["Volumes"], json!({"/data": {}}));
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert_eq!(
        c["Labels"],
        json!({"org.opencontainers.image.title": "demo app", "version": "1"})
    );
    let history = config["history"].as_array().expect("history");
    assert_eq!(
        history.len(),
        12,
        "one entry per instruction after FROM: {history:#?}"
    );
    assert_eq!(
        history
            .iter()
            .filter(|h| h["empty_layer"] != json!(true))
            .count(),
        4,
        "the three COPYs and the WORKDIR make layers, as in Docker"
    );
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(4)
    );
}

/// The files [`APP`] copies, with their modes and owners.
fn assert_app_files(root: &Path) {
    let meta =
        |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        std::fs::read_to_string(root.join("srv/app/conf/app.toml")).expect("read"),
        "port = 8080\n"
    );
    assert_eq!(
        meta("srv/app/conf/app.toml").mode() & 0o7777,
        0o600,
        "COPY keeps permission bits"
    );
    assert!(
        root.join("srv/app/conf/nested/extra.toml").is_file(),
        "directories are copied recursively"
    );
    let run_sh = meta("srv/app/bin/run.sh");
    assert_eq!(
        (run_sh.mode() & 0o7777, run_sh.uid(), run_sh.gid()),
        (0o750, 1000, 1000)
    );
    assert!(
        root.join("srv/app/docs/README.txt").is_file()
            && root.join("srv/app/docs/NOTES.txt").is_file()
    );
    assert!(!root.join("srv/app/docs/ignored.md").exists());
    assert_eq!(
        meta("srv/app/conf/app.toml").uid(),
        0,
        "files are owned by root without --chown"
    );
}

#[test]
fn a_scratch_dockerfile_builds_an_image_skopeo_and_umoci_accept() {
    let sandbox = Sandbox::new();
    let layout = build_app_layout(&sandbox);
    assert_app_config(&layout);
    assert_app_files(&unpack(&layout, "1", &sandbox.path().join("bundle")));
}

#[test]
fn multi_stage_builds_follow_from_edges_and_skip_unused_stages() {
    let sandbox = Sandbox::new();
    let dockerfile = "\
ARG BASE=scratch
FROM ${BASE} AS assets
COPY assets/ /assets/

FROM scratch AS broken
RUN exit 1

FROM assets AS extended
COPY extra.txt /assets/extra.txt

FROM scratch
COPY --from=extended /assets /public
COPY --from=0 /assets/logo.svg /logo.svg
";
    let dir = context(
        &sandbox,
        &[
            ("Dockerfile", dockerfile),
            ("assets/logo.svg", "<svg/>\n"),
            ("assets/css/site.css", "a{}\n"),
            ("extra.txt", "x\n"),
        ],
    );
    let out = sandbox.path().join("final");
    build(
        &sandbox,
        &dir,
        &["-t", "site", "-o", out.to_str().expect("utf-8")],
    )
    .ok();
    let root = unpack(&out, "latest", &sandbox.path().join("bundle"));
    for path in [
        "public/logo.svg",
        "public/css/site.css",
        "public/extra.txt",
        "logo.svg",
    ] {
        assert!(root.join(path).is_file(), "{path} missing");
    }
    assert!(
        !root.join("assets").exists(),
        "only the final stage's files are in the image"
    );

    let assets = sandbox.path().join("assets");
    build(
        &sandbox,
        &dir,
        &["--target", "assets", "-o", assets.to_str().expect("utf-8")],
    )
    .ok();
    let root = unpack(&assets, "latest", &sandbox.path().join("bundle-assets"));
    assert!(root.join("assets/logo.svg").is_file() && !root.join("assets/extra.txt").exists());

    let broken = build(&sandbox, &dir, &["--target", "broken"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    // The image has no shell: runc's own words follow, and are not pinned.
    assert_eq!(
        broken.stderr.lines().find(|l| l.starts_with("error:")),
        Some(
            "error: Dockerfile:6:1: RUN: process \"/bin/sh -c exit 1\" did not complete successfully: exit code: 1; its output ends with:"
        ),
        "{}",
        broken.stderr
    );
}

#[test]
fn build_args_and_dockerignore_follow_docker() {
    let sandbox = Sandbox::new();
    let dockerfile = "\
ARG DIR=default
FROM scratch
ARG DIR
ARG FILE=a.txt
ENV WHERE=/$DIR
COPY $FILE ${WHERE}/
COPY . /all/
";
    let dir = context(
        &sandbox,
        &[
            ("Dockerfile", dockerfile),
            (".dockerignore", "*.log\nsecrets/\n!keep.log\n"),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("debug.log", "noise\n"),
            ("keep.log", "kept\n"),
            ("secrets/key", "k\n"),
        ],
    );
    let out = sandbox.path().join("out");
    build(
        &sandbox,
        &dir,
        &[
            "--build-arg",
            "FILE=b.txt",
            "-o",
            out.to_str().expect("utf-8"),
        ],
    )
    .ok();
    let root = unpack(&out, "latest", &sandbox.path().join("bundle"));
    assert!(root.join("default/b.txt").is_file() && !root.join("default/a.txt").exists());
    assert!(root.join("all/keep.log").is_file());
    assert!(!root.join("all/debug.log").exists() && !root.join("all/secrets").exists());
    assert_eq!(
        config(&out)["config"]["Env"],
        json!([DEFAULT_PATH, "WHERE=/default"])
    );
}

#[test]
fn dockerfile_builds_are_cached_per_step_and_reproducible() {
    let sandbox = Sandbox::new();
    let dockerfile = "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nENV X=1\n";
    let dir = context(
        &sandbox,
        &[
            ("Dockerfile", dockerfile),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
        ],
    );
    let first = build(&sandbox, &dir, &["-t", "c:1"]).ok();
    assert_eq!(first.counts(), (3, 0), "{}", first.stdout);
    let again = build(&sandbox, &dir, &["-t", "c:1"]).ok();
    assert_eq!(again.counts(), (0, 3));
    assert_eq!(manifest_digest(&first), manifest_digest(&again));
    std::fs::write(dir.join("b.txt"), "changed\n").expect("write");
    let changed = build(&sandbox, &dir, &["-t", "c:1"]).ok();
    assert_eq!(
        changed.counts(),
        (2, 1),
        "only the COPY of b.txt and the image re-run: {}",
        changed.stdout
    );

    let elsewhere = Sandbox::new();
    let copy = context(
        &elsewhere,
        &[
            ("Dockerfile", dockerfile),
            ("a.txt", "a\n"),
            ("b.txt", "changed\n"),
        ],
    );
    let fresh = build(&elsewhere, &copy, &["-t", "c:1"]).ok();
    assert_eq!(
        manifest_digest(&fresh),
        manifest_digest(&changed),
        "same input, same digest, anywhere"
    );
}

/// Dockerfile errors at parse and lowering time, pinned by snapshots (a failing step:
/// `run_steps.rs`): each reads `Dockerfile:L:C: INSTRUCTION: message`, the column at the
/// offending word (a flag, a COPY source, the FROM base, an ARG), then the line with a marker.
#[test]
fn dockerfile_error_messages_are_pinned() {
    let sandbox = Sandbox::new();
    let dir = context(
        &sandbox,
        &[
            ("a.txt", "a\n"),
            ("t1/m", "file\n"),
            ("t2/m/f", "in a directory\n"),
        ],
    );
    for (name, dockerfile) in [
        (
            "error_dockerfile_parse",
            "FROM scratch\nCOPY a.txt /\nFORM x\n",
        ),
        (
            "error_dockerfile_unterminated_heredoc",
            "FROM scratch\nRUN cat <<EOF\n",
        ),
        (
            "error_dockerfile_bad_flag",
            "FROM scratch\nCOPY --frm=x a.txt /\n",
        ),
        (
            "error_dockerfile_copy_missing",
            "FROM scratch\nCOPY  a.txt missing.txt /\n",
        ),
        (
            "error_dockerfile_copy_from_unknown_stage",
            "FROM scratch\nCOPY --from=nowhere /etc /etc\n",
        ),
        (
            "error_dockerfile_bad_arg_expansion",
            "ARG V=${MISSING:?required}\nFROM scratch\n",
        ),
        (
            "error_dockerfile_bind_mount_source",
            "FROM scratch\nRUN --mount=type=bind,source=../nope,target=/x true\n",
        ),
        (
            "error_dockerfile_unknown_base",
            "FROM alpine\nCOPY a.txt /\n",
        ),
        // BuildKit's refusals to replace what an earlier COPY made with the other kind.
        (
            "error_dockerfile_copy_directory_over_file",
            "FROM scratch\nCOPY t1/ /\nCOPY t2/ /\n",
        ),
        (
            "error_dockerfile_copy_file_over_directory",
            "FROM scratch\nCOPY t2/ /\nCOPY t1/ /\n",
        ),
    ] {
        std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write");
        let run = build(&sandbox, &dir, &["-t", "x"]);
        crate::errors::fails_with(&run, &[]);
        assert_run_snapshot!(name, sandbox, run);
    }
    let run = build(&sandbox, &dir, &["-t", "Bad:Name!"]);
    crate::errors::fails_with(&run, &[]);
    assert_eq!(
        run.stderr,
        "error: invalid image reference `Bad:Name!`: a tag is 1 to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`\n"
    );
}

#[test]
fn the_dockerfile_rule_builds_on_image_targets_and_reports_dockerfile_lines() {
    let sandbox = Sandbox::with_files(&[
        (
            "base/BUILD.star",
            "pkg_tar(name = \"files\", srcs = [\"os-release\"], package_dir = \"/etc\")\noci_image(name = \"image\", tars = [\":files\"], env = {\"FROM_BASE\": \"1\"})\n",
        ),
        ("base/os-release", "ID=base\n"),
        (
            "app/BUILD.star",
            "dockerfile(\n    name = \"image\",\n    src = \"Dockerfile\",\n    context = glob([\"src/**\"]),\n    stages = {\"base\": \"//base:image\"},\n)\n",
        ),
        (
            "app/Dockerfile",
            "FROM base\nCOPY src/ /app/\nCMD [\"/app/run\"]\n",
        ),
        ("app/src/run", "#!/bin/sh\n"),
        ("app/.dockerignore", "**/*.tmp\n"),
        ("app/src/scratch.tmp", "ignored\n"),
    ]);
    let run = sandbox.bld(&["build", "//app:image"]).ok();
    assert!(
        run.stdout.contains("//app:image  sha256:"),
        "{}",
        run.stdout
    );
    let layout = sandbox.ws().join("bld-out/app/image");
    let root = unpack(&layout, "latest", &sandbox.path().join("bundle"));
    assert!(root.join("app/run").is_file() && root.join("etc/os-release").is_file());
    assert!(
        !root.join("app/scratch.tmp").exists(),
        "the package's .dockerignore applies"
    );
    assert_eq!(config(&layout)["config"]["Env"], json!(["FROM_BASE=1"]));

    sandbox.write(
        "app/Dockerfile",
        "FROM scratch\nCOPY --from=base /etc/os-release /copied\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack(&layout, "latest", &sandbox.path().join("bundle-copied"));
    assert_eq!(
        std::fs::read_to_string(root.join("copied")).expect("copied"),
        "ID=base\n",
        "COPY --from an image target"
    );

    sandbox.write(
        "app/Dockerfile",
        "FROM base\nCOPY --from=nowhere /etc /etc\n",
    );
    let broken = sandbox.bld(&["build", "//app:image"]);
    crate::errors::fails_with(&broken, &[]);
    assert_run_snapshot!("error_copy_from_unknown_stage", sandbox, broken);
}

#[test]
fn copy_heredocs_become_files() {
    let sandbox = Sandbox::new();
    let dockerfile = "FROM scratch\nENV NAME=bld\nCOPY <<EOF <<'RAW' /etc/\nhello $NAME\nEOF\nkeep $NAME\nRAW\nCOPY <<-EOF /motd\n\tindented\n\tEOF\n";
    let dir = context(&sandbox, &[("Dockerfile", dockerfile)]);
    let out = sandbox.path().join("out");
    build(&sandbox, &dir, &["-o", out.to_str().expect("utf-8")]).ok();
    let root = unpack(&out, "latest", &sandbox.path().join("bundle"));
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("etc/EOF"), "hello bld\n");
    assert_eq!(
        read("etc/RAW"),
        "keep $NAME\n",
        "a quoted delimiter turns expansion off"
    );
    assert_eq!(read("motd"), "indented\n", "<<- strips leading tabs");
    assert_eq!(
        std::fs::metadata(root.join("motd")).expect("motd").mode() & 0o7777,
        0o644
    );
}

#[test]
fn onbuild_triggers_run_in_the_stage_built_on_them() {
    let sandbox = Sandbox::new();
    let dockerfile = "FROM scratch AS base\nONBUILD COPY trigger.txt /from-trigger.txt\nONBUILD ENV TRIGGERED=yes\n\nFROM base\nCOPY app.txt /app.txt\n";
    let dir = context(
        &sandbox,
        &[
            ("Dockerfile", dockerfile),
            ("trigger.txt", "t\n"),
            ("app.txt", "a\n"),
        ],
    );
    let (out, base) = (sandbox.path().join("out"), sandbox.path().join("base"));
    build(&sandbox, &dir, &["-o", out.to_str().expect("utf-8")]).ok();
    build(
        &sandbox,
        &dir,
        &["--target", "base", "-o", base.to_str().expect("utf-8")],
    )
    .ok();
    let root = unpack(&out, "latest", &sandbox.path().join("bundle"));
    assert!(root.join("from-trigger.txt").is_file() && root.join("app.txt").is_file());
    let config = config(&out);
    assert_eq!(
        config["config"]["Env"],
        json!([DEFAULT_PATH, "TRIGGERED=yes"])
    );
    assert!(
        config["config"].get("OnBuild").is_none(),
        "triggers do not pass to grandchildren"
    );
    assert_eq!(
        self::config(&base)["config"]["OnBuild"],
        json!(["COPY trigger.txt /from-trigger.txt", "ENV TRIGGERED=yes"])
    );
}

/// `FROM` and `COPY --from` find images tagged in the local store by the name the Dockerfile
/// gives after expansion (`FROM base:${V}`), as `docker build` does; a workspace target does
/// not (its images are targets).
#[test]
fn local_images_are_found_by_their_expanded_names() {
    let sandbox = Sandbox::with_files(&[
        ("base/Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n"),
        ("base/a.txt", "a\n"),
        ("tool/Dockerfile", "FROM scratch\nCOPY t.txt /opt/t.txt\n"),
        ("tool/t.txt", "tool\n"),
        (
            "app/Dockerfile",
            "ARG V=1\nARG TOOL=registry.example:5000/team/tool:0.5\nFROM base:${V}\nARG TOOL\nCOPY --from=${TOOL} /opt/t.txt /t.txt\n",
        ),
    ]);
    sandbox.bld(&["build", "-t", "base:1", "base"]).ok();
    let tool_tag = "registry.example:5000/team/tool:0.5";
    sandbox.bld(&["build", "-t", tool_tag, "tool"]).ok();
    let layout = sandbox.path().join("app-layout");
    let layout_text = layout.display().to_string();
    sandbox.bld(&["build", "-o", &layout_text, "app"]).ok();
    let root = unpack(&layout, "latest", &sandbox.path().join("bundle"));
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).expect("a"),
        "a\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("t.txt")).expect("t"),
        "tool\n"
    );

    // Not in the store: asked of its registry (Docker Hub, which the tests' settings block),
    // and the registry's answer is the error, at the name.
    let missing = sandbox.bld(&["build", "--build-arg", "V=2", "app"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.starts_with(
            "error: Dockerfile:3:6: FROM: cannot pull `base:2`: docker.io: this registry is blocked by `blocked-registries` in "
        ),
        "{}",
        missing.stderr
    );
}
