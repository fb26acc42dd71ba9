//! What a container mounts and may do: named and anonymous volumes (an image's `VOLUME`s,
//! filled from the image), binds, tmpfs, `--read-only`, capabilities and `--init`.

use std::path::Path;

use crate::peers::bld_busybox_base;
use crate::support::{Run, run_bld};

fn bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args).ok()
}

fn try_bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args)
}

/// `busybox` and `seeded`: busybox with `/data/seed` in it and `VOLUME /data`.
fn images(scratch: &Path) {
    bld_busybox_base(scratch, &scratch.join("store"));
    let context = scratch.join("seeded");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN mkdir /data && echo seed > /data/seed\nVOLUME /data\n",
    )
    .expect("write");
    bld(
        scratch,
        &["build", "-t", "seeded", &context.display().to_string()],
    );
}

#[test]
fn volumes_outlive_containers_and_image_volumes_start_with_the_images_files() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    images(scratch);
    bld(
        scratch,
        &[
            "run",
            "--rm",
            "-v",
            "keep:/k",
            "busybox",
            "sh",
            "-c",
            "echo kept > /k/f",
        ],
    );
    let read = bld(
        scratch,
        &[
            "run",
            "--rm",
            "-v",
            "keep:/again",
            "busybox",
            "cat",
            "/again/f",
        ],
    );
    assert_eq!(read.stdout, "kept\n");
    // The image's VOLUME: a new anonymous volume, filled with what the image has there.
    bld(
        scratch,
        &[
            "run",
            "--name",
            "s",
            "seeded",
            "sh",
            "-c",
            "cat /data/seed && echo more > /data/more",
        ],
    );
    let volumes = bld(scratch, &["volume", "ls", "-q"]).stdout;
    let anonymous: Vec<&str> = volumes.lines().filter(|v| v.len() == 64).collect();
    assert_eq!(anonymous.len(), 1, "{volumes}");
    assert_eq!(
        bld(scratch, &["diff", "s"]).stdout,
        "",
        "a volume's writes are not changes"
    );
    let refused = try_bld(scratch, &["volume", "rm", anonymous[0]]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("volume is in use"),
        "{}",
        refused.stderr
    );
    bld(scratch, &["rm", "-v", "s"]);
    assert_eq!(bld(scratch, &["volume", "ls", "-q"]).stdout, "keep\n");
    // `--rm` takes its anonymous volumes with it; a named volume is not filled over.
    bld(scratch, &["run", "--rm", "seeded", "true"]);
    assert_eq!(bld(scratch, &["volume", "ls", "-q"]).stdout, "keep\n");
    let over = bld(
        scratch,
        &["run", "--rm", "-v", "keep:/data", "seeded", "ls", "/data"],
    );
    assert_eq!(over.stdout, "f\n");
    let pruned = bld(scratch, &["volume", "prune", "-a", "-f"]);
    assert!(pruned.stdout.contains("keep"), "{}", pruned.stdout);
    assert_eq!(bld(scratch, &["volume", "ls", "-q"]).stdout, "");
}

#[test]
fn binds_and_mount_errors_behave_as_dockers() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    images(scratch);
    let host = scratch.join("host");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("in"), "from the host\n").expect("write");
    let rw = format!("{}:/h", host.display());
    bld(
        scratch,
        &[
            "run",
            "--rm",
            "-v",
            &rw,
            "busybox",
            "sh",
            "-c",
            "cat /h/in > /h/out",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(host.join("out")).expect("out"),
        "from the host\n"
    );
    let ro = format!("type=bind,source={},target=/h,readonly", host.display());
    let refused = try_bld(
        scratch,
        &["run", "--rm", "--mount", &ro, "busybox", "touch", "/h/x"],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("Read-only file system"),
        "{}",
        refused.stderr
    );
    let missing = try_bld(
        scratch,
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,source=/no/such,target=/x",
            "busybox",
            "true",
        ],
    );
    assert_eq!(missing.code, 125);
    assert!(
        missing.stderr.contains("bind source path does not exist"),
        "{}",
        missing.stderr
    );
    let relative = try_bld(
        scratch,
        &["run", "--rm", "-v", "name:rel", "busybox", "true"],
    );
    assert!(
        relative.stderr.contains("mount path must be absolute"),
        "{}",
        relative.stderr
    );
}

#[test]
fn a_read_only_root_takes_writes_only_in_its_tmpfs() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let read_only = try_bld(
        scratch,
        &[
            "run",
            "--rm",
            "--read-only",
            "--tmpfs",
            "/scratch",
            "busybox",
            "sh",
            "-c",
            "echo ok > /scratch/f && cat /scratch/f && touch /etc/x",
        ],
    );
    assert_eq!(read_only.stdout, "ok\n");
    assert_eq!(read_only.code, 1);
    assert!(
        read_only.stderr.contains("Read-only file system"),
        "{}",
        read_only.stderr
    );
}

/// The capabilities a container's process has, from its `/proc/self/status`.
fn effective_capabilities(scratch: &Path, flags: &[&str]) -> u64 {
    let mut args = vec!["run", "--rm"];
    args.extend(flags);
    args.extend(["busybox", "grep", "CapEff", "/proc/self/status"]);
    let status = bld(scratch, &args).stdout;
    let hex = status.split_whitespace().nth(1).expect("CapEff value");
    u64::from_str_radix(hex, 16).expect("hex")
}

#[test]
fn capabilities_are_dockers_defaults_with_adds_and_drops_and_init_is_tini() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    images(scratch);
    const CHOWN: u64 = 1 << 0;
    const NET_ADMIN: u64 = 1 << 12;
    const SYS_ADMIN: u64 = 1 << 21;
    // Docker's 14 defaults: 0xa80425fb.
    assert_eq!(effective_capabilities(scratch, &[]), 0xa804_25fb);
    assert_eq!(
        effective_capabilities(scratch, &["--cap-drop", "chown"]),
        0xa804_25fb & !CHOWN
    );
    let added = effective_capabilities(scratch, &["--cap-add", "CAP_NET_ADMIN"]);
    assert_eq!(added, 0xa804_25fb | NET_ADMIN);
    assert_eq!(effective_capabilities(scratch, &["--cap-drop", "ALL"]), 0);
    let all = effective_capabilities(scratch, &["--cap-add", "ALL"]);
    assert_ne!(all & SYS_ADMIN, 0);
    // A user other than root has none, as in Docker.
    assert_eq!(effective_capabilities(scratch, &["-u", "1000"]), 0);
    let bogus = try_bld(
        scratch,
        &["run", "--rm", "--cap-add", "bogus", "busybox", "true"],
    );
    assert_eq!(bogus.code, 125);
    assert!(
        bogus.stderr.contains("unknown capability: \"bogus\""),
        "{}",
        bogus.stderr
    );
    if !Path::new("/usr/bin/tini-static").exists() {
        eprintln!("skipped --init: no /usr/bin/tini-static (Debian's tini)");
        return;
    }
    let init = bld(
        scratch,
        &[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "tr '\\0' ' ' < /proc/1/cmdline",
        ],
    );
    assert!(
        init.stdout.starts_with("/sbin/docker-init -- sh -c"),
        "{}",
        init.stdout
    );
}
