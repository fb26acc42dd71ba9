//! No way out of the sandbox: bind mounts resolve inside their stage or context, and a
//! hostile layer's entries touch nothing outside the image.

use std::path::Path;

use super::{assert_host_untouched, host_dir};
use crate::errors::fails_with;
use crate::run_steps::{unpack_app, unpack_layout, workspace};
use crate::support::Sandbox;

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
        eprintln!("case: source={source}");
        fails_with(
            &sandbox.bld(&["build", "//app:image"]),
            &["no such file or directory in the image"],
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
    let root = unpack_layout(&out, &sandbox.path().join("bundle"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
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
    fails_with(&build(&sandbox), &["in the build context"]);
    assert_host_untouched(&host);
}

/// A docker-archive (`docker save` format) of one image `hostile:1` whose only layer is the
/// plain tar `layer`.
fn archive_with_layer(layer: &[u8]) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [bld_core::Digest::of(layer).to_string()]},
    })
    .to_string();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["hostile:1"],
        "Layers": ["layer.tar"],
    }])
    .to_string();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("layer.tar", layer),
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data).expect("append");
    }
    tar.into_inner().expect("tar")
}

/// A plain layer tar holding one entry named `name` exactly (bytes as an attacker writes
/// them).
fn layer_with_entry(name: &str, kind: tar::EntryType, link: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().expect("gnu");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(if kind == tar::EntryType::Regular {
        4
    } else {
        0
    });
    header.set_cksum();
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"evil"
    } else {
        b""
    };
    tar.append(&header, data).expect("append");
    tar.into_inner().expect("tar")
}

#[test]
fn hostile_layer_entries_are_the_users_error_and_touch_nothing() {
    let sandbox = Sandbox::new();
    let host = host_dir(&sandbox);
    for (what, layer) in [
        (
            "`..`",
            layer_with_entry("../../../../../../escaped", tar::EntryType::Regular, ""),
        ),
        (
            "absolute",
            layer_with_entry("/escaped", tar::EntryType::Regular, ""),
        ),
        (
            "hard link",
            layer_with_entry("stolen", tar::EntryType::Link, "../../../../etc/passwd"),
        ),
    ] {
        let archive = sandbox.path().join("hostile.tar");
        std::fs::write(&archive, archive_with_layer(&layer)).expect("write");
        sandbox
            .bld(&["load", "-i", &archive.display().to_string()])
            .ok();
        eprintln!("case: {what}");
        let run = sandbox.bld(&["run", "--rm", "hostile:1"]);
        assert_eq!(run.code, 125, "docker run's code for its own failure");
        assert!(run.stderr.contains("cannot be unpacked"), "{}", run.stderr);
        assert_host_untouched(&host);
        assert!(!Path::new("/escaped").exists());
        sandbox.bld(&["rmi", "hostile:1"]).ok();
    }
}
