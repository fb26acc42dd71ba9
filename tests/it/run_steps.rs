//! `RUN` steps in Dockerfiles, over a busybox base built by bld itself (from the host's
//! /bin/busybox, which `busybox-static` installs).

mod adopted;

use crate::support::{Sandbox, assert_run_snapshot, tool};

const APPLETS: &[&str] = &[
    "sh", "cat", "rm", "mkdir", "id", "echo", "test", "ls", "touch",
];

pub(crate) fn workspace(dockerfile: &str) -> Sandbox {
    let symlinks: Vec<String> = APPLETS
        .iter()
        .map(|a| format!("\"bin/{a}\": \"busybox\""))
        .collect();
    let base = format!(
        "pkg_tar(name = \"root\", srcs = [\"busybox\"], package_dir = \"/bin\", mode = \"0755\", symlinks = {{{}}})\n\
         pkg_tar(name = \"etc\", srcs = [\"etc/passwd\", \"etc/group\"])\n\
         oci_image(name = \"image\", tars = [\":root\", \":etc\"], env = {{\"PATH\": \"/bin\"}})\n",
        symlinks.join(", ")
    );
    let sandbox = Sandbox::with_files(&[
        ("base/BUILD.star", &base),
        (
            "app/BUILD.star",
            "dockerfile(name = \"image\", src = \"Dockerfile\", context = glob([\"*.txt\"]), stages = {\"busybox\": \"//base:image\"})\n",
        ),
        ("app/Dockerfile", dockerfile),
        ("app/name.txt", "bld\n"),
        (
            "base/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        ),
        ("base/etc/group", "root:x:0:\nstaff:x:50:app\n"),
    ]);
    let busybox = std::fs::read("/bin/busybox")
        .expect("/bin/busybox: the README's test command installs busybox-static");
    std::fs::write(sandbox.ws().join("base/busybox"), busybox).expect("write");
    sandbox
}

/// Unpacks `//app:image`, as the last build wrote it to bld-out, into the sandbox's `name`
/// directory and returns its root filesystem.
pub(crate) fn unpack_app(sandbox: &Sandbox, name: &str) -> std::path::PathBuf {
    unpack_layout(
        &sandbox.ws().join("bld-out/app/image"),
        &sandbox.path().join(name),
    )
}

/// Unpacks the OCI layout `layout` with umoci into the bundle `bundle`; returns its rootfs.
pub(crate) fn unpack_layout(
    layout: &std::path::Path,
    bundle: &std::path::Path,
) -> std::path::PathBuf {
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &layout.display().to_string(),
            &bundle.display().to_string(),
        ],
    );
    bundle.join("rootfs")
}

#[test]
fn run_steps_change_the_filesystem_and_are_cached() {
    let sandbox = workspace(
        "FROM busybox\nARG WHO=world\nENV GREETING=hello\nCOPY name.txt /name.txt\n\
         RUN echo \"$GREETING $WHO from $(cat /name.txt)\" > /greeting && mkdir -p /var/empty && rm /name.txt\n\
         RUN [\"/bin/sh\", \"-c\", \"id -u > /uid\"]\nWORKDIR /srv\nRUN pwd > where\nCMD [\"cat\", \"/greeting\"]\n",
    );
    let first = sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("greeting"), "hello world from bld\n");
    assert_eq!(read("uid"), "0\n");
    assert_eq!(read("srv/where"), "/srv\n");
    assert!(root.join("var/empty").is_dir());
    assert!(
        !root.join("name.txt").exists(),
        "a file deleted by RUN is gone when unpacked"
    );
    assert!(
        !root.join("proc").exists() && !root.join("dev").exists(),
        "no runtime mount points in layers"
    );

    let again = sandbox.bld(&["build", "//app:image"]).ok();
    assert_eq!(
        again.counts().0,
        0,
        "a cached rebuild runs no container: {}",
        again.stdout
    );
    assert_eq!(
        first.digest_of("//app:image"),
        again.digest_of("//app:image")
    );
}

#[test]
fn a_failing_step_stops_the_build_with_its_line_code_and_output() {
    let sandbox =
        workspace("FROM busybox\nRUN echo building\nRUN echo about to fail >&2; exit 7\n");
    // The base first, so that the failing build's log has one order.
    sandbox.bld(&["build", "//base:image"]).ok();
    let run = sandbox.bld(&["build", "//app:image"]);
    crate::errors::fails_with(&run, &[]);
    assert_run_snapshot!("error_failing_run_step", sandbox, run);
    assert!(
        !sandbox.ws().join("bld-out/app/image").exists(),
        "nothing half-built is written"
    );
}

#[test]
fn bld_run_starts_the_image_like_docker_run() {
    let sandbox = workspace(
        "FROM busybox\nENV GREETING=hello\nRUN echo \"$GREETING from bld\" > /greeting\nWORKDIR /srv\nCMD [\"cat\", \"/greeting\"]\n",
    );
    let run = sandbox.bld(&["run", "--rm", "//app:image"]).ok();
    assert_eq!(run.stdout, "hello from bld\n");
    let custom = sandbox
        .bld(&[
            "run",
            "-e",
            "GREETING=hi",
            "//app:image",
            "sh",
            "-c",
            "echo $GREETING in $(pwd)",
        ])
        .ok();
    assert_eq!(custom.stdout, "hi in /srv\n");
    let code = sandbox.bld(&["run", "//app:image", "sh", "-c", "exit 5"]);
    assert_eq!(
        code.code, 5,
        "bld run exits with the command's code: {}",
        code.stderr
    );
    let missing = sandbox.bld(&["run", "nosuch:tag"]);
    assert_eq!(missing.code, 125, "docker run's code for its own failure");
    assert!(
        missing.stderr.contains("no such image: `nosuch:tag`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn user_names_resolve_through_the_images_passwd_and_group() {
    let sandbox =
        workspace("FROM busybox\nUSER app\nCMD [\"sh\", \"-c\", \"echo $(id -u):$(id -g)\"]\n");
    assert_eq!(
        sandbox.bld(&["run", "//app:image"]).ok().stdout,
        "1000:1001\n"
    );
    assert_eq!(
        sandbox
            .bld(&["run", "-u", "app:staff", "//app:image"])
            .ok()
            .stdout,
        "1000:50\n"
    );
    assert_eq!(
        sandbox.bld(&["run", "-u", "7", "//app:image"]).ok().stdout,
        "7:0\n"
    );
    let unknown = sandbox.bld(&["run", "-u", "nobody", "//app:image"]);
    assert_eq!(unknown.code, 125, "docker run's code for its own failure");
    assert!(
        unknown
            .stderr
            .contains("no user `nobody` in the image's /etc/passwd"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn steps_have_no_network_unless_the_step_the_rule_or_the_command_line_asks() {
    // /proc/net/dev has two header lines, then one per interface: 3 means loopback only.
    let sandbox = workspace(
        "FROM busybox\nRUN cat /proc/net/dev | wc -l > /default\nRUN --network=host cat /proc/net/dev | wc -l > /asked\nCMD [\"cat\", \"/default\", \"/asked\"]\n",
    );
    let lines = |run: crate::support::Run| -> Vec<u32> {
        run.stdout
            .lines()
            .map(|l| l.trim().parse().expect("a count"))
            .collect()
    };
    sandbox.bld(&["build", "//app:image"]).ok();
    let counts = lines(sandbox.bld(&["run", "//app:image"]).ok());
    assert_eq!(counts[0], 3, "no network by default");
    assert!(
        counts[1] > 3,
        "RUN --network=host sees the host's interfaces: {counts:?}"
    );

    sandbox
        .bld(&["build", "--network", "host", "//app:image"])
        .ok();
    let root = unpack_app(&sandbox, "bundle-host");
    let default: u32 = std::fs::read_to_string(root.join("default"))
        .expect("read")
        .trim()
        .parse()
        .expect("count");
    assert!(
        default > 3,
        "bld build --network host gives every step the network: {default}"
    );
    let counts = lines(sandbox.bld(&["run", "//app:image"]).ok());
    assert_eq!(
        counts[0], 3,
        "bld run builds without --network host: the cached default result"
    );

    sandbox.write(
        "app/BUILD.star",
        "dockerfile(name = \"image\", src = \"Dockerfile\", stages = {\"busybox\": \"//base:image\"}, network = \"host\")\n",
    );
    let counts = lines(sandbox.bld(&["run", "//app:image"]).ok());
    assert!(
        counts[0] > 3,
        "the rule's network = \"host\" covers every step: {counts:?}"
    );
}

#[test]
fn run_mounts_cache_tmpfs_and_secrets_stay_out_of_the_image() {
    let dockerfile = |round: u32| {
        format!(
            "FROM busybox\nENV ROUND={round}\n\
             RUN --mount=type=cache,target=/cache sh -c 'echo $ROUND >> /cache/log; cat /cache/log | wc -l > /runs'\n\
             RUN --mount=type=tmpfs,target=/scratch sh -c 'echo t > /scratch/t && test -f /scratch/t'\n\
             RUN --mount=type=secret,id=token,required=true sh -c 'cat /run/secrets/token | wc -c > /token-size; ls -l /run/secrets/token'\n"
        )
    };
    let sandbox = workspace(&dockerfile(1));
    let secret = sandbox.path().join("token");
    std::fs::write(&secret, "s3cret").expect("write");
    let secret_arg = format!("id=token,src={}", secret.display());

    let missing = sandbox.bld(&["build", "//app:image"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("the secret `token` was not given"),
        "{}",
        missing.stderr
    );

    let first = sandbox
        .bld(&["build", "--secret", &secret_arg, "//app:image"])
        .ok();
    assert!(
        first.stderr.contains("-r-------- "),
        "secrets are mounted 0400: {}",
        first.stderr
    );
    assert!(
        !first.stderr.contains("s3cret"),
        "the secret is not in the log"
    );
    let unpack = |name: &str| unpack_app(&sandbox, name);
    let root = unpack("first");
    let read = |root: &std::path::Path, p: &str| {
        std::fs::read_to_string(root.join(p))
            .expect("read")
            .trim()
            .to_owned()
    };
    assert_eq!(read(&root, "runs"), "1");
    assert_eq!(read(&root, "token-size"), "6");
    for mount_point in ["cache", "scratch", "run"] {
        assert!(
            !root.join(mount_point).exists(),
            "/{mount_point} is a mount, not part of the image"
        );
    }
    let blobs = sandbox.ws().join("bld-out/app/image/blobs/sha256");
    for blob in std::fs::read_dir(&blobs).expect("blobs") {
        let bytes = std::fs::read(blob.expect("blob").path()).expect("read");
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(bytes.as_slice()),
            &mut text,
        );
        assert!(
            !String::from_utf8_lossy(&text).contains("s3cret")
                && !String::from_utf8_lossy(&bytes).contains("s3cret")
        );
    }

    // The cache directory outlives the step: a re-run finds what the first run left.
    sandbox.write("app/Dockerfile", &dockerfile(2));
    sandbox
        .bld(&["build", "--secret", &secret_arg, "//app:image"])
        .ok();
    assert_eq!(read(&unpack("second"), "runs"), "2");
}

#[test]
fn dockerfiles_build_on_images_tagged_in_the_local_store() {
    let sandbox = crate::support::Sandbox::new();
    let base = sandbox.path().join("busybox-ctx");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::copy("/bin/busybox", base.join("busybox")).expect("copy busybox");
    std::fs::write(
        base.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .expect("write");
    let store = sandbox.store();
    crate::support::run_bld(
        &base,
        &store,
        &["build", "-t", "mirror.gcr.io/busybox", "."],
    )
    .ok();

    let app = sandbox.path().join("app-ctx");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("Dockerfile"), "FROM mirror.gcr.io/busybox\nRUN echo hi from $(basename $(readlink /bin/sh)) > /hi\nCMD [\"cat\", \"/hi\"]\n")
        .expect("write");
    crate::support::run_bld(&app, &store, &["build", "-t", "app:1", "."]).ok();
    let run = crate::support::run_bld(&app, &store, &["run", "app:1"]).ok();
    assert_eq!(run.stdout, "hi from busybox\n");
}

#[test]
fn copy_from_a_stage_with_run_steps_reads_its_built_filesystem() {
    let sandbox = workspace(
        "FROM busybox AS build\n\
         RUN mkdir -p /out/sub && echo built > /out/sub/file && ln -s file /out/sub/link && rm /bin/ls\n\
         FROM scratch\nCOPY --from=build /out /app\nCOPY --from=build --chmod=0700 /bin/busybox /bin/\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    assert_eq!(
        std::fs::read_to_string(root.join("app/sub/file")).expect("file"),
        "built\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("app/sub/link"))
            .expect("link")
            .to_str(),
        Some("file")
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(root.join("bin/busybox"))
            .expect("busybox")
            .mode()
            & 0o7777,
        0o700
    );

    sandbox.write(
        "app/Dockerfile",
        "FROM busybox AS build\nRUN rm /bin/ls\nFROM scratch\nCOPY --from=build /bin/ls /ls\n",
    );
    let deleted = sandbox.bld(&["build", "//app:image"]);
    assert_eq!(
        deleted.code, 1,
        "a file deleted in the stage is not there to copy: {}",
        deleted.stderr
    );
    assert!(deleted.stderr.contains("bin/ls"), "{}", deleted.stderr);
}

#[test]
fn bind_mounts_show_a_stage_or_the_context_read_only_and_stay_out_of_the_image() {
    let sandbox = workspace(
        "FROM busybox AS tools\nRUN mkdir -p /tools && echo 'echo from tools' > /tools/hello.sh\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=tools,source=/tools,target=/mnt/tools sh /mnt/tools/hello.sh > /out1\n\
         RUN --mount=type=bind,target=/ctx cat /ctx/name.txt > /out2 && (touch /ctx/x 2>/dev/null && echo writable || echo read-only) > /out3\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("out1"), "from tools\n");
    assert_eq!(read("out2"), "bld\n");
    assert_eq!(read("out3"), "read-only\n");
    assert!(
        !root.join("mnt").exists() && !root.join("ctx").exists(),
        "mount points stay out of the layer"
    );

    // A changed context file under the bind re-runs the step.
    sandbox.write("app/name.txt", "changed\n");
    let again = sandbox.bld(&["build", "//app:image"]).ok();
    assert!(again.counts().0 >= 1, "{}", again.stdout);
}

#[test]
fn writable_bind_mounts_take_writes_that_reach_neither_the_source_nor_the_image() {
    let sandbox = workspace(
        "FROM busybox AS tools\nRUN mkdir -p /tools && echo original > /tools/file\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=tools,source=/tools,target=/mnt/tools,rw echo changed > /mnt/tools/file && cat /mnt/tools/file > /out1\n\
         RUN --mount=type=bind,from=tools,source=/tools,target=/mnt/tools cat /mnt/tools/file > /out2\n\
         RUN --mount=type=bind,target=/ctx,readwrite echo scratch > /ctx/name.txt && touch /ctx/new && cat /ctx/name.txt > /out3\n\
         RUN --mount=type=bind,source=name.txt,target=/one.txt,rw echo over > /one.txt && cat /one.txt > /out4\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("out1"), "changed\n");
    assert_eq!(read("out2"), "original\n", "the stage itself is unchanged");
    assert_eq!(read("out3"), "scratch\n");
    assert_eq!(read("out4"), "over\n");
    assert_eq!(
        std::fs::read_to_string(sandbox.ws().join("app/name.txt")).expect("read"),
        "bld\n",
        "the context is unchanged"
    );
    assert!(!sandbox.ws().join("app/new").exists());
    for gone in ["mnt", "ctx", "one.txt"] {
        assert!(!root.join(gone).exists(), "{gone} stays out of the layer");
    }
}

#[test]
fn run_heredocs_are_scripts_for_the_shell_or_files_with_a_shebang() {
    let sandbox = workspace(
        "FROM busybox\nARG WHO=args\nENV VIA=env\n\
         RUN <<EOF\nwho=$WHO\necho \"plain $who $VIA\" > /plain\nEOF\n\
         RUN <<\"EOF\"\necho \"quoted $WHO\" > /quoted\nEOF\n\
         RUN <<EOF\n#!/bin/sh\necho \"script $0 $VIA\" > /script\nEOF\n\
         RUN cat <<ONE > /one && cat <<-TWO > /two\nfirst $WHO\nONE\n\tsecond\n\tTWO\n\
         RUN <<EOF\nexit 3\nEOF\n",
    );
    let failed = sandbox.bld(&["build", "//app:image"]);
    crate::errors::fails_with(&failed, &[]);
    assert!(
        failed.stderr.lines().any(|l| l
            == "error: app/Dockerfile:20:1: RUN: process \"/bin/sh -c exit 3\" \
                did not complete successfully: exit code: 3"),
        "{}",
        failed.stderr
    );
    let dockerfile = std::fs::read_to_string(sandbox.ws().join("app/Dockerfile")).expect("read");
    sandbox.write(
        "app/Dockerfile",
        dockerfile.trim_end_matches("RUN <<EOF\nexit 3\nEOF\n"),
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("plain"), "plain args env\n");
    assert_eq!(read("quoted"), "quoted args\n");
    assert_eq!(read("script"), "script /dev/pipes/EOF env\n");
    assert_eq!(read("one"), "first args\n");
    assert_eq!(read("two"), "second\n");
    assert!(!root.join("dev").exists(), "the script's mount stays out");
}

#[test]
fn a_terminal_gets_a_status_line_under_the_streamed_output() {
    let sandbox = workspace("FROM busybox\nRUN echo step output; sleep 0.3\n");
    // `script` gives bld a pseudo-terminal as stderr and copies what it writes.
    let command = format!("{} build //app:image", env!("CARGO_BIN_EXE_bld"));
    let output = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .output()
        .expect("script (util-linux)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    for expected in [
        "[+] ",
        "Dockerfile:2: RUN echo step output",
        "app/Dockerfile:2 | step output",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
    let last = text.rsplit('\r').find(|part| !part.trim().is_empty());
    assert!(
        last.is_some_and(|l| l.contains(" ran, ") && !l.contains("[+]")),
        "the status line is gone before the summary:\n{text:?}"
    );
    let piped = sandbox.bld(&["build", "//app:image"]).ok();
    assert!(!piped.stderr.contains("[+]"), "{}", piped.stderr);
}

#[test]
fn buildahs_heredoc_quoting_case_builds_as_buildkit_runs_it() {
    // buildah 1.28 cannot build RUN heredocs, so this is checked against BuildKit's rules: a
    // RUN heredoc is a script for the shell whatever its quoting, a COPY/ADD heredoc is
    // expanded unless its delimiter is quoted.
    let Some(data) = crate::buildah_peer::testdata() else {
        return;
    };
    let dockerfile = std::fs::read_to_string(data.join("Dockerfile.heredoc-quoting"))
        .expect("the conformance Dockerfile");
    let sandbox = workspace(&dockerfile);
    sandbox.write(
        "app/BUILD.star",
        "dockerfile(name = \"image\", src = \"Dockerfile\", stages = {\"mirror.gcr.io/busybox\": \"//base:image\"})\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    for n in 1..=4 {
        for kind in ["unquoted", "quoted"] {
            let arg = if n == 4 { "argvA2" } else { "argvA" };
            let var = if n >= 3 { "valueA2" } else { "valueA" };
            for name in [
                format!("run-argA={arg}.{kind}{n}.txt"),
                format!("run-varA={var}.{kind}{n}.txt"),
                format!("run-varB=valueB.{kind}{n}.txt"),
            ] {
                assert!(root.join(&name).is_file(), "{name} is missing");
            }
        }
    }
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        read("copy-unquoted1.txt"),
        "varB=valueB\ntouch /argA=argvA\ntouch /varA=valueA\ntouch /varB=\n"
    );
    assert_eq!(
        read("add-quoted1.txt"),
        "varB=valueB\nargA=$argA\nvarA=$varA\nvarB=$varB\n"
    );
}

#[test]
fn copy_mixes_heredocs_with_context_files_and_files_of_a_built_stage() {
    let Some(data) = crate::buildah_peer::testdata() else {
        return;
    };
    let dockerfile = std::fs::read_to_string(data.join("heredoc/Dockerfile.heredoc_copy"))
        .expect("the conformance Dockerfile");
    let sandbox = workspace(&dockerfile);
    sandbox.write("app/file", "somefile\n");
    sandbox.write(
        "app/BUILD.star",
        "dockerfile(name = \"image\", src = \"Dockerfile\", context = [\"file\"], stages = {\"mirror.gcr.io/busybox\": \"//base:image\"})\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let robots = "(robots content)\nLong file with random text\nRandom line\nHelloWorld\n";
    for dir in ["test", "test2"] {
        assert_eq!(read(&format!("{dir}/robots.txt")), robots);
        assert_eq!(read(&format!("{dir}/humans.txt")), "(humans content)\n");
    }
    assert_eq!(read("test/file"), "somefile\n");
    assert_eq!(read("test2/image_file"), "helloworld\n");

    sandbox.write(
        "app/Dockerfile",
        "FROM mirror.gcr.io/busybox\nCOPY <<one file /dest\nx\none\n",
    );
    let run = sandbox.bld(&["build", "//app:image"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.lines().next(),
        Some(
            "error: app/Dockerfile:2:1: COPY: with more than one source the destination must be a directory ending in `/`, not `/dest` (analysing `//app:image`, declared at app/BUILD.star:1:1)"
        ),
        "{}",
        run.stderr
    );
}
