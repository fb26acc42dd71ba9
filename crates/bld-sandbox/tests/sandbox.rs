//! The sandbox against the real kernel and runc: layers unpacked with whiteouts, a command run
//! over them, its changes read back. Needs root, `runc` and `busybox-static` (`./dev test`
//! installs them).

use std::fs;
use std::path::{Path, PathBuf};

use bld_sandbox::{ChangeKind, RunSpec, run, unpack_layer, upper_changes};

fn busybox() -> PathBuf {
    let path = PathBuf::from("/bin/busybox");
    assert!(
        path.is_file(),
        "/bin/busybox is missing: the README's test command installs busybox-static"
    );
    path
}

/// A gzip layer tar with `files` (path, content), `links` (path, target) and `empties` (empty
/// files, such as whiteouts).
fn layer(
    dir: &Path,
    name: &str,
    files: &[(&str, Vec<u8>, u32)],
    links: &[(&str, &str)],
) -> PathBuf {
    let path = dir.join(name);
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(&path).expect("create"),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, content.as_slice())
            .expect("append");
    }
    for (name, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        tar.append_link(&mut header, name, target).expect("link");
    }
    tar.into_inner().expect("tar").finish().expect("gzip");
    path
}

fn spec(dir: &Path, lowers: Vec<PathBuf>, script: &str) -> RunSpec {
    RunSpec {
        lowers,
        work_dir: dir.join(format!("run-{}", script.len())),
        args: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into(), "FOO=bar".into()],
        cwd: "/work".into(),
        uid: 0,
        gid: 0,
        host_network: false,
        runtime: "runc".into(),
        attach: false,
        mounts: Vec::new(),
        overlays: Vec::new(),
    }
}

#[test]
fn a_step_runs_over_unpacked_layers_and_its_changes_are_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = layer(
        dir.path(),
        "base.tar.gz",
        &[
            ("bin/busybox", fs::read(busybox()).expect("busybox"), 0o755),
            ("etc/old", b"old\n".to_vec(), 0o644),
            ("etc/keep", b"keep\n".to_vec(), 0o644),
            ("data/x/file", b"x\n".to_vec(), 0o644),
        ],
        &[
            ("bin/sh", "busybox"),
            ("bin/cat", "busybox"),
            ("bin/rm", "busybox"),
            ("bin/mkdir", "busybox"),
            ("bin/test", "busybox"),
            ("bin/wc", "busybox"),
        ],
    );
    let top = layer(
        dir.path(),
        "top.tar.gz",
        &[
            ("etc/.wh.old", Vec::new(), 0o644),
            ("data/.wh..wh..opq", Vec::new(), 0o644),
            ("data/new", b"new\n".to_vec(), 0o644),
        ],
        &[],
    );
    let lowers = vec![dir.path().join("lower-base"), dir.path().join("lower-top")];
    unpack_layer(&base, &lowers[0]).expect("unpack base");
    unpack_layer(&top, &lowers[1]).expect("unpack top");
    unpack_layer(&top, &lowers[1]).expect("unpacking twice is a no-op");

    let script = "test ! -e /etc/old && test ! -e /data/x && test -e /data/new && echo hi > /out && rm /etc/keep && mkdir -p /made && echo $FOO > /made/env && pwd";
    let outcome = run(&spec(dir.path(), lowers.clone(), script), &|_| {}).expect("run");
    assert_eq!(
        outcome.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(&outcome.output)
    );
    assert_eq!(String::from_utf8_lossy(&outcome.output), "/work\n");
    let changes = upper_changes(&outcome.upper).expect("changes");
    let kinds: Vec<(String, ChangeKind)> = changes
        .iter()
        .map(|c| (c.path.clone(), c.kind.clone()))
        .collect();
    let find = |p: &str| {
        kinds
            .iter()
            .find(|(path, _)| path == p)
            .map(|(_, k)| k.clone())
    };
    assert!(
        matches!(find("out"), Some(ChangeKind::File { .. })),
        "{kinds:?}"
    );
    assert_eq!(find("etc/keep"), Some(ChangeKind::Whiteout), "{kinds:?}");
    assert!(
        matches!(find("made"), Some(ChangeKind::Dir { opaque: false })),
        "{kinds:?}"
    );
    assert!(
        matches!(find("work"), Some(ChangeKind::Dir { .. })),
        "WORKDIR is created: {kinds:?}"
    );
    assert_eq!(
        fs::read_to_string(outcome.upper.join("made/env")).expect("env"),
        "bar\n"
    );
    assert!(
        find("bin/busybox").is_none(),
        "unchanged files are not in the upper layer"
    );
}

#[test]
fn failures_exit_codes_and_the_network_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = layer(
        dir.path(),
        "base.tar.gz",
        &[("bin/busybox", fs::read(busybox()).expect("busybox"), 0o755)],
        &[
            ("bin/sh", "busybox"),
            ("bin/cat", "busybox"),
            ("bin/wc", "busybox"),
        ],
    );
    let lower = dir.path().join("lower");
    unpack_layer(&base, &lower).expect("unpack");
    let lines = std::cell::RefCell::new(Vec::new());
    let outcome = run(
        &spec(
            dir.path(),
            vec![lower.clone()],
            "echo one; echo oops >&2; exit 3",
        ),
        &|line| lines.borrow_mut().push(line.to_owned()),
    )
    .expect("run");
    assert_eq!(outcome.exit_code, 3);
    // Both streams arrive line by line; runc does not promise their relative order.
    let mut lines = lines.into_inner();
    lines.sort();
    assert_eq!(lines, ["one", "oops"], "both streams, line by line");

    // Only the loopback interface: two header lines and `lo`.
    let outcome = run(
        &spec(dir.path(), vec![lower.clone()], "cat /proc/net/dev | wc -l"),
        &|_| {},
    )
    .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&outcome.output).trim(),
        "3",
        "no network unless asked"
    );

    let mut missing = spec(dir.path(), vec![lower], "true");
    missing.runtime = "no-such-runtime".into();
    let error = run(&missing, &|_| {}).expect_err("missing runtime");
    assert!(
        error
            .to_string()
            .contains("apt-get install no-such-runtime"),
        "{error}"
    );
}

#[test]
fn crun_runs_steps_too_whatever_the_cgroup_hierarchy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = layer(
        dir.path(),
        "base.tar.gz",
        &[("bin/busybox", fs::read(busybox()).expect("busybox"), 0o755)],
        &[("bin/sh", "busybox"), ("bin/id", "busybox")],
    );
    let lower = dir.path().join("lower");
    unpack_layer(&base, &lower).expect("unpack");
    let mut crun = spec(dir.path(), vec![lower], "id -u > /uid; echo ran; exit 4");
    crun.runtime = "crun".into();
    let outcome =
        run(&crun, &|_| {}).expect("run with crun (the README's test command installs it)");
    assert_eq!(
        (
            outcome.exit_code,
            String::from_utf8_lossy(&outcome.output).trim()
        ),
        (4, "ran")
    );
    assert_eq!(
        fs::read_to_string(outcome.upper.join("uid")).expect("uid"),
        "0\n"
    );
}
