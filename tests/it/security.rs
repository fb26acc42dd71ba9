//! No way out of the sandbox or the store, nothing half-made trusted, nothing left running
//! (issue 9): each test is one defect an outside campaign reproduced.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::run_steps::{unpack_app, workspace};
use crate::support::{Sandbox, tool};

/// A directory standing for the host's own files, which no build may reach.
fn host_dir(sandbox: &Sandbox) -> PathBuf {
    let host = sandbox.path().join("host");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("marker"), "host\n").expect("write");
    host
}

fn assert_host_untouched(host: &Path) {
    let names: Vec<String> = std::fs::read_dir(host)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["marker"], "nothing was written on the host");
    assert_eq!(
        std::fs::read_to_string(host.join("marker")).expect("read"),
        "host\n"
    );
}

#[test]
fn bind_mount_sources_resolve_inside_the_stage() {
    let sandbox = workspace("FROM busybox\n");
    let host = host_dir(&sandbox);
    let host = host.display();
    let stage = format!(
        "FROM busybox AS stage\n\
         RUN mkdir /real && echo image > /real/marker && ln -s {host} /hostdir && ln -s /real /inside\n"
    );
    // A symlink to a host path, or `..` up to one, names that path inside the stage, where
    // it does not exist: the step is refused before it starts.
    for source in [
        "hostdir".to_owned(),
        format!("../../../../../../../..{host}"),
        format!("/inside/../../../..{host}"),
    ] {
        sandbox.write(
            "app/Dockerfile",
            &format!(
                "{stage}FROM busybox\n\
                 RUN --mount=type=bind,from=stage,source={source},target=/m,rw sh -c 'echo pwned > /m/pwned'\n"
            ),
        );
        let run = sandbox.bld(&["build", "//app:image"]);
        assert_eq!(run.code, 1, "source={source}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr
                .contains("no such file or directory in the image"),
            "source={source}: {}",
            run.stderr
        );
        assert_host_untouched(Path::new(&host.to_string()));
    }
    // Symlinks and `..` inside the stage resolve as the stage sees them.
    sandbox.write(
        "app/Dockerfile",
        &format!(
            "{stage}FROM busybox\n\
             RUN --mount=type=bind,from=stage,source=inside,target=/m cat /m/marker > /out1\n\
             RUN --mount=type=bind,from=stage,source=../../real/../inside,target=/m cat /m/marker > /out2\n"
        ),
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    for out in ["out1", "out2"] {
        assert_eq!(
            std::fs::read_to_string(root.join(out)).expect("read"),
            "image\n"
        );
    }
}

/// The busybox base of [`workspace`], tagged `busybox:sec` for plain Dockerfile builds.
fn tagged_base(sandbox: &Sandbox) {
    sandbox.bld(&["build", "//base:image"]).ok();
    sandbox
        .bld(&["tag", "bld.local/base/image", "busybox:sec"])
        .ok();
}

#[test]
fn context_bind_mounts_show_exactly_the_context_bld_sees() {
    let sandbox = workspace("FROM busybox\n");
    tagged_base(&sandbox);
    let host = host_dir(&sandbox);
    let context = sandbox.path().join("ctx");
    std::fs::create_dir_all(context.join("dir")).expect("mkdir");
    std::os::unix::fs::symlink(&host, context.join("leak")).expect("symlink");
    std::os::unix::fs::symlink("/dir", context.join("inside")).expect("symlink");
    std::os::unix::fs::symlink("dir", context.join("rel")).expect("symlink");
    std::fs::write(context.join("kept.txt"), "kept\n").expect("write");
    std::fs::write(context.join("dir/file"), "in dir\n").expect("write");
    std::fs::write(context.join("ignored.txt"), "ignored\n").expect("write");
    std::fs::write(context.join(".dockerignore"), "ignored.txt\n").expect("write");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox:sec\n\
         RUN --mount=type=bind,target=/ctx sh -c '(test -e /ctx/leak/marker && echo leaked || echo safe) > /leak; \
         (test -e /ctx/ignored.txt && echo visible || echo hidden) > /ignored; cat /ctx/kept.txt /ctx/rel/file > /kept; (test -e /ctx/inside/file && echo host-view || echo container-view) > /absolute; \
         echo x > /ctx/new 2>/dev/null || echo read-only > /ro'\n\
         RUN --mount=type=bind,source=inside,target=/d cat /d/file > /through-symlink\n",
    )
    .expect("write");
    let out = sandbox.path().join("out");
    let build = |sandbox: &Sandbox| {
        sandbox.bld(&[
            "build",
            "-o",
            &out.display().to_string(),
            &context.display().to_string(),
        ])
    };
    build(&sandbox).ok();
    let bundle = sandbox.path().join("bundle");
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &out.display().to_string(),
            &bundle.display().to_string(),
        ],
    );
    let read = |p: &str| std::fs::read_to_string(bundle.join("rootfs").join(p)).expect(p);
    assert_eq!(
        read("leak"),
        "safe\n",
        "a context symlink resolves in the container"
    );
    assert_eq!(
        read("ignored"),
        "hidden\n",
        ".dockerignore applies to the mount"
    );
    assert_eq!(read("kept"), "kept\nin dir\n");
    assert_eq!(
        read("absolute"),
        "container-view\n",
        "symlinks stay symlinks, resolved in the container"
    );
    assert_eq!(read("ro"), "read-only\n");
    assert_eq!(
        read("through-symlink"),
        "in dir\n",
        "a mount source resolves inside the context"
    );
    assert!(!context.join("new").exists());
    assert_host_untouched(&host);

    // An ignored file is no input: changing it changes nothing. A kept one re-runs the step.
    std::fs::write(context.join("ignored.txt"), "changed\n").expect("write");
    assert_eq!(build(&sandbox).ok().counts().0, 0, "fully cached");
    std::fs::write(context.join("kept.txt"), "changed\n").expect("write");
    assert!(build(&sandbox).ok().counts().0 >= 1, "the step re-runs");

    // A source that leaves the context through a symlink is not found inside it.
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox:sec\nRUN --mount=type=bind,source=leak,target=/m,rw sh -c 'echo pwned > /m/pwned'\n",
    )
    .expect("write");
    let refused = build(&sandbox);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("in the build context"),
        "{}",
        refused.stderr
    );
    assert_host_untouched(&host);
}

#[test]
fn the_stores_unpacked_layers_containers_and_temporary_files_are_private() {
    let sandbox = workspace("FROM busybox\nRUN echo x > /x\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    for dir in ["unpacked", "tmp", "containers", "cache-mounts"] {
        let mode = std::fs::metadata(sandbox.store().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o700, "{dir}");
    }
}

/// The root directories of the store's unpacked layers.
fn unpacked_roots(store: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(store.join("unpacked"))
        .expect("unpacked")
        .map(|e| e.expect("entry").path().join("root"))
        .collect()
}

#[test]
fn damaged_or_partial_unpacked_layers_are_unpacked_again() {
    let sandbox = workspace("FROM busybox\nRUN cat /etc/passwd > /copy\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    // A file deleted from an unpacked layer, and a layer whose completion record is gone (what
    // a gc killed mid-delete, or an unpack killed mid-way, leaves).
    let roots = unpacked_roots(&sandbox.store());
    let passwd_layer = roots
        .iter()
        .find(|r| r.join("etc/passwd").exists())
        .expect("a layer with /etc/passwd");
    std::fs::remove_file(passwd_layer.join("etc/passwd")).expect("remove");
    let cat_layer = roots
        .iter()
        .find(|r| r.join("bin/cat").exists())
        .expect("a layer with /bin/cat");
    std::fs::remove_file(cat_layer.parent().expect("dir").join("record")).expect("remove");
    std::fs::remove_file(cat_layer.join("bin/cat")).expect("remove");

    sandbox.write(
        "app/Dockerfile",
        "FROM busybox\nRUN cat /etc/passwd > /copy && echo again > /again\n",
    );
    sandbox.bld(&["build", "//app:image"]).ok();
    let root = unpack_app(&sandbox, "bundle");
    assert!(
        std::fs::read_to_string(root.join("copy"))
            .expect("read")
            .starts_with("root:x:0:0")
    );
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &[u8]) -> bool {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file()
                && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                return true;
            }
        }
    }
    false
}

/// The containers the runtime knows in the store's state directory.
fn containers(store: &Path) -> Vec<String> {
    let root = store.join("containers/runc");
    if !root.exists() {
        return Vec::new();
    }
    tool(
        "runc",
        &["--root", &root.display().to_string(), "list", "-q"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Starts `bld args` in the workspace and returns the child.
fn spawn_bld(sandbox: &Sandbox, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(args)
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start bld")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_killed_build_leaves_no_container_secret_or_temporary_file_for_long() {
    let sandbox = workspace(
        "FROM busybox\nRUN --mount=type=secret,id=token sh -c 'cat /run/secrets/token > /dev/null; sleep 60'\n",
    );
    let secret = sandbox.path().join("token");
    std::fs::write(&secret, "s3cr3t-VALUE-9f2c").expect("write");
    let secret_arg = format!("id=token,src={}", secret.display());
    let mut child = spawn_bld(&sandbox, &["build", "--secret", &secret_arg, "//app:image"]);
    wait_for("the step's container", || {
        !containers(&sandbox.store()).is_empty()
    });
    assert!(
        !any_file_holds(&sandbox.store(), b"s3cr3t-VALUE-9f2c"),
        "the secret is on no disk while the step runs"
    );
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    assert_eq!(
        containers(&sandbox.store()).len(),
        1,
        "the container outlives a killed bld"
    );

    // The next build reaps it, and what the dead process left in tmp/.
    sandbox.write("app/Dockerfile", "FROM busybox\nRUN echo done > /done\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    assert_eq!(containers(&sandbox.store()), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(sandbox.store().join("tmp"))
        .expect("tmp")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "tmp/ holds {left:?}");
}
