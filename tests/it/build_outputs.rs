//! `bld build -o`: buildx's typed outputs (`type=oci|docker|tar|local,dest=…`) beside bld's
//! own `-o DIR` (an OCI layout), checked with skopeo, tar and the filesystem.

use std::process::{Command, Stdio};

use crate::errors::fails_with;
use crate::support::{Sandbox, tool};

/// A context whose last step deletes a file an earlier layer added (a whiteout) and adds a
/// symlink pointing out of the image.
fn context() -> Sandbox {
    let sandbox = Sandbox::with_files(&[
        (
            "ctx/Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY files/ /data/\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox rm /data/gone.txt && /bin/busybox ln -s /etc /data/link && /bin/busybox echo new > /data/new.txt\"]\n",
        ),
        ("ctx/files/kept.txt", "kept\n"),
        ("ctx/files/gone.txt", "gone\n"),
    ]);
    std::fs::copy("/bin/busybox", sandbox.ws().join("ctx/busybox"))
        .expect("/bin/busybox: the README's test command installs busybox-static");
    sandbox
}

/// The merged filesystem, as `tar -tv` lists it (owner, mode, name, link target).
const FILESYSTEM: &[&str] = &[
    "drwxr-xr-x 0/0 bin/",
    "-rwxr-xr-x 0/0 bin/busybox",
    "drwxr-xr-x 0/0 data/",
    "-rw-r--r-- 0/0 data/kept.txt",
    "lrwxrwxrwx 0/0 data/link -> /etc",
    "-rw-r--r-- 0/0 data/new.txt",
];

fn listing(tar: &std::path::Path) -> Vec<String> {
    tool("tar", &["-tvf", &tar.display().to_string()])
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            format!("{} {} {}", fields[0], fields[1], fields[5..].join(" "))
        })
        .collect()
}

#[test]
fn typed_outputs_write_archives_and_the_merged_filesystem() {
    let sandbox = context();
    let ws = sandbox.ws();
    let out = |o: &str| sandbox.bld(&["build", "-t", "app:1", "-o", o, "ctx"]).ok();

    let built = out("type=tar,dest=fs.tar");
    assert!(built.stdout.contains(" → fs.tar in "), "{}", built.stdout);
    assert_eq!(listing(&ws.join("fs.tar")), FILESYSTEM);

    out("type=local,dest=fs");
    let root = format!("{}/", ws.join("fs").display());
    let mut found: Vec<String> = tool("find", &[&root, "-mindepth", "1"])
        .lines()
        .map(|line| line.trim_start_matches(&root).to_owned())
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "bin",
            "bin/busybox",
            "data",
            "data/kept.txt",
            "data/link",
            "data/new.txt"
        ]
    );
    let link = std::fs::read_link(ws.join("fs/data/link")).expect("a symlink");
    assert_eq!(link, std::path::Path::new("/etc"));
    assert_eq!(
        std::fs::read_to_string(ws.join("fs/data/kept.txt")).expect("read"),
        "kept\n"
    );
    // Written again over the first one, whole.
    out("type=local,dest=fs");
    assert!(ws.join("fs/data/new.txt").is_file());

    let manifest = sandbox.bld(&["build", "-o", "layout", "ctx"]).ok();
    let digest = manifest
        .stdout
        .split_whitespace()
        .nth(2)
        .expect("digest")
        .to_owned();
    out("type=oci,dest=oci.tar");
    let oci = tool(
        "skopeo",
        &[
            "inspect",
            &format!("oci-archive:{}", ws.join("oci.tar").display()),
        ],
    );
    assert!(oci.contains(&digest), "{oci}");
    out("type=docker,dest=docker.tar");
    let docker = tool(
        "skopeo",
        &[
            "inspect",
            &format!("docker-archive:{}", ws.join("docker.tar").display()),
        ],
    );
    assert!(docker.contains("\"Layers\""), "{docker}");
    let names = tool(
        "tar",
        &[
            "-xOf",
            &ws.join("docker.tar").display().to_string(),
            "manifest.json",
        ],
    );
    assert!(
        names.contains("\"RepoTags\":[\"docker.io/library/app:1\"]"),
        "{names}"
    );
}

#[test]
fn dest_dash_writes_to_stdout_and_the_summary_to_stderr() {
    let sandbox = context();
    let ws = sandbox.ws();
    for (output, file) in [("type=tar,dest=-", "stdout.tar"), ("-", "dash.tar")] {
        let written = Command::new(env!("CARGO_BIN_EXE_bld"))
            .args(["build", "-o", output, "ctx"])
            .current_dir(&ws)
            .env("BLD_STORE", sandbox.store())
            .stdout(Stdio::from(
                std::fs::File::create(ws.join(file)).expect("create"),
            ))
            .output()
            .expect("run bld");
        assert!(written.status.success());
        let stderr = String::from_utf8_lossy(&written.stderr);
        assert!(stderr.contains(" → stdout in "), "{stderr}");
        assert_eq!(listing(&ws.join(file)), FILESYSTEM);
    }
}

#[test]
fn bad_outputs_are_refused_naming_the_value_or_the_path() {
    let sandbox = context();
    std::fs::create_dir(sandbox.ws().join("a-dir")).expect("mkdir");
    std::fs::write(sandbox.ws().join("a-file"), "").expect("write");
    let cases = [
        (
            "type=x,dest=f",
            "error: unknown output type `x`: expected oci, docker, tar or local\n",
        ),
        (
            "type=tar",
            "error: --output `type=tar`: type=tar needs `dest=…`\n",
        ),
        (
            "type=oci,name=x,dest=f",
            "error: --output `type=oci,name=x,dest=f`: unknown key `name`: expected type and dest\n",
        ),
        (
            "type=local,dest=-",
            "error: --output `type=local,dest=-`: type=local writes a directory: give `dest=DIR`, or type=tar for stdout\n",
        ),
        (
            "type=tar,dest=a-dir",
            "error: cannot write `a-dir`: it is a directory; give a file name\n",
        ),
        (
            "type=local,dest=a-file",
            "error: cannot write `a-file`: it is not a directory\n",
        ),
    ];
    for (output, message) in cases {
        let run = sandbox.bld(&["build", "-q", "-o", output, "ctx"]);
        fails_with(&run, &[message]);
        assert_eq!(run.stderr, message);
    }
    // Nothing was left beside the destinations.
    let names: Vec<_> = std::fs::read_dir(sandbox.ws())
        .expect("read")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}
