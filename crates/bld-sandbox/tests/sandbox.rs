//! The sandbox against the real kernel and runc: layers unpacked with whiteouts, a command run
//! over them, its changes read back. Needs root, `runc` and `busybox-static` (`./dev test`
//! installs them).

use std::fs;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_sandbox::{ChangeKind, LayerSource, RunSpec, run, unpack_layer, upper_changes};

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

/// Unpacks the layer `blob` into `dir` (checked against its real digests) and returns the
/// lower directory.
fn unpack(blob: &Path, dir: &Path) -> Result<PathBuf, bld_sandbox::SandboxError> {
    let bytes = fs::read(blob).expect("read the layer");
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(bytes.as_slice()),
        &mut tar,
    )
    .expect("gunzip");
    let source = LayerSource {
        blob,
        digest: Digest::of(&bytes),
        diff_id: Digest::of(&tar),
    };
    unpack_layer(&source, dir, &temp_path)
}

/// A layer of busybox with `applets` (links to it in `/bin`), unpacked in `dir/lower`.
fn busybox_lower(dir: &Path, applets: &[&str]) -> PathBuf {
    let links: Vec<(String, &str)> = applets
        .iter()
        .map(|applet| (format!("bin/{applet}"), "busybox"))
        .collect();
    let links: Vec<(&str, &str)> = links.iter().map(|(l, t)| (l.as_str(), *t)).collect();
    let base = layer(
        dir,
        "base.tar.gz",
        &[("bin/busybox", fs::read(busybox()).expect("busybox"), 0o755)],
        &links,
    );
    unpack(&base, &dir.join("lower")).expect("unpack")
}

fn temp_path(hint: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "bld-sandbox-test-{}-{n}-{hint}",
        std::process::id()
    ))
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
        additional_gids: Vec::new(),
        hostname: "sandbox".into(),
        host_network: false,
        network_namespace: None,
        runtime: "runc".into(),
        state_dir: dir.join("containers"),
        attach: false,
        log: None,
        stdin: false,
        terminal: None,
        read_only: false,
        cap_add: Vec::new(),
        cap_drop: Vec::new(),
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
    let lowers = vec![
        unpack(&base, &dir.path().join("lower-base")).expect("unpack base"),
        unpack(&top, &dir.path().join("lower-top")).expect("unpack top"),
    ];
    assert_eq!(
        unpack(&top, &dir.path().join("lower-top")).expect("unpacking twice is a no-op"),
        lowers[1]
    );

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
    let lower = busybox_lower(dir.path(), &["sh", "cat", "wc"]);
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
    let lower = busybox_lower(dir.path(), &["sh", "id"]);
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

/// One tar entry written byte for byte, so hostile names (`..`, absolute, through symlinks)
/// reach the unpacker as an attacker would write them.
struct Raw<'a> {
    name: &'a str,
    kind: tar::EntryType,
    content: &'a [u8],
    link: &'a str,
    mode: u32,
    device: (u32, u32),
}

fn raw(name: &str, kind: tar::EntryType) -> Raw<'_> {
    Raw {
        name,
        kind,
        content: b"",
        link: "",
        mode: 0o644,
        device: (0, 0),
    }
}

fn raw_layer(dir: &Path, file: &str, entries: &[Raw<'_>]) -> PathBuf {
    let path = dir.join(file);
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(&path).expect("create"),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().expect("gnu header");
        gnu.name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
        gnu.linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
        header.set_entry_type(entry.kind);
        header.set_mode(entry.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(entry.content.len() as u64);
        header.set_device_major(entry.device.0).expect("major");
        header.set_device_minor(entry.device.1).expect("minor");
        header.set_cksum();
        tar.append(&header, entry.content).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip");
    path
}

/// Layers that try to write outside their directory: what each does, its entries (symlinks
/// point at `host_link`), and what the refusal says.
fn hostile_cases(host_link: &str) -> Vec<(&'static str, Vec<Raw<'_>>, &'static str)> {
    let symlink = |name| Raw {
        link: host_link,
        mode: 0o777,
        ..raw(name, tar::EntryType::Symlink)
    };
    vec![
        (
            "a whiteout through a symlink",
            vec![symlink("sl"), raw("sl/.wh.victim", tar::EntryType::Regular)],
            "`sl` is a symlink",
        ),
        (
            "an opaque marker through a symlink",
            vec![
                symlink("sl"),
                raw("sl/.wh..wh..opq", tar::EntryType::Regular),
            ],
            "`sl` is a symlink",
        ),
        (
            "a file through a symlink",
            vec![
                symlink("sl"),
                Raw {
                    content: b"evil",
                    ..raw("sl/victim", tar::EntryType::Regular)
                },
            ],
            "`sl` is a symlink",
        ),
        (
            "a directory through a symlink",
            vec![symlink("sl"), raw("sl/made/", tar::EntryType::Directory)],
            "`sl` is a symlink",
        ),
        (
            "a device through a symlink",
            vec![
                symlink("sl"),
                Raw {
                    device: (1, 3),
                    ..raw("sl/victim", tar::EntryType::Char)
                },
            ],
            "`sl` is a symlink",
        ),
        (
            "a `..` path",
            vec![raw("../../victim", tar::EntryType::Regular)],
            "escapes the layer",
        ),
        (
            "an absolute path",
            vec![raw("/victim", tar::EntryType::Regular)],
            "absolute path",
        ),
        (
            "a hard link out of the layer",
            vec![Raw {
                link: "../../../../etc/passwd",
                ..raw("passwd", tar::EntryType::Link)
            }],
            "escapes the layer",
        ),
        (
            "a hard link through a symlink",
            vec![
                symlink("sl"),
                Raw {
                    link: "sl/victim",
                    ..raw("stolen", tar::EntryType::Link)
                },
            ],
            "`sl` is a symlink",
        ),
    ]
}

#[test]
fn hostile_layers_never_write_outside_their_directory() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = dir.path().join("host");
    fs::create_dir_all(&host).expect("mkdir");
    fs::write(host.join("victim"), b"precious").expect("write");
    let host_link = host.to_str().expect("utf-8");
    for (i, (what, entries, expected)) in hostile_cases(host_link).iter().enumerate() {
        let blob = raw_layer(dir.path(), &format!("hostile-{i}.tar.gz"), entries);
        let unpacked = dir.path().join(format!("unpacked-{i}"));
        let error = unpack(&blob, &unpacked).expect_err(what);
        let message = error.to_string();
        assert!(message.contains(expected), "{what}: {message}");
        assert_eq!(
            bld_core::Classify::kind(&error),
            bld_core::ErrorKind::User,
            "{what}: a hostile layer is the user's error"
        );
        assert!(!unpacked.exists(), "{what}: nothing half-made is left");
        assert_eq!(
            fs::read(host.join("victim")).expect("the host file is still there"),
            b"precious",
            "{what}"
        );
        assert!(
            !fs::symlink_metadata(host.join("victim"))
                .expect("stat")
                .file_type()
                .is_char_device(),
            "{what}"
        );
        assert!(
            rustix::fs::getxattr(&host, "trusted.overlay.opaque", &mut [0u8; 4]).is_err(),
            "{what}: the host directory is not marked opaque"
        );
        assert_eq!(
            fs::read_dir(&host).expect("list").count(),
            1,
            "{what}: nothing is created on the host"
        );
    }
}

/// Device nodes are kept as device nodes (the store's unpacked layers are private, and
/// containers mount them `nodev`).
#[test]
fn device_nodes_are_unpacked_as_device_nodes() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let blob = raw_layer(
        dir.path(),
        "device.tar.gz",
        &[
            raw("dev/", tar::EntryType::Directory),
            Raw {
                device: (1, 3),
                mode: 0o666,
                ..raw("dev/null", tar::EntryType::Char)
            },
        ],
    );
    let root = unpack(&blob, &dir.path().join("unpacked-device")).expect("unpack");
    let meta = fs::symlink_metadata(root.join("dev/null")).expect("stat");
    assert!(meta.file_type().is_char_device());
    assert_eq!(
        (meta.rdev(), meta.mode() & 0o7777),
        (rustix::fs::makedev(1, 3), 0o666)
    );
}

#[test]
fn partial_or_corrupt_unpackings_are_never_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blob = layer(
        dir.path(),
        "layer.tar.gz",
        &[
            ("a/one", b"1".to_vec(), 0o644),
            ("a/two", b"2".to_vec(), 0o644),
        ],
        &[],
    );
    // What a killed unpack or a killed gc leaves: the directory without its record.
    let unpacked = dir.path().join("unpacked");
    fs::create_dir_all(unpacked.join("root/a")).expect("mkdir");
    fs::write(unpacked.join("root/a/one"), b"1").expect("write");
    let root = unpack(&blob, &unpacked).expect("unpack");
    assert_eq!(fs::read(root.join("a/two")).expect("re-unpacked"), b"2");
    assert!(unpacked.join("record").is_file());

    // A blob that does not match its digests is refused, and nothing is left.
    let mut bytes = fs::read(&blob).expect("read");
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(bytes.as_slice()),
        &mut tar,
    )
    .expect("gunzip");
    let (digest, diff_id) = (Digest::of(&bytes), Digest::of(&tar));
    let wrong_diff_id = LayerSource {
        blob: &blob,
        digest,
        diff_id: Digest::of(b"something else"),
    };
    let error =
        unpack_layer(&wrong_diff_id, &dir.path().join("other"), &temp_path).expect_err("diff ID");
    assert!(error.to_string().contains("is corrupt"), "{error}");
    assert!(!dir.path().join("other").exists());
    // A flipped byte in the gzip trailer (the content still inflates).
    let last = bytes.len() - 5;
    bytes[last] ^= 0xff;
    fs::write(&blob, &bytes).expect("corrupt");
    let source = LayerSource {
        blob: &blob,
        digest,
        diff_id,
    };
    let error =
        unpack_layer(&source, &dir.path().join("third"), &temp_path).expect_err("a flipped byte");
    assert!(!dir.path().join("third").exists(), "{error}");
}
