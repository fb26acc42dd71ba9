//! bld against Docker itself: Debian's `docker.io` daemon (dockerd 20.10 with BuildKit),
//! started by the test on a private socket and data root, stopped by its PID. The same
//! Dockerfile and context are built by both; the unpacked filesystems (path, type, mode,
//! owner, content, link target, device numbers, hard links, extended attributes), the runtime
//! configs and the histories (each entry's `created_by`, `comment` and `empty_layer`) must be
//! equal.
//!
//! Differences that are by design are normalized away here, and listed:
//! - mtimes: bld clamps them to SOURCE_DATE_EPOCH; Docker keeps the context's.
//! - history times: bld's are SOURCE_DATE_EPOCH too, so they are not compared.
//! - history comments: bld writes `bld.dockerfile.v0` where BuildKit writes
//!   `buildkit.dockerfile.v0`: the comment names who made the entry (the reasons are at
//!   `bld_dockerfile_lower`'s `history::COMMENT`).

mod cases;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::peers;
use crate::support::{Run, run_bld, tool};
use cases::{CASES, Case};

#[path = "../../benches/shared/dockerd.rs"]
mod dockerd;

pub use dockerd::Dockerd;

impl Dockerd {
    /// The image `tag` as an OCI layout at `layout` (`docker save`, then skopeo).
    pub fn layout(&self, tag: &str, layout: &Path) {
        let archive = layout.with_extension("tar");
        let saved = self.docker(&["save", "-o", &archive.display().to_string(), tag]);
        assert!(
            saved.status.success(),
            "docker save: {}",
            text(&saved.stderr)
        );
        tool(
            "skopeo",
            &[
                "copy",
                &format!("docker-archive:{}", archive.display()),
                &format!("oci:{}:latest", layout.display()),
            ],
        );
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// The last lines of BuildKit's log, where its error is.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// The busybox base both build on, from the host's /bin/busybox by the same Dockerfile.
fn build_busybox_base(scratch: &Path, store: &Path, docker: &Dockerd) {
    let base = peers::bld_busybox_base(scratch, store);
    let made = docker.build(&base, "busybox:latest");
    assert!(
        made.status.success(),
        "docker busybox: {}",
        text(&made.stderr)
    );
}

/// How one case differs: in what (`build`: one of them failed; `filesystem`; `config`;
/// `history`), and the details.
struct Difference {
    case: String,
    what: &'static str,
    details: String,
}

/// One build both make: its name, context, Dockerfile (`None`: the context's `Dockerfile`),
/// `--build-arg`s, and whether it must build (`Some(false)`: must fail; `None`: either, as long
/// as both agree).
struct Build<'a> {
    name: String,
    context: PathBuf,
    dockerfile: Option<PathBuf>,
    build_args: &'a [&'a str],
    builds: Option<bool>,
}

/// Differences Docker shows today, each to be made to behave as Docker does (issue 11 names
/// them); the test fails when one goes away (take it off the list) or a new one appears.
const KNOWN: &[(&str, &str)] = &[];

/// Builds `case` with both in `work` and says how they differ.
fn compare(
    scratch: &Path,
    store: &Path,
    docker: &Dockerd,
    case: &'static Case,
    work: &Path,
) -> Vec<Difference> {
    let context = work.join("context");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(context.join("Dockerfile"), case.dockerfile).expect("write");
    for (path, content) in case.files {
        let path = context.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    for (_, path, make) in cases::MADE_FILES
        .iter()
        .filter(|(name, ..)| *name == case.name)
    {
        std::fs::write(context.join(path), make()).expect("write");
    }
    let build = Build {
        name: case.name.to_owned(),
        context,
        dockerfile: None,
        build_args: case.build_args,
        builds: Some(!case.fails),
    };
    compare_build(scratch, store, docker, &build, work)
}

/// Makes `build` with both in `work` and says how the images differ.
fn compare_build(
    scratch: &Path,
    store: &Path,
    docker: &Dockerd,
    build: &Build<'_>,
    work: &Path,
) -> Vec<Difference> {
    let bld_layout = work.join("bld");
    let mut args = vec![
        "build".to_owned(),
        "-o".to_owned(),
        bld_layout.display().to_string(),
    ];
    for arg in build.build_args {
        args.extend(["--build-arg".to_owned(), (*arg).to_owned()]);
    }
    let mut dockerfile_flag = Vec::new();
    if let Some(dockerfile) = &build.dockerfile {
        dockerfile_flag = vec!["-f".to_owned(), dockerfile.display().to_string()];
    }
    args.extend(dockerfile_flag.iter().cloned());
    args.push(build.context.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bld: Run = run_bld(scratch, store, &args);
    let tag = format!(
        "case-{}:1",
        work.file_name().expect("name").to_string_lossy()
    );
    let mut command = docker.build_command(&build.context, &tag);
    command.args(&dockerfile_flag);
    for arg in build.build_args {
        command.args(["--build-arg", arg]);
    }
    let peer = command.output().expect("run docker");
    let built = (bld.code == 0, peer.status.success());
    let expected = match build.builds {
        Some(true) if built != (true, true) => "expected to be built by both: ",
        Some(false) if built != (false, false) => "expected to be refused by both: ",
        _ if built.0 != built.1 => "",
        _ if built.0 => {
            let peer_layout = work.join("docker");
            docker.layout(&tag, &peer_layout);
            return compare_images(&build.name, work, &bld_layout, &peer_layout);
        }
        _ => return Vec::new(), // refused by both, as may be
    };
    vec![Difference {
        case: build.name.clone(),
        what: "build",
        details: format!(
            "{expected}bld exit {} / docker {}\n  bld: {}\n  docker: {}",
            bld.code,
            peer.status,
            bld.stderr.trim(),
            tail(&text(&peer.stderr))
        ),
    }]
}

/// How the images of the build `name` in the OCI layouts `bld_layout` and `peer_layout`
/// differ.
fn compare_images(
    name: &str,
    work: &Path,
    bld_layout: &Path,
    peer_layout: &Path,
) -> Vec<Difference> {
    let difference = |what, details| Difference {
        case: name.to_owned(),
        what,
        details,
    };
    let mut ours = peers::unpacked_listing(&bld_layout.display().to_string(), &work.join("b1"));
    let mut theirs = peers::unpacked_listing(
        &format!("{}:latest", peer_layout.display()),
        &work.join("b2"),
    );
    ours.retain(|p, _| !peers::runtime_leftover(p, &[]));
    theirs.retain(|p, _| !peers::runtime_leftover(p, &[]));
    let mut report = Vec::new();
    if ours != theirs {
        let diff = peers::differences(&ours, &theirs, "docker");
        report.push(difference("filesystem", diff.join("\n")));
    }
    let (ours, theirs) = (
        peers::image_config(bld_layout),
        peers::image_config(peer_layout),
    );
    if ours["config"] != theirs["config"] {
        report.push(difference(
            "config",
            format!("  bld: {}\n  docker: {}", ours["config"], theirs["config"]),
        ));
    }
    let (ours, theirs) = (history(&ours), history(&theirs));
    if ours != theirs {
        let lines: Vec<String> = (0..ours.len().max(theirs.len()))
            .filter(|i| ours.get(*i) != theirs.get(*i))
            .map(|i| {
                format!(
                    "    {i}: bld {:?}\n       docker {:?}",
                    ours.get(i),
                    theirs.get(i)
                )
            })
            .collect();
        report.push(difference("history", lines.join("\n")));
    }
    report
}

/// An image's history as compared: each entry's `created_by`, `comment` and `empty_layer`,
/// bld's comment read as BuildKit's (see the header); not the times.
fn history(config: &Value) -> Vec<String> {
    let entries = config["history"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|entry| {
            let comment = match entry["comment"].as_str() {
                Some("bld.dockerfile.v0") => Some("buildkit.dockerfile.v0"),
                other => other,
            };
            format!(
                "{} | {comment:?} | empty_layer {}",
                entry["created_by"].as_str().unwrap_or_default(),
                entry["empty_layer"].as_bool().unwrap_or(false)
            )
        })
        .collect()
}

#[test]
fn dockerfiles_build_as_docker_builds_them() {
    let Some(docker) = Dockerd::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = scratch.path().join("store");
    build_busybox_base(scratch.path(), &store, &docker);
    let mut report = Vec::new();
    for case in CASES {
        let work: PathBuf = scratch.path().join(case.name);
        report.extend(compare(scratch.path(), &store, &docker, case, &work));
    }
    assert_known(&report, KNOWN);
}

/// Fails unless `report` differs exactly as `known` says.
fn assert_known(report: &[Difference], known: &[(&str, &str)]) {
    let found: Vec<(&str, &str)> = report.iter().map(|d| (d.case.as_str(), d.what)).collect();
    let details: Vec<String> = report
        .iter()
        .filter(|d| !known.contains(&(d.case.as_str(), d.what)))
        .map(|d| format!("{} ({}):\n{}", d.case, d.what, d.details))
        .collect();
    assert_eq!(
        found,
        known,
        "bld and Docker differ otherwise than known:\n{}",
        details.join("\n")
    );
}

/// Differences Docker shows on buildah's contexts, each with its reason.
const KNOWN_ON_BUILDAHS: &[(&str, &str)] = &[
    // `**` then `!folder1/file`, and `ADD folder1`: BuildKit 0.8's context walk (fsutil of
    // 2020) sends `folder1` because an exception's text starts with it, though nothing in it
    // is re-included, so its ADD copies an empty directory. bld keeps an excluded directory
    // only for what it holds, as later fsutil does (parent directories sent with an included
    // child only), and says the source is missing.
    ("dockerignore/allowlist/subdir-nofile/Dockerfile ", "build"),
];

/// buildah's conformance contexts (the `scratch` cases `buildah_peer` compares with buildah)
/// built by Docker too: Docker is the reference where the two differ.
#[test]
fn buildahs_contexts_build_as_docker_builds_them() {
    let Some(data) = crate::buildah_peer::testdata() else {
        return;
    };
    let Some(docker) = Dockerd::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = scratch.path().join("store");
    let mut report = Vec::new();
    for (index, case) in crate::buildah_peer::CASES.iter().enumerate() {
        let context = data.join(case.dir);
        let build = Build {
            name: format!(
                "{}/{} {}",
                case.dir,
                case.dockerfile,
                case.build_args.join(" ")
            ),
            dockerfile: Some(context.join(case.dockerfile)),
            context,
            build_args: case.build_args,
            builds: None,
        };
        let work = scratch.path().join(format!("buildah-{index}"));
        report.extend(compare_build(
            scratch.path(),
            &store,
            &docker,
            &build,
            &work,
        ));
    }
    assert_known(&report, KNOWN_ON_BUILDAHS);
}

/// `bld save | docker load` and `docker save | bld load` keep the image ID, and the loaded
/// image runs on the other side.
#[test]
fn images_round_trip_through_docker_with_the_same_id() {
    let Some(docker) = Dockerd::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = scratch.path().join("store");
    build_busybox_base(scratch.path(), &store, &docker);
    let context = scratch.path().join("app");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN echo made > /made\nCMD [\"cat\", \"/made\"]\n",
    )
    .expect("write");
    let context_text = context.display().to_string();
    let bld = |args: &[&str]| run_bld(scratch.path(), &store, args).ok();
    let id_in_bld = |name: &str| bld(&["image", "inspect", "--format", "{{.Id}}", name]).stdout;
    let id_in_docker = |name: &str| {
        text(
            &docker
                .docker(&["image", "inspect", "--format", "{{.Id}}", name])
                .stdout,
        )
    };

    bld(&["build", "-t", "from-bld:1", &context_text]);
    let archive = scratch.path().join("from-bld.tar").display().to_string();
    bld(&["save", "-o", &archive, "from-bld:1"]);
    let loaded = docker.docker(&["load", "-i", &archive]);
    assert!(
        loaded.status.success(),
        "docker load: {}",
        text(&loaded.stderr)
    );
    assert_eq!(id_in_bld("from-bld:1").trim(), id_in_docker("from-bld:1"));
    let ran = docker.docker(&["run", "--rm", "--network", "none", "from-bld:1"]);
    assert_eq!(text(&ran.stdout), "made", "{}", text(&ran.stderr));

    let built = docker.build(&context, "from-docker:1");
    assert!(
        built.status.success(),
        "docker build: {}",
        text(&built.stderr)
    );
    let archive = scratch.path().join("from-docker.tar").display().to_string();
    let saved = docker.docker(&["save", "-o", &archive, "from-docker:1"]);
    assert!(
        saved.status.success(),
        "docker save: {}",
        text(&saved.stderr)
    );
    bld(&["load", "-i", &archive]);
    assert_eq!(
        id_in_bld("from-docker:1").trim(),
        id_in_docker("from-docker:1")
    );
    assert_eq!(bld(&["run", "from-docker:1"]).stdout, "made\n");
}
