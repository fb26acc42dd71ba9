//! bld against buildah on buildah's own conformance contexts: every Dockerfile there that
//! needs only `scratch` and no `RUN` must give the same filesystem (paths, types, modes,
//! owners, contents, link targets) and the same runtime config as `buildah bud`.
//!
//! Differences that are by design are normalized away here, and listed:
//! - mtimes: bld clamps them to SOURCE_DATE_EPOCH so builds are reproducible; buildah keeps
//!   the context's.
//! - buildah adds the label `io.buildah.version`.
//! - `WorkingDir: "/"`: bld sets it on an image built on `scratch`, as Docker's BuildKit does
//!   (`tests/it/docker_peer.rs` holds bld to that); buildah leaves it unset, which a runtime
//!   reads as `/` too.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::peers;
use crate::support::{Run, run_bld};

#[path = "../../benches/shared/buildah_flags.rs"]
mod buildah_flags;
use buildah_flags::{BUD_ISOLATED_RUN, BUD_WITHOUT_RUN};

/// One of buildah's contexts, a Dockerfile in it and the `--build-arg`s (`docker_peer` builds
/// the same with Docker).
pub(crate) struct Case {
    pub(crate) dir: &'static str,
    pub(crate) dockerfile: &'static str,
    pub(crate) build_args: &'static [&'static str],
}

const fn case(dir: &'static str, dockerfile: &'static str) -> Case {
    Case {
        dir,
        dockerfile,
        build_args: &[],
    }
}

pub(crate) const CASES: &[Case] = &[
    case("add/archive", "Dockerfile.1"),
    case("add/archive", "Dockerfile.2"),
    case("add/archive", "Dockerfile.3"),
    case("add/archive", "Dockerfile.4"),
    case("add/archive", "Dockerfile.5"),
    case("add/archive", "Dockerfile.6"),
    case("add/archive", "Dockerfile.7"),
    case("add/parent-symlink", "Dockerfile"),
    Case {
        dir: "copyglob",
        dockerfile: "Dockerfile",
        build_args: &["SOURCE=*.txt"],
    },
    Case {
        dir: "copyglob",
        dockerfile: "Dockerfile",
        build_args: &["SOURCE=b/*"],
    },
    Case {
        dir: "copyglob",
        dockerfile: "Dockerfile",
        build_args: &["SOURCE=*/sub/*.txt"],
    },
    Case {
        dir: "copyglob",
        dockerfile: "Dockerfile",
        build_args: &["SOURCE=[bj]/sub"],
    },
    case("dockerignore/allowlist/alternating", "Dockerfile"),
    case("dockerignore/allowlist/alternating-nothing", "Dockerfile"),
    case("dockerignore/allowlist/alternating-other", "Dockerfile"),
    case("dockerignore/allowlist/subdir-file", "Dockerfile"),
    case("dockerignore/allowlist/subdir-nofile", "Dockerfile"),
    case("dockerignore/empty", "Dockerfile"),
    case("dockerignore/integration2", "Dockerfile"),
    case("dockerignore/minimal_test", "Dockerfile"),
    case("replace/symlink-with-directory", "Dockerfile"),
    case("replace/symlink-with-directory", "Dockerfile.2"),
    case("replace/symlink-with-directory", "Dockerfile.3"),
    case("replace/symlink-with-directory", "Dockerfile.4"),
    case("subdir/subdir", "Dockerfile"),
    case("tar-g", "Dockerfile"),
];
/// Cases where buildah and Docker differ and bld does as Docker does, with why: they are
/// compared with Docker (`docker_peer::buildahs_contexts_build_as_docker_builds_them`), not
/// with buildah.
const AS_DOCKER: &[(&str, &str, &str)] = &[
    (
        "dockerignore/allowlist/alternating",
        "Dockerfile",
        "an excluded directory kept for the files re-included in it keeps its own mode in BuildKit; buildah makes it 0755",
    ),
    (
        "dockerignore/minimal_test",
        "Dockerfile",
        "an excluded directory kept for the files re-included in it keeps its own mode in BuildKit; buildah makes it 0755",
    ),
    (
        "tar-g",
        "Dockerfile",
        "buildah creates /tmp for the archive's global PAX header (named /tmp/GlobalHead.…); BuildKit does not",
    ),
    (
        "replace/symlink-with-directory",
        "Dockerfile",
        "BuildKit refuses a directory over a file (`cannot copy to non-directory`); buildah replaces the file",
    ),
    (
        "replace/symlink-with-directory",
        "Dockerfile.2",
        "BuildKit refuses a file over a directory (`cannot replace to directory … with file`); buildah replaces it",
    ),
    (
        "replace/symlink-with-directory",
        "Dockerfile.3",
        "BuildKit refuses a file over a directory (`cannot replace to directory … with file`); buildah replaces it",
    ),
    (
        "replace/symlink-with-directory",
        "Dockerfile.4",
        "BuildKit refuses a directory over a file (`cannot copy to non-directory`); buildah replaces the file",
    ),
];

// Not compared:
// - copy-escape-glob: buildah 1.28 fails on Go's `[[]` escape ("globs [/app/[xyz]/file.txt]
//   matched nothing"); bld copies what the Dockerfile's comment says Docker copies (tested in
//   dockerfile.rs).

/// The external conformance corpus: `$BLD_CONFORMANCE_DIR` when set, else
/// `shared/conformance` in a directory above the repository; `Err` says why there is none.
pub(crate) fn conformance_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("BLD_CONFORMANCE_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!(
                "BLD_CONFORMANCE_DIR=`{}` is not a directory",
                dir.display()
            ))
        };
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/conformance"))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| {
            "no `shared/conformance` above the repository and no `BLD_CONFORMANCE_DIR`".to_owned()
        })
}

/// buildah's conformance contexts (`buildah/testdata` in [`conformance_dir`]), or `None`,
/// having said that the test is skipped and why: a clone without the external corpus still
/// passes.
pub(crate) fn testdata() -> Option<PathBuf> {
    let found = conformance_dir()
        .map(|dir| dir.join("buildah/testdata"))
        .and_then(|data| {
            if data.is_dir() {
                Ok(data)
            } else {
                Err(format!("no `{}`", data.display()))
            }
        });
    match found {
        Ok(data) => Some(data),
        Err(why) => {
            // Written to the stream itself, past the test harness's capture, so that it shows.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("skipped: buildah's testdata (the external corpus): {why}\n"),
            );
            None
        }
    }
}

/// The runtime config without the label buildah adds, nor a `WorkingDir` of `/`.
fn runtime_config(layout: &Path) -> Value {
    let mut runtime = peers::runtime_config(layout);
    if runtime.get("WorkingDir").and_then(Value::as_str) == Some("/") {
        runtime
            .as_object_mut()
            .expect("object")
            .remove("WorkingDir");
    }
    if let Some(labels) = runtime.get_mut("Labels").and_then(Value::as_object_mut) {
        labels.remove("io.buildah.version");
        if labels.is_empty() {
            runtime.as_object_mut().expect("object").remove("Labels");
        }
    }
    runtime
}

fn buildah(root: &Path, args: &[&str]) -> std::process::Output {
    let store = root.join("buildah");
    Command::new("buildah")
        .args(["--root", &store.join("root").display().to_string()])
        .args(["--runroot", &store.join("run").display().to_string()])
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run buildah ({e}): the README's test command installs it")
        })
}

/// `buildah bud` with `flags`, the case's Dockerfile and build args, tagged `tag`.
fn bud(
    flags: &[&str],
    dockerfile: &str,
    build_args: &[&str],
    tag: &str,
    context: &Path,
) -> Vec<String> {
    let mut args = vec!["bud".to_owned()];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    args.extend(["-f".to_owned(), dockerfile.to_owned()]);
    for arg in build_args {
        args.extend(["--build-arg".to_owned(), (*arg).to_owned()]);
    }
    args.extend([
        "-t".to_owned(),
        tag.to_owned(),
        context.display().to_string(),
    ]);
    args
}

/// How buildah is asked to build a suite's cases, and which paths their comparison sets aside.
struct Suite<'a> {
    flags: &'a [&'a str],
    ignore: &'a dyn Fn(&str) -> bool,
}

/// Builds one case with both tools (bld writing its image to `work/bld`) and records in
/// `report` how they differ.
fn build_and_compare(
    scratch: &Path,
    store: &Path,
    (name, work, context): (&str, &Path, &Path),
    case: &Case,
    suite: &Suite<'_>,
    report: &mut Vec<String>,
) {
    let dockerfile = context.join(case.dockerfile).display().to_string();
    let bld_layout = work.join("bld");
    let mut args = vec!["build".to_owned(), "-f".to_owned(), dockerfile.clone()];
    for arg in case.build_args {
        args.extend(["--build-arg".to_owned(), (*arg).to_owned()]);
    }
    args.extend([
        "-o".to_owned(),
        bld_layout.display().to_string(),
        context.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bld = run_bld(scratch, store, &args);
    let tag = format!(
        "localhost/{}:1",
        work.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let peer_args = bud(suite.flags, &dockerfile, case.build_args, &tag, context);
    let peer = buildah(
        scratch,
        &peer_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let builds = Builds {
        name,
        work,
        bld: &bld,
        bld_layout: &bld_layout,
        buildah: &peer,
        tag: &tag,
    };
    compare(scratch, &builds, suite.ignore, report);
}

#[test]
fn scratch_dockerfiles_match_buildah() {
    let Some(data) = testdata() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = scratch.path().join("store");
    let mut report = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        if AS_DOCKER
            .iter()
            .any(|(dir, file, _)| *dir == case.dir && *file == case.dockerfile)
        {
            continue;
        }
        let context = data.join(case.dir);
        let name = format!(
            "{} {} {}",
            case.dir,
            case.dockerfile,
            case.build_args.join(" ")
        );
        let work = scratch.path().join(format!("case-{i}"));
        build_and_compare(
            scratch.path(),
            &store,
            (&name, &work, &context),
            case,
            &Suite {
                flags: BUD_WITHOUT_RUN,
                ignore: &|_| false,
            },
            &mut report,
        );
    }
    assert!(
        report.is_empty(),
        "{} of {} cases differ from buildah:\n{}",
        report.len(),
        CASES.len(),
        report.join("\n")
    );
}

/// Cases built on busybox, with RUN steps: both tools get a busybox image named
/// `mirror.gcr.io/busybox` built from the host's /bin/busybox by the same Dockerfile.
const BUSYBOX_CASES: &[Case] = &[
    case("", "Dockerfile.run.args"),
    case("", "Dockerfile.copyfrom_1"),
    case("", "Dockerfile.copyfrom_2"),
    case("", "Dockerfile.copyfrom_3"),
    case("", "Dockerfile.copyfrom_3_1"),
    case("", "Dockerfile.copyfrom_4"),
    case("", "Dockerfile.copyfrom_5"),
    case("", "Dockerfile.copyfrom_6"),
    case("", "Dockerfile.copyfrom_7"),
    case("", "Dockerfile.copyfrom_8"),
    case("", "Dockerfile.copyfrom_9"),
    case("", "Dockerfile.copyfrom_10"),
    case("", "Dockerfile.copyfrom_11"),
    case("", "Dockerfile.copyfrom_12"),
    case("", "Dockerfile.copyfrom_13"),
    case("env/precedence", "Dockerfile"),
    case("copyblahblub", "Dockerfile"),
    case("copyblahblub", "Dockerfile2"),
    case("copyblahblub", "Dockerfile3"),
    case("add/parent-clean", "Dockerfile"),
    case("volumerun", "Dockerfile"),
];

/// Paths buildah leaves in RUN layers as mount points (it leaves `/run` too).
fn runtime_leftover(path: &str) -> bool {
    peers::runtime_leftover(path, &["run"])
}

/// The busybox base both tools build on: `mirror.gcr.io/busybox`, built by bld into `store`
/// and by buildah into its storage, from the host's /bin/busybox by the same Dockerfile.
fn build_busybox_base(scratch: &Path, store: &Path) {
    let base = peers::busybox_context(scratch);
    let base_text = base.display().to_string();
    run_bld(
        scratch,
        store,
        &["build", "-t", "mirror.gcr.io/busybox", &base_text],
    )
    .ok();
    let args = bud(
        BUD_ISOLATED_RUN,
        &base.join("Dockerfile").display().to_string(),
        &[],
        "mirror.gcr.io/busybox:latest",
        &base,
    );
    let made = buildah(
        scratch,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(
        made.status.success(),
        "buildah busybox: {}",
        String::from_utf8_lossy(&made.stderr)
    );
}

#[test]
fn busybox_dockerfiles_with_run_steps_match_buildah() {
    let Some(data) = testdata() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = scratch.path().join("store");
    build_busybox_base(scratch.path(), &store);
    let mut report = Vec::new();
    for (i, case) in BUSYBOX_CASES.iter().enumerate() {
        let context = if case.dir.is_empty() {
            data.clone()
        } else {
            data.join(case.dir)
        };
        let name = format!("{} {}", case.dir, case.dockerfile);
        let work = scratch.path().join(format!("busybox-case-{i}"));
        build_and_compare(
            scratch.path(),
            &store,
            (&name, &work, &context),
            case,
            &Suite {
                flags: BUD_ISOLATED_RUN,
                ignore: &runtime_leftover,
            },
            &mut report,
        );
    }
    assert!(
        report.is_empty(),
        "{} of {} cases differ from buildah:\n{}",
        report.len(),
        BUSYBOX_CASES.len(),
        report.join("\n")
    );
}

/// One case built by both tools.
struct Builds<'a> {
    name: &'a str,
    /// The case's scratch directory.
    work: &'a Path,
    bld: &'a Run,
    /// Where bld wrote the image (`-o`).
    bld_layout: &'a Path,
    buildah: &'a std::process::Output,
    /// buildah's name for its image.
    tag: &'a str,
}

/// Records in `report` a build that only one tool failed; when both succeeded, pushes
/// buildah's image to a layout beside bld's, unpacks both with umoci and records every
/// difference in the filesystem (paths for which `ignore` is true set aside) and in the
/// runtime config.
fn compare(
    scratch: &Path,
    builds: &Builds<'_>,
    ignore: &dyn Fn(&str) -> bool,
    report: &mut Vec<String>,
) {
    let Builds {
        name,
        work,
        bld,
        bld_layout,
        buildah: peer,
        tag,
    } = *builds;
    if bld.code != 0 || !peer.status.success() {
        if bld.code == 0 || peer.status.success() {
            report.push(format!(
                "{name}: bld exit {} / buildah {}\n  bld: {}\n  buildah: {}",
                bld.code,
                peer.status,
                bld.stderr.trim(),
                String::from_utf8_lossy(&peer.stderr).trim()
            ));
        }
        return;
    }
    let peer_layout = work.join("buildah-layout");
    let push = buildah(
        scratch,
        &[
            "push",
            tag,
            &format!("oci:{}:latest", peer_layout.display()),
        ],
    );
    assert!(
        push.status.success(),
        "buildah push: {}",
        String::from_utf8_lossy(&push.stderr)
    );
    let mut ours =
        peers::unpacked_listing(&bld_layout.display().to_string(), &work.join("bld-bundle"));
    let mut theirs = peers::unpacked_listing(
        &format!("{}:latest", peer_layout.display()),
        &work.join("buildah-bundle"),
    );
    ours.retain(|p, _| !ignore(p));
    theirs.retain(|p, _| !ignore(p));
    if ours != theirs {
        let diff = peers::differences(&ours, &theirs, "buildah");
        report.push(format!("{name}: filesystems differ\n{}", diff.join("\n")));
    }
    let (ours, theirs) = (runtime_config(bld_layout), runtime_config(&peer_layout));
    if ours != theirs {
        report.push(format!(
            "{name}: configs differ\n  bld: {ours}\n  buildah: {theirs}"
        ));
    }
}
