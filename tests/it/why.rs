//! `bld why` and `bld build --explain`: for each action that ran instead of hitting the
//! cache, what differs from its last run — a source, a build argument, a base image that
//! moved, an input rebuilt with other bytes, a first build, `--no-cache` — and `bld gc`
//! prunes what it keeps with the cache entries.

use std::path::Path;

use crate::support::{Run, run_bld};

/// A base image (`base:1`, busybox from scratch) and an app on it (`app:1`) that copies
/// `package-lock.json` and has a RUN step reading `ARG VERSION`.
fn contexts(scratch: &Path) {
    let base = scratch.join("base");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::copy("/bin/busybox", base.join("busybox")).expect("/bin/busybox (busybox-static)");
    std::fs::write(base.join("motd"), "one\n").expect("write");
    std::fs::write(
        base.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCOPY motd /etc/motd\n",
    )
    .expect("write");
    let app = scratch.join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("package-lock.json"), "{\"v\": 1}\n").expect("write");
    std::fs::write(
        app.join("Dockerfile"),
        "FROM base:1\nARG VERSION=1\nCOPY package-lock.json /app/\nRUN echo $VERSION > /app/version\n",
    )
    .expect("write");
}

fn bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args).ok()
}

fn build(scratch: &Path, dir: &str, tag: &str, more: &[&str]) -> Run {
    let ctx = scratch.join(dir).display().to_string();
    let mut args = vec!["build", "-t", tag];
    args.extend(more);
    args.push(&ctx);
    bld(scratch, &args)
}

/// `bld why app:1`'s lines about the RUN step (the instruction and its reasons).
fn why_run_step(scratch: &Path) -> String {
    let why = bld(scratch, &["why", "app:1"]).stdout;
    let mut lines = why.lines().skip_while(|l| !l.contains("RUN echo $VERSION"));
    lines.next();
    lines.next().unwrap_or_default().to_owned() + "\n" + &why
}

#[test]
fn why_says_what_changed_for_each_reason() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    contexts(scratch);
    build(scratch, "base", "base:1", &[]);
    let explain = scratch.join("explain.txt");
    let explained = format!("--explain={}", explain.display());
    build(scratch, "app", "app:1", &[&explained]);
    let first = std::fs::read_to_string(&explain).expect("the --explain file");
    assert!(
        first.contains("RUN echo $VERSION > /app/version\n  ran because it was never built before (first build)"),
        "{first}"
    );

    // Nothing changed: nothing ran.
    build(scratch, "app", "app:1", &[]);
    let cached = bld(scratch, &["why", "app:1"]).stdout;
    assert!(cached.contains("nothing ran"), "{cached}");

    std::fs::write(scratch.join("app/package-lock.json"), "{\"v\": 2}\n").expect("write");
    build(scratch, "app", "app:1", &[]);
    let why = bld(scratch, &["why", "app:1"]).stdout;
    assert!(
        why.contains("`package-lock.json` changed (sha256:"),
        "{why}"
    );
    // The RUN step after the COPY: its image below was rebuilt with other bytes.
    let step = why_run_step(scratch);
    assert!(step.contains("was rebuilt with different bytes"), "{step}");

    build(scratch, "app", "app:1", &["--build-arg", "VERSION=2"]);
    let step = why_run_step(scratch);
    assert!(
        step.contains("`--build-arg VERSION` changed from `1` to `2`"),
        "{step}"
    );

    // The base image moves: `base:1` is rebuilt with another motd.
    std::fs::write(scratch.join("base/motd"), "two\n").expect("write");
    build(scratch, "base", "base:1", &[]);
    build(scratch, "app", "app:1", &["--build-arg", "VERSION=2"]);
    let why = bld(scratch, &["why", "app:1"]).stdout;
    assert!(
        why.contains("the base image `base:1` moved to sha256:"),
        "{why}"
    );

    build(
        scratch,
        "app",
        "app:1",
        &["--build-arg", "VERSION=2", "--no-cache"],
    );
    let why = bld(scratch, &["why", "app:1"]).stdout;
    assert!(why.contains("(--no-cache)"), "{why}");

    let unknown = run_bld(scratch, &scratch.join("store"), &["why", "nothing:9"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("no build of `nothing:9`"),
        "{}",
        unknown.stderr
    );
}

/// A workspace target: `bld why //app:image` after a source of it changed; `bld gc` then
/// removes the records of entries whose blobs it removed.
#[test]
fn why_names_a_workspace_targets_changed_source_and_gc_prunes_the_records() {
    let sandbox =
        crate::run_steps::workspace("FROM busybox\nCOPY name.txt /name.txt\nRUN cat /name.txt\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    sandbox.write("app/name.txt", "changed\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    let why = sandbox.bld(&["why", "//app:image"]).ok().stdout;
    assert!(why.contains("`app/name.txt` changed (sha256:"), "{why}");
    let records = || {
        std::fs::read_dir(sandbox.store().join("explain"))
            .expect("explain records")
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_file()))
            .count()
    };
    let before = records();
    assert!(before > 0);
    // Nothing is kept but the images: the files' entries and their records go.
    sandbox.bld(&["gc"]).ok();
    assert!(
        records() < before,
        "{before} records before gc, {} after",
        records()
    );
}
