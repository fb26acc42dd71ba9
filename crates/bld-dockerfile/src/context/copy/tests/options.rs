//! `COPY --exclude` and `COPY --parents` tests.

use super::{error, file, plan, root, show};
use crate::context::copy::{CopyOptions, plan_copy};
use crate::context::{ContextError, ContextTree};

#[test]
fn exclude_is_relative_to_each_directory_source() {
    let options = CopyOptions {
        excludes: vec!["*.rs".to_string(), "util/*.txt".to_string()],
        ..root()
    };
    assert_eq!(
        show(&plan(&["src", "other"], "/d/", &options)),
        [
            "d/",
            "d/empty/=D:src/empty",
            "d/extra.txt=F:other/extra.txt",
            "d/link=L:../../../etc/passwd",
            "d/util/=D:src/util",
            "d/util/mod.rs=F:src/util/mod.rs",
        ]
    );
}

#[test]
fn exclude_like_buildkit_test_with_wildcard_directories() {
    // BuildKit's testExcludedFilesOnCopy, builder1 and builder4.
    let tree = ContextTree::from_entries([
        ("dir1/file-101.png", file(0o600)),
        ("dir1/file-102.txt", file(0o600)),
        ("dir2/file-201.pdf", file(0o600)),
        ("dir3/file-302.mpeg", file(0o600)),
    ])
    .expect("valid");
    let options = CopyOptions {
        excludes: vec!["*/*.png".to_string(), "*/*.pdf".to_string()],
        ..root()
    };
    let entries = plan_copy(&tree, &[".".to_string()], "/1", &options).expect("plans");
    assert_eq!(
        show(&entries),
        [
            "1/",
            "1/dir1/=D:dir1",
            "1/dir1/file-102.txt=F:dir1/file-102.txt",
            "1/dir2/=D:dir2",
            "1/dir3/=D:dir3",
            "1/dir3/file-302.mpeg=F:dir3/file-302.mpeg"
        ]
    );
    let options = CopyOptions {
        excludes: ["*.png", "*.pdf", "*.txt"].map(String::from).to_vec(),
        ..root()
    };
    let entries = plan_copy(&tree, &["dir*".to_string()], "/4/", &options).expect("plans");
    assert_eq!(
        show(&entries),
        ["4/", "4/file-302.mpeg=F:dir3/file-302.mpeg"]
    );
    // Everything excluded still creates the destination.
    let options = CopyOptions {
        excludes: vec!["*".to_string()],
        ..root()
    };
    let entries = plan_copy(&tree, &["dir*".to_string()], "/6/", &options).expect("plans");
    assert_eq!(show(&entries), ["6/"]);
}

#[test]
fn exclude_applies_to_wildcard_matched_files_by_relative_path() {
    let options = CopyOptions {
        excludes: vec!["*.txt".to_string()],
        ..root()
    };
    assert_eq!(
        show(&plan(&["hom*"], "/mydir/", &options)),
        ["mydir/", "mydir/homer.md=F:homer.md"]
    );
}

#[test]
fn exclude_exception_reincludes_and_creates_excluded_parent() {
    let options = CopyOptions {
        excludes: vec!["util".to_string(), "!util/notes.txt".to_string()],
        ..root()
    };
    let entries = show(&plan(&["src"], "/d/", &options));
    assert!(
        entries.contains(&"d/util/=D:src/util".to_string()),
        "{entries:?}"
    );
    assert!(entries.contains(&"d/util/notes.txt=F:src/util/notes.txt".to_string()));
    assert!(!entries.iter().any(|line| line.starts_with("d/util/mod.rs")));
}

#[test]
fn exclude_double_star_and_invalid_patterns() {
    let options = CopyOptions {
        excludes: vec!["**/*.txt".to_string()],
        ..root()
    };
    let entries = show(&plan(&["src"], "/d/", &options));
    assert!(
        !entries.iter().any(|line| line.contains(".txt")),
        "{entries:?}"
    );
    let options = CopyOptions {
        excludes: vec!["[".to_string()],
        ..root()
    };
    let err = error(&["src"], "/d/", &options);
    assert!(
        matches!(err, ContextError::InvalidPattern { .. }),
        "{err:?}"
    );
}

#[test]
fn parents_keep_the_path_from_the_context_root() {
    let options = CopyOptions {
        parents: true,
        ..root()
    };
    assert_eq!(
        show(&plan(&["src/util/mod.rs", "docs/b/x.txt"], "/p", &options)),
        [
            "p/",
            "p/docs/=D:docs",
            "p/docs/b/=D:docs/b",
            "p/docs/b/x.txt=F:docs/b/x.txt",
            "p/src/=D:src",
            "p/src/util/=D:src/util",
            "p/src/util/mod.rs=F:src/util/mod.rs",
        ]
    );
}

#[test]
fn parents_pivot_and_wildcards() {
    let options = CopyOptions {
        parents: true,
        ..root()
    };
    assert_eq!(
        show(&plan(&["docs/./*/x.txt"], "/p/", &options)),
        [
            "p/",
            "p/a/=D:docs/a",
            "p/a/x.txt=F:docs/a/x.txt",
            "p/b/=D:docs/b",
            "p/b/x.txt=F:docs/b/x.txt"
        ]
    );
    // patternmatcher syntax: `**` crosses directories.
    assert_eq!(
        show(&plan(&["**/*.md"], "/p/", &options)),
        [
            "p/",
            "p/c.md=F:c.md",
            "p/docs/=D:docs",
            "p/docs/b/=D:docs/b",
            "p/docs/b/y.md=F:docs/b/y.md",
            "p/homer.md=F:homer.md"
        ]
    );
}

#[test]
fn parents_directory_source_copies_the_directory_itself() {
    let options = CopyOptions {
        parents: true,
        excludes: vec!["util".to_string()],
        ..root()
    };
    assert_eq!(
        show(&plan(&["./src/./util", "other"], "/p/", &options)),
        [
            "p/",
            "p/other/=D:other",
            "p/other/extra.txt=F:other/extra.txt",
            "p/other/main.rs=F:other/main.rs",
        ],
        "`util` relative to the `src` pivot is excluded; `other` is kept whole"
    );
}

#[test]
fn parents_missing_source_is_an_error() {
    let options = CopyOptions {
        parents: true,
        ..root()
    };
    let err = error(&["src/nope.rs"], "/p/", &options);
    assert!(
        matches!(err, ContextError::SourceNotFound { ref path, .. } if path == "src/nope.rs"),
        "{err:?}"
    );
    let err = error(&["a.txt/./x"], "/p/", &options);
    assert!(matches!(err, ContextError::NotADirectory { .. }), "{err:?}");
    let err = error(&["*.nope"], "/p/", &options);
    assert!(matches!(err, ContextError::NoSourceFiles { .. }), "{err:?}");
}
