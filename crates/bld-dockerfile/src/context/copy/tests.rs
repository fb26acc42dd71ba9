//! `COPY` planning tests, one (or a few) per Docker rule.

mod options;

use super::{CopyOptions, PlannedEntry, PlannedKind, plan_copy};
use crate::context::{ContextEntry, ContextError, ContextTree};

fn file(mode: u32) -> ContextEntry {
    ContextEntry::File { mode, size: 3 }
}

fn link(target: &str) -> ContextEntry {
    ContextEntry::Symlink {
        target: target.to_string(),
    }
}

/// A context with a bit of everything.
fn tree() -> ContextTree {
    ContextTree::from_entries([
        ("a.txt", file(0o644)),
        ("b.txt", file(0o600)),
        ("c.md", file(0o644)),
        ("home.txt", file(0o644)),
        ("homer.md", file(0o644)),
        ("src", ContextEntry::Dir { mode: 0o750 }),
        ("src/main.rs", file(0o644)),
        ("src/lib.rs", file(0o644)),
        ("src/util/mod.rs", file(0o644)),
        ("src/util/notes.txt", file(0o644)),
        ("src/empty", ContextEntry::Dir { mode: 0o700 }),
        ("src/link", link("../../../etc/passwd")),
        ("other/main.rs", file(0o755)),
        ("other/extra.txt", file(0o644)),
        ("docs/a/x.txt", file(0o644)),
        ("docs/b/x.txt", file(0o644)),
        ("docs/b/y.md", file(0o644)),
        ("link-to-file", link("a.txt")),
        ("link-to-dir", link("src/util")),
        ("abs-link", link("/etc/passwd")),
        ("loop", link("loop")),
        ("a-dir/f", file(0o644)),
    ])
    .expect("test tree is valid")
}

fn plan(sources: &[&str], dest: &str, options: &CopyOptions) -> Vec<PlannedEntry> {
    try_plan(sources, dest, options).expect("COPY should plan")
}

fn try_plan(
    sources: &[&str],
    dest: &str,
    options: &CopyOptions,
) -> Result<Vec<PlannedEntry>, ContextError> {
    let sources: Vec<String> = sources.iter().map(|source| source.to_string()).collect();
    plan_copy(&tree(), &sources, dest, options)
}

fn at(workdir: &str) -> CopyOptions {
    CopyOptions {
        workdir: workdir.to_string(),
        ..CopyOptions::default()
    }
}

fn root() -> CopyOptions {
    CopyOptions::default()
}

/// Renders a plan compactly: `dest=F:source`, `dest/` (implicit dir), `dest/=D:source`,
/// `dest=L:target`.
fn show(entries: &[PlannedEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| match &entry.kind {
            PlannedKind::File { source } => format!("{}=F:{source}", entry.dest),
            PlannedKind::Dir { source: None } => format!("{}/", entry.dest),
            PlannedKind::Dir {
                source: Some(source),
            } => format!("{}/=D:{source}", entry.dest),
            PlannedKind::Symlink { target, .. } => format!("{}=L:{target}", entry.dest),
        })
        .collect()
}

fn error(sources: &[&str], dest: &str, options: &CopyOptions) -> ContextError {
    try_plan(sources, dest, options).expect_err("COPY should be rejected")
}

#[test]
fn file_into_directory_keeps_its_name() {
    assert_eq!(
        show(&plan(&["a.txt"], "/app/", &root())),
        ["app/", "app/a.txt=F:a.txt"]
    );
}

#[test]
fn single_file_to_path_without_slash_is_renamed() {
    assert_eq!(
        show(&plan(&["a.txt"], "/opt/conf/settings.ini", &root())),
        ["opt/", "opt/conf/", "opt/conf/settings.ini=F:a.txt"]
    );
}

#[test]
fn relative_destination_uses_workdir() {
    assert_eq!(
        show(&plan(&["a.txt"], "conf/", &at("/app"))),
        ["app/", "app/conf/", "app/conf/a.txt=F:a.txt"]
    );
    assert_eq!(
        show(&plan(&["a.txt"], "renamed", &at("/app"))),
        ["app/", "app/renamed=F:a.txt"]
    );
}

#[test]
fn dot_and_dotdot_destinations_are_directories() {
    for dest in [".", "./", "", "sub/.", "sub/.."] {
        let entries = plan(&["a.txt", "b.txt"], dest, &at("/app"));
        let last = entries.last().map(|entry| entry.dest.clone());
        assert!(
            last.is_some_and(|dest| dest.ends_with("b.txt")),
            "{dest:?}: {:?}",
            show(&entries)
        );
    }
    assert_eq!(
        show(&plan(&["a.txt"], "..", &at("/app"))),
        ["a.txt=F:a.txt"]
    );
}

#[test]
fn destination_is_normalized_and_clamped_at_root() {
    assert_eq!(
        show(&plan(&["a.txt"], "../../../x//y/./", &at("/app/sub"))),
        ["x/", "x/y/", "x/y/a.txt=F:a.txt"]
    );
    assert_eq!(show(&plan(&["a.txt"], "/", &at("/app"))), ["a.txt=F:a.txt"]);
}

#[test]
fn directory_source_copies_contents_not_the_directory() {
    assert_eq!(
        show(&plan(&["src"], "/app/", &root())),
        [
            "app/",
            "app/empty/=D:src/empty",
            "app/lib.rs=F:src/lib.rs",
            "app/link=L:../../../etc/passwd",
            "app/main.rs=F:src/main.rs",
            "app/util/=D:src/util",
            "app/util/mod.rs=F:src/util/mod.rs",
            "app/util/notes.txt=F:src/util/notes.txt",
        ]
    );
}

#[test]
fn directory_destination_is_created_afresh_like_buildah() {
    // buildah creates the destination of a directory copy with 0755 (BuildKit would take the
    // source directory's mode when the destination has no trailing `/`).
    let entries = plan(&["src/util"], "/srv/util", &root());
    assert_eq!(
        show(&entries),
        [
            "srv/",
            "srv/util/",
            "srv/util/mod.rs=F:src/util/mod.rs",
            "srv/util/notes.txt=F:src/util/notes.txt",
        ]
    );
    assert_eq!(
        show(&plan(&["src/util"], "/srv/util/", &root()))[1],
        "srv/util/"
    );
}

#[test]
fn whole_context_copy() {
    let entries = plan(&["."], ".", &at("/app"));
    assert_eq!(entries[0].dest, "app");
    assert_eq!(entries[0].kind, PlannedKind::Dir { source: None });
    assert_eq!(entries.len(), tree().len() + 1);
    // Without a slash the root source still makes an implicit directory (the context
    // root has no entry of its own).
    assert_eq!(show(&plan(&["/"], "/ctx", &root()))[0], "ctx/");
}

#[test]
fn several_sources_go_inside_the_directory_and_merge() {
    assert_eq!(
        show(&plan(&["a.txt", "src/util", "other"], "/d/", &root())),
        [
            "d/",
            "d/a.txt=F:a.txt",
            "d/extra.txt=F:other/extra.txt",
            "d/main.rs=F:other/main.rs",
            "d/mod.rs=F:src/util/mod.rs",
            "d/notes.txt=F:src/util/notes.txt",
        ]
    );
}

#[test]
fn several_sources_need_a_directory_destination() {
    let err = error(&["a.txt", "b.txt"], "/d", &root());
    assert_eq!(
        err,
        ContextError::DestinationNotDirectory {
            dest: "/d".to_string(),
            count: 2
        }
    );
    assert!(err.to_string().starts_with(
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    ));
    // Counted after wildcard expansion.
    let err = error(&["*.txt"], "/d", &root());
    assert!(
        matches!(err, ContextError::DestinationNotDirectory { count: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn wildcard_with_one_match_may_rename() {
    assert_eq!(show(&plan(&["c*"], "/readme", &root())), ["readme=F:c.md"]);
}

#[test]
fn wildcards_match_per_component_in_walk_order() {
    assert_eq!(
        show(&plan(&["docs/*/x.txt"], "/out/", &root())),
        ["out/", "out/x.txt=F:docs/b/x.txt"],
        "later matches (docs/b) override earlier ones (docs/a)"
    );
    assert_eq!(
        show(&plan(&["?.txt", "[bc].*"], "/o/", &root())),
        ["o/", "o/a.txt=F:a.txt", "o/b.txt=F:b.txt", "o/c.md=F:c.md"]
    );
    // `*` does not cross `/`; a matched directory copies its contents.
    assert_eq!(
        show(&plan(&["doc*"], "/o/", &root())),
        [
            "o/",
            "o/a/=D:docs/a",
            "o/a/x.txt=F:docs/a/x.txt",
            "o/b/=D:docs/b",
            "o/b/x.txt=F:docs/b/x.txt",
            "o/b/y.md=F:docs/b/y.md",
        ]
    );
}

#[test]
fn wildcard_matching_nothing_is_fine_unless_nothing_matches_at_all() {
    assert_eq!(
        show(&plan(&["a.txt", "*.nope"], "/d/", &root())),
        ["d/", "d/a.txt=F:a.txt"]
    );
    let err = error(&["*.nope", "src/*.nope"], "/d/", &root());
    assert!(matches!(err, ContextError::NoSourceFiles { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("no source files were specified"),
        "{err}"
    );
}

#[test]
fn wildcard_under_a_missing_directory_is_not_found() {
    let err = error(&["missing/*.txt"], "/d/", &root());
    assert_eq!(
        err,
        ContextError::SourceNotFound {
            src: "missing/*.txt".to_string(),
            path: "missing".to_string()
        }
    );
}

#[test]
fn missing_source_is_an_lstat_error() {
    let err = error(&["a.txt", "nope.txt"], "/d/", &root());
    assert_eq!(
        err.to_string(),
        "source `nope.txt` not found: lstat /nope.txt: no such file or directory \
         (expected an existing path relative to the context root that .dockerignore does \
         not exclude)"
    );
    let err = error(&["a.txt/inner"], "/d/", &root());
    assert!(matches!(err, ContextError::NotADirectory { ref path, .. } if path == "a.txt"));
}

#[test]
fn sources_cannot_leave_the_context() {
    for source in ["../x", "src/../../x", "/.."] {
        let err = error(&[source], "/d/", &root());
        assert_eq!(
            err,
            ContextError::SourceOutsideContext {
                src: source.to_string()
            },
            "{source:?}"
        );
    }
}

#[test]
fn sources_are_cleaned_and_absolute_means_context_root() {
    assert_eq!(
        show(&plan(
            &["/src//util/./mod.rs", "./other/../b.txt"],
            "/d/",
            &root()
        )),
        ["d/", "d/b.txt=F:b.txt", "d/mod.rs=F:src/util/mod.rs"]
    );
}

#[test]
fn later_source_overrides_earlier_file() {
    assert_eq!(
        show(&plan(&["src", "other"], "/d/", &root()))
            .into_iter()
            .filter(|line| line.starts_with("d/main.rs"))
            .collect::<Vec<_>>(),
        ["d/main.rs=F:other/main.rs"]
    );
}

#[test]
fn directories_merge_and_keep_first_metadata() {
    let tree = ContextTree::from_entries([
        ("one/shared", ContextEntry::Dir { mode: 0o700 }),
        ("one/shared/a", file(0o644)),
        ("two/shared", ContextEntry::Dir { mode: 0o777 }),
        ("two/shared/b", file(0o644)),
    ])
    .expect("valid");
    let sources = ["one".to_string(), "two".to_string()];
    let entries = plan_copy(&tree, &sources, "/m/", &root()).expect("plans");
    assert_eq!(
        show(&entries),
        [
            "m/",
            "m/shared/=D:one/shared",
            "m/shared/a=F:one/shared/a",
            "m/shared/b=F:two/shared/b"
        ]
    );
}

#[test]
fn file_and_directory_at_same_destination_conflict() {
    let tree = ContextTree::from_entries([("x/util", file(0o644)), ("y/util/a", file(0o644))])
        .expect("valid");
    let sources = ["x".to_string(), "y".to_string()];
    let err = plan_copy(&tree, &sources, "/m/", &root()).expect_err("conflict");
    assert_eq!(
        err,
        ContextError::DestinationConflict {
            dest: "m/util".to_string(),
            existing: "file",
            incoming: "directory"
        }
    );
    let sources = ["y".to_string(), "x".to_string()];
    let err = plan_copy(&tree, &sources, "/m/", &root()).expect_err("conflict");
    assert!(
        err.to_string().contains("cannot copy a file to /m/util"),
        "{err}"
    );
}

#[test]
fn top_level_symlinks_are_followed_inside_the_context() {
    assert_eq!(
        show(&plan(&["link-to-file"], "/d/", &root())),
        ["d/", "d/link-to-file=F:a.txt"]
    );
    assert_eq!(
        show(&plan(&["link-to-dir"], "/d", &root())),
        [
            "d/",
            "d/mod.rs=F:src/util/mod.rs",
            "d/notes.txt=F:src/util/notes.txt"
        ]
    );
    // Matched by a wildcard: followed too.
    assert_eq!(
        show(&plan(&["link-to-f*"], "/d/", &root())),
        ["d/", "d/link-to-file=F:a.txt"]
    );
}

#[test]
fn symlinks_pointing_outside_the_context_are_not_followed() {
    let err = error(&["abs-link"], "/d/", &root());
    assert_eq!(
        err,
        ContextError::SourceNotFound {
            src: "abs-link".to_string(),
            path: "etc".to_string()
        }
    );
    let err = error(&["loop"], "/d/", &root());
    assert_eq!(
        err,
        ContextError::SymlinkLoop {
            src: "loop".to_string()
        }
    );
    assert!(
        err.to_string()
            .contains("too many levels of symbolic links")
    );
}

#[test]
fn argument_errors() {
    let err = try_plan(&[], "/d/", &root()).expect_err("no sources");
    assert_eq!(err, ContextError::NoSources);
    let err = error(&["a.txt"], "/d/", &at("app"));
    assert_eq!(
        err,
        ContextError::RelativeWorkdir {
            workdir: "app".to_string()
        }
    );
    let err = error(&["src/[x"], "/d/", &root());
    assert!(
        matches!(err, ContextError::InvalidPattern { .. }),
        "{err:?}"
    );
}

#[test]
fn result_is_sorted_and_unique() {
    let entries = plan(&["src", "src", "a-dir", "a.txt"], "/z/", &root());
    let dests: Vec<&str> = entries.iter().map(|entry| entry.dest.as_str()).collect();
    let mut sorted = dests.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(dests, sorted);
}
