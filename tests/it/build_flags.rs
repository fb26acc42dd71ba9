//! The `bld build` flags users reach for first, as `docker build` (20.10, BuildKit) and
//! `docker buildx build` take them: `--no-cache`, `--no-cache-filter`, `-q`, `--progress`,
//! `--iidfile`, `--label`, `--metadata-file`.

use crate::support::{Run, Sandbox, run_bld, run_bld_with_env};

/// Two stages, four actions: each stage's COPY layer and image.
const TWO_STAGES: &str =
    "FROM scratch AS one\nCOPY a.txt /a\nFROM one AS Two\nCOPY b.txt /b\nLABEL x=1\n";

/// A context directory holding `dockerfile`, `a.txt` and `b.txt`.
fn context(sandbox: &Sandbox, dockerfile: &str) -> std::path::PathBuf {
    let dir = sandbox.path().join("ctx");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write");
    std::fs::write(dir.join("a.txt"), "a\n").expect("write");
    std::fs::write(dir.join("b.txt"), "b\n").expect("write");
    dir
}

fn build(sandbox: &Sandbox, dir: &std::path::Path, flags: &[&str]) -> Run {
    let mut args = vec!["build"];
    args.extend_from_slice(flags);
    args.push(".");
    run_bld(dir, &sandbox.store(), &args)
}

/// The image ID (`sha256:…`) and manifest digest of the summary line.
fn ids(run: &Run) -> (String, String) {
    let line = run.stdout.lines().last().unwrap_or_default();
    let manifest = line
        .split_whitespace()
        .find(|word| word.starts_with("sha256:"))
        .unwrap_or_default()
        .to_owned();
    let short = line
        .split("(image ID ")
        .nth(1)
        .and_then(|rest| rest.get(..12))
        .unwrap_or_default()
        .to_owned();
    (short, manifest)
}

#[test]
fn no_cache_runs_every_action_again_and_keeps_the_digests() {
    let sandbox = Sandbox::new();
    let dir = context(&sandbox, TWO_STAGES);
    let first = build(&sandbox, &dir, &[]).ok();
    assert_eq!(first.counts(), (4, 0), "{}", first.stdout);
    assert_eq!(build(&sandbox, &dir, &[]).ok().counts(), (0, 4));
    let again = build(&sandbox, &dir, &["--no-cache"]).ok();
    assert_eq!(again.counts(), (4, 0), "{}", again.stdout);
    assert_eq!(ids(&first), ids(&again));
    // The results were recorded: the next build is all cache hits.
    assert_eq!(build(&sandbox, &dir, &[]).ok().counts(), (0, 4));
}

#[test]
fn no_cache_filter_ignores_the_cache_for_the_named_stages_only() {
    let sandbox = Sandbox::new();
    let dir = context(&sandbox, TWO_STAGES);
    build(&sandbox, &dir, &[]).ok();
    // Stage names match in any case; a name that is no stage's is ignored, as BuildKit does.
    for filter in ["two", "ONE,nope"] {
        let run = build(&sandbox, &dir, &["--no-cache-filter", filter]).ok();
        assert_eq!(run.counts(), (2, 2), "{filter}: {}", run.stdout);
    }
    let both = build(
        &sandbox,
        &dir,
        &["--no-cache-filter=one", "--no-cache-filter=two"],
    )
    .ok();
    assert_eq!(both.counts(), (4, 0), "{}", both.stdout);
}

#[test]
fn no_cache_rebuilds_workspace_targets_to_the_same_digests() {
    let sandbox = Sandbox::with_examples();
    let first = sandbox.bld(&["build", "//examples/hello:image"]).ok();
    let again = sandbox
        .bld(&["build", "--no-cache", "//examples/hello:image"])
        .ok();
    let (ran, cached) = first.counts();
    assert_eq!(again.counts(), (ran + cached, 0), "{}", again.stdout);
    assert_eq!(
        first.digest_of("//examples/hello:image"),
        again.digest_of("//examples/hello:image")
    );
    assert_eq!(
        sandbox
            .bld(&["build", "//examples/hello:image"])
            .ok()
            .counts(),
        (0, ran + cached)
    );
}

#[test]
fn quiet_prints_only_the_image_id_as_docker_build_q_does() {
    let sandbox = Sandbox::new();
    let dir = context(&sandbox, TWO_STAGES);
    let summary = build(&sandbox, &dir, &[]).ok();
    let (short, _) = ids(&summary);
    for flags in [
        &["-q"][..],
        &["--quiet"],
        &["--progress", "quiet"],
        &["--progress=quiet", "--no-cache"],
    ] {
        let run = build(&sandbox, &dir, flags).ok();
        assert_eq!(run.stderr, "", "{flags:?}");
        let id = run.stdout.strip_suffix('\n').expect("a line");
        assert!(
            id.starts_with(&format!("sha256:{short}")) && id.len() == 71 && !id.contains('\n'),
            "{flags:?}: {:?}",
            run.stdout
        );
    }
}

#[test]
fn plain_progress_prints_the_log_without_a_status_line() {
    let sandbox = Sandbox::new();
    let dir = context(&sandbox, TWO_STAGES);
    let plain = build(&sandbox, &dir, &["--progress", "plain"]).ok();
    let mut lines: Vec<&str> = plain.stderr.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "  built image  (//:Dockerfile)",
            "  built image.layers/line-2.tar.gz  (//:Dockerfile)",
            "  built image.layers/line-4.tar.gz  (//:Dockerfile)",
            "  built image.stages/0  (//:Dockerfile)",
        ]
    );
    assert_eq!(plain.counts(), (4, 0));
    for mode in ["auto", "tty"] {
        let run = build(&sandbox, &dir, &["--progress", mode]).ok();
        assert_eq!(run.counts(), (0, 4), "{mode}");
    }
    let bad = build(&sandbox, &dir, &["--progress", "fancy"]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("invalid value 'fancy' for '--progress <MODE>'"),
        "{}",
        bad.stderr
    );
}

#[test]
fn iidfile_and_metadata_file_name_the_image_as_docker_and_buildx_do() {
    let sandbox = Sandbox::new();
    let dir = context(&sandbox, TWO_STAGES);
    let iid = sandbox.path().join("iid");
    let meta = sandbox.path().join("meta.json");
    let (iid_arg, meta_arg) = (iid.display().to_string(), meta.display().to_string());
    let run = build(
        &sandbox,
        &dir,
        &[
            "-t",
            "app:1",
            "-t",
            "reg.example/team/app:2",
            "--iidfile",
            &iid_arg,
            "--metadata-file",
            &meta_arg,
        ],
    )
    .ok();
    let (short, manifest) = ids(&run);
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    assert!(
        id.starts_with(&format!("sha256:{short}")) && id.len() == 71,
        "{id:?}"
    );
    let size = std::fs::metadata(sandbox.store().join("blobs/sha256").join(&manifest[7..]))
        .map(|m| m.len())
        .unwrap_or_default();
    let expected = format!(
        "{{\n  \"containerimage.config.digest\": \"{id}\",\n  \"containerimage.descriptor\": {{\n    \"digest\": \"{manifest}\",\n    \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n    \"size\": {size}\n  }},\n  \"containerimage.digest\": \"{manifest}\",\n  \"image.name\": \"docker.io/library/app:1,reg.example/team/app:2\"\n}}"
    );
    assert_eq!(std::fs::read_to_string(&meta).expect("metadata"), expected);
    // Untagged, the metadata names no image.
    build(&sandbox, &dir, &["--metadata-file", &meta_arg]).ok();
    let text = std::fs::read_to_string(&meta).expect("metadata");
    assert!(
        !text.contains("image.name") && text.contains(&manifest),
        "{text}"
    );
}

#[test]
fn labels_are_set_on_the_final_image_over_the_dockerfiles() {
    let sandbox = Sandbox::new();
    let dir = context(&sandbox, TWO_STAGES);
    let plain = build(&sandbox, &dir, &["-t", "plain:1"]).ok();
    let labelled = build(
        &sandbox,
        &dir,
        &[
            "--label", "x=2", "--label", "y", "--label", "z=a=b", "-t", "app:1",
        ],
    )
    .ok();
    // Only the final image's config changes: one action runs.
    assert_eq!(labelled.counts(), (1, 3), "{}", labelled.stdout);
    assert_ne!(ids(&plain), ids(&labelled));
    let inspect = run_bld(
        &dir,
        &sandbox.store(),
        &["image", "inspect", "app:1", "plain:1"],
    )
    .ok();
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    assert_eq!(
        json[0]["Config"]["Labels"],
        serde_json::json!({"x": "2", "y": "", "z": "a=b"})
    );
    assert_eq!(json[1]["Config"]["Labels"], serde_json::json!({"x": "1"}));
    // No history entry of its own, as BuildKit adds none for `--label`.
    assert_eq!(json[0]["History"], json[1]["History"], "{}", inspect.stdout);
}

#[test]
fn dockerfile_only_flags_are_refused_for_workspace_targets() {
    let sandbox = Sandbox::with_examples();
    for flags in [
        &["--no-cache-filter", "one"][..],
        &["--iidfile", "f"],
        &["--label", "a=b"],
        &["--metadata-file", "m"],
    ] {
        let mut args = vec!["build"];
        args.extend_from_slice(flags);
        args.push("//examples/hello:image");
        let run = sandbox.bld(&args);
        assert_eq!(run.code, 1, "{flags:?}");
        assert_eq!(
            run.stderr,
            format!(
                "error: {} applies to a Dockerfile build (`bld build [-f FILE] CONTEXT`), not to workspace targets\n",
                flags[0]
            )
        );
    }
}

#[test]
fn no_cache_filter_runs_the_named_stages_steps_again() {
    let sandbox = Sandbox::new();
    busybox_base(&sandbox);
    let dir = context(
        &sandbox,
        "FROM busybox:bld AS deps\nRUN echo deps-step && echo deps > /deps\n\
         FROM busybox:bld AS app\nCOPY --from=deps /deps /deps\nRUN echo app-step && cat /deps\n",
    );
    let first = build(&sandbox, &dir, &[]).ok();
    assert!(
        first.stderr.contains("  Dockerfile:2 | deps-step\n"),
        "{}",
        first.stderr
    );
    let filtered = build(&sandbox, &dir, &["--no-cache-filter", "app"]).ok();
    let steps: Vec<&str> = filtered
        .stderr
        .lines()
        .filter(|line| line.contains(" | "))
        .collect();
    assert_eq!(
        steps,
        ["  Dockerfile:5 | app-step", "  Dockerfile:5 | deps"]
    );
    assert_eq!(ids(&first), ids(&filtered));
    let all = build(&sandbox, &dir, &["--no-cache"]).ok();
    assert!(
        all.stderr.contains("  Dockerfile:2 | deps-step\n"),
        "{}",
        all.stderr
    );
    assert!(
        all.stderr.contains("  Dockerfile:5 | app-step\n"),
        "{}",
        all.stderr
    );
}

/// `busybox:bld` in the sandbox's store.
fn busybox_base(sandbox: &Sandbox) {
    let base = crate::peers::busybox_context(sandbox.path());
    run_bld(
        &base,
        &sandbox.store(),
        &["build", "-t", "busybox:bld", "."],
    )
    .ok();
}

/// `--add-host` entries are in every step's /etc/hosts after BuildKit's own, and in the key:
/// a step run without them is not reused.
#[test]
fn add_host_entries_are_in_the_steps_hosts_file() {
    let sandbox = Sandbox::new();
    busybox_base(&sandbox);
    let dir = context(&sandbox, "FROM busybox:bld\nRUN cat /etc/hosts\n");
    let plain = build(&sandbox, &dir, &["--progress", "plain"]).ok();
    let with = build(
        &sandbox,
        &dir,
        &[
            "--progress",
            "plain",
            "--add-host",
            "db:10.0.0.5",
            "--add-host",
            "v6=::1",
        ],
    )
    .ok();
    let hosts = |run: &Run| -> Vec<String> {
        run.stderr
            .lines()
            .filter_map(|line| line.strip_prefix("  Dockerfile:2 | "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        hosts(&plain),
        [
            "127.0.0.1\tlocalhost buildkitsandbox",
            "::1\tlocalhost ip6-localhost ip6-loopback"
        ]
    );
    assert_eq!(
        hosts(&with),
        [
            "127.0.0.1\tlocalhost buildkitsandbox",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            "10.0.0.5\tdb",
            "::1\tv6",
        ]
    );
    let bad = build(&sandbox, &dir, &["--add-host", "db:not-an-ip"]);
    assert_eq!(
        bad.stderr,
        "error: invalid --add-host `db:not-an-ip`: expected NAME:IP, such as db:10.0.0.5\n"
    );
    assert_eq!(bad.code, 1);
}

/// `--secret id=ID,env=VAR` (and `id=VAR` alone) give a step the variable's value as its
/// secret file, as buildx does; the file bld writes for it is gone after the build.
#[test]
fn secrets_come_from_the_environment_too() {
    let sandbox = Sandbox::new();
    busybox_base(&sandbox);
    let dir = context(
        &sandbox,
        "FROM busybox:bld\nRUN --mount=type=secret,id=token,required=true wc -c < /run/secrets/token\n",
    );
    let with_env = |flags: &[&str]| {
        let mut args = vec!["build", "--progress", "plain", "--no-cache"];
        args.extend_from_slice(flags);
        args.push(".");
        let env = [
            ("BLD_TEST_TOKEN", "s3cret!".as_ref()),
            ("token", "12345678901".as_ref()),
        ];
        run_bld_with_env(&dir, &sandbox.store(), &args, &env)
    };
    let size = |run: &Run| {
        run.stderr
            .lines()
            .find_map(|line| line.strip_prefix("  Dockerfile:2 | "))
            .map(str::to_owned)
    };
    let by_env = with_env(&["--secret", "id=token,env=BLD_TEST_TOKEN"]).ok();
    assert_eq!(size(&by_env).as_deref(), Some("7"), "{}", by_env.stderr);
    assert!(!by_env.stderr.contains("s3cret"));
    let by_id = with_env(&["--secret", "id=token"]).ok();
    assert_eq!(size(&by_id).as_deref(), Some("11"), "{}", by_id.stderr);
    let left: Vec<_> = std::fs::read_dir(sandbox.store().join("tmp"))
        .expect("tmp")
        .collect();
    assert!(left.is_empty(), "tmp/ holds {left:?}");
    let unset = with_env(&["--secret", "id=token,env=BLD_TEST_UNSET"]);
    assert_eq!(
        unset.stderr,
        "error: --secret `id=token,env=BLD_TEST_UNSET`: the environment has no `BLD_TEST_UNSET`\n"
    );
    assert_eq!(unset.code, 1);
}

/// `--ssh default` forwards `$SSH_AUTH_SOCK`'s socket into the steps that mount it, as their
/// `SSH_AUTH_SOCK`; the socket stays out of the layer; a required agent not given is an error.
#[test]
fn ssh_agents_are_forwarded_to_the_steps_that_ask() {
    let sandbox = Sandbox::new();
    busybox_base(&sandbox);
    let socket = sandbox.path().join("agent.sock");
    let _agent = std::os::unix::net::UnixListener::bind(&socket).expect("a socket");
    let dir = context(
        &sandbox,
        "FROM busybox:bld\nRUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo \"agent at $SSH_AUTH_SOCK\"\n\
         RUN --mount=type=ssh,id=other echo \"optional: ${SSH_AUTH_SOCK:-none}\"\n",
    );
    let run = |flags: &[&str], ssh_auth_sock: &std::path::Path| {
        let mut args = vec!["build", "--progress", "plain", "-t", "ssh:1"];
        args.extend_from_slice(flags);
        args.push(".");
        let env = [("SSH_AUTH_SOCK", ssh_auth_sock.as_os_str())];
        run_bld_with_env(&dir, &sandbox.store(), &args, &env)
    };
    let built = run(&["--ssh", "default"], &socket).ok();
    let lines: Vec<&str> = built
        .stderr
        .lines()
        .filter(|line| line.contains(" | "))
        .collect();
    assert_eq!(
        lines,
        [
            "  Dockerfile:2 | agent at /run/buildkit/ssh_agent.0",
            "  Dockerfile:3 | optional: none",
        ]
    );
    let listing = sandbox.bld(&["run", "ssh:1", "ls", "/run"]);
    assert_ne!(
        listing.code, 0,
        "/run is not in the image: {}",
        listing.stdout
    );
    let missing = run(&["--no-cache"], &socket);
    assert_eq!(missing.code, 1);
    let step = "RUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo \"agent at $SSH_AUTH_SOCK\"";
    assert!(
        missing.stderr.ends_with(&format!(
            "error: Dockerfile:2:1: RUN: no SSH agent `default` was given: `bld build --ssh default[=SOCKET]`\n  |\n2 | {step}\n  | {}\n",
            "^".repeat(step.len())
        )),
        "{}",
        missing.stderr
    );
    let not_socket = run(&["--ssh", "default=Dockerfile"], &socket);
    assert_eq!(
        not_socket.stderr,
        "error: --ssh `default=Dockerfile`: `Dockerfile` is not an SSH agent's socket: expected ID[=SOCKET]\n"
    );
}

/// `--store-dir` relative to where bld starts: RUN steps (whose runtime runs elsewhere) find
/// the same store.
#[test]
fn a_relative_store_directory_runs_steps() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let ctx = crate::remote_cache::context(scratch.path());
    let run = crate::support::run_bld(
        scratch.path(),
        &scratch.path().join("unused"),
        &[
            "--store-dir",
            "relative",
            "build",
            "-t",
            "app:1",
            &ctx.display().to_string(),
        ],
    )
    .ok();
    assert!(run.stdout.contains("Built app:1"), "{}", run.stdout);
    assert!(scratch.path().join("relative/blobs/sha256").is_dir());
}

/// `--keep-going`: two independent failures are both reported, and the target that depends on
/// neither is built and placed in bld-out; without it the build stops at the first.
#[test]
fn keep_going_reports_every_failure_and_builds_the_rest() {
    let sandbox = crate::run_steps::workspace("FROM busybox\nRUN echo fine > /fine\n");
    for (package, code) in [("bad1", 3), ("bad2", 4)] {
        sandbox.write(
            &format!("{package}/BUILD.star"),
            "dockerfile(name = \"image\", src = \"Dockerfile\", stages = {\"busybox\": \"//base:image\"})\n",
        );
        sandbox.write(
            &format!("{package}/Dockerfile"),
            &format!("FROM busybox\nRUN exit {code}\n"),
        );
    }
    let kept = sandbox.bld(&["build", "-k", "-j", "1", "//..."]);
    assert_eq!(kept.code, 1, "{}", kept.stderr);
    for code in ["exit code: 3", "exit code: 4"] {
        assert!(kept.stderr.contains(code), "{}", kept.stderr);
    }
    assert!(kept.stderr.contains("2 actions failed"), "{}", kept.stderr);
    assert!(sandbox.ws().join("bld-out/app/image/index.json").is_file());

    std::fs::remove_dir_all(sandbox.ws().join("bld-out")).expect("clean bld-out");
    let stopped = sandbox.bld(&["build", "-j", "1", "//bad1:image", "//bad2:image"]);
    assert_eq!(stopped.code, 1);
    let failures = ["exit code: 3", "exit code: 4"]
        .iter()
        .filter(|code| stopped.stderr.contains(*code))
        .count();
    assert_eq!(failures, 1, "{}", stopped.stderr);

    let zero = sandbox.bld(&["build", "-j", "0", "//app:image"]);
    assert_eq!(zero.code, 1, "{}", zero.stderr);
    assert!(zero.stderr.contains("--jobs"), "{}", zero.stderr);
}

/// `--profile FILE.json`: a Chrome trace of the phases and of every action, runs and hits told
/// apart; one that cannot be written is a warning, not a failed build.
#[test]
fn profile_writes_a_chrome_trace_of_phases_and_actions() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let ctx = crate::remote_cache::context(scratch.path())
        .display()
        .to_string();
    let trace = scratch.path().join("trace.json");
    let profile = trace.display().to_string();
    let events = |kind: &str| -> Vec<serde_json::Value> {
        let parsed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&trace).expect("the trace")).expect("JSON");
        parsed["traceEvents"]
            .as_array()
            .expect("traceEvents")
            .iter()
            .filter(|e| e["cat"] == kind)
            .cloned()
            .collect()
    };
    let build = |profile: &str| {
        crate::support::run_bld(
            scratch.path(),
            &scratch.path().join("store"),
            &["build", "-t", "app:1", "--profile", profile, &ctx],
        )
        .ok()
    };
    build(&profile);
    let ran = events("ran");
    assert!(
        ran.iter()
            .any(|e| e["name"].as_str().unwrap_or_default().contains("RUN")),
        "{ran:?}"
    );
    assert!(
        ran.iter()
            .all(|e| e["ph"] == "X" && e["dur"].is_u64() && e["tid"].as_u64() > Some(0))
    );
    let phases: Vec<String> = events("phase")
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(phases.contains(&"execution".to_owned()), "{phases:?}");
    let first_hits = events("cache hit").len();
    build(&profile);
    assert!(events("ran").is_empty());
    assert_eq!(events("cache hit").len(), ran.len() + first_hits);
    let unwritable = build("/nonexistent-dir/trace.json");
    assert!(
        unwritable
            .stderr
            .contains("warning: --profile: cannot write"),
        "{}",
        unwritable.stderr
    );
}
