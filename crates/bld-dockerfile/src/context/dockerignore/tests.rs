//! `.dockerignore` tests: line handling, exceptions, parent directories, skipping.

use super::DockerIgnore;
use crate::context::ContextError;

fn ignore(text: &str) -> DockerIgnore {
    DockerIgnore::parse(text).expect(".dockerignore should parse")
}

#[test]
fn lines_are_trimmed_cleaned_and_anchored_like_readall() {
    // ignorefile's own test, plus cleaning cases.
    let parsed = ignore(
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n\
         ./dot/slash\nwith/trailing/\nup/../down\n  spaced  \n",
    );
    let patterns: Vec<String> = parsed.patterns().collect();
    assert_eq!(
        patterns,
        [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "dot/slash",
            "with/trailing",
            "down",
            "spaced",
        ]
    );
    assert!(parsed.has_exceptions());
}

#[test]
fn comments_only_at_line_start_and_bom_crlf_handled() {
    let parsed = ignore("\u{feff}first\r\n#comment\r\n  #not-a-comment\r\n\t\r\n");
    let patterns: Vec<String> = parsed.patterns().collect();
    assert_eq!(patterns, ["first", "#not-a-comment"]);
    assert!(parsed.is_excluded("first"));
    assert!(parsed.is_excluded("#not-a-comment"));
    assert!(!parsed.is_excluded("#comment"));
}

#[test]
fn empty_file_excludes_nothing() {
    let parsed = ignore("\n# only a comment\n\n");
    assert!(parsed.is_empty());
    assert!(!parsed.has_exceptions());
    assert!(!parsed.is_excluded("anything"));
    assert!(!DockerIgnore::default().is_excluded("x"));
}

#[test]
fn bare_exclamation_is_an_error_naming_the_line() {
    for text in ["a\n!\n", "a\n!   \n", "a\n!/\n"] {
        let error = DockerIgnore::parse(text).expect_err(text);
        assert_eq!(
            error,
            ContextError::IllegalExclusion {
                origin: ".dockerignore line 2".to_string()
            },
            "{text:?}"
        );
        assert!(error.to_string().contains("expected a pattern after `!`"));
    }
}

#[test]
fn malformed_glob_is_an_error_naming_line_and_pattern() {
    let error = DockerIgnore::parse("ok\n\nfoo[\n").expect_err("`foo[` is malformed");
    let ContextError::InvalidPattern {
        origin, pattern, ..
    } = &error
    else {
        panic!("unexpected error {error:?}");
    };
    assert_eq!(origin, ".dockerignore line 3");
    assert_eq!(pattern, "foo[");
    assert!(error.to_string().contains("unterminated"), "{error}");
    assert!(DockerIgnore::parse("!a\\").is_err());
}

/// `(patterns, path, excluded)`: patternmatcher's multi-pattern table, the `.dockerignore`
/// documentation examples, and precedence cases.
const EXCLUDED: &[(&str, &str, bool)] = &[
    // Anchoring: a pattern only matches from the root, and matches a directory's contents.
    ("foo", "foo", true),
    ("foo", "foo/bar/baz.txt", true),
    ("foo", "sub/foo", false),
    ("foo", "foobar", false),
    ("/foo/bar", "foo/bar", true),
    ("/foo/bar", "foo/bar/x", true),
    ("foo/", "foo/x", true),
    // Docs: `*/temp*`, `*/*/temp*`, `temp?`.
    ("*/temp*", "somedir/temporary.txt", true),
    ("*/temp*", "somedir/temp", true),
    ("*/temp*", "temp", false),
    ("*/temp*", "a/b/temp", false),
    ("*/*/temp*", "somedir/subdir/temporary.txt", true),
    ("*/*/temp*", "somedir/temporary.txt", false),
    ("temp?", "tempa", true),
    ("temp?", "temp", false),
    ("temp?", "tempab", false),
    // `**` at any depth.
    ("**/*.go", "main.go", true),
    ("**/*.go", "a/b/c/main.go", true),
    ("**/*.go", "a/b/c/main.go.txt", false),
    ("**/node_modules", "node_modules/x", true),
    ("**/node_modules", "web/node_modules/react/index.js", true),
    ("*.md", "README.md", true),
    ("*.md", "docs/README.md", false),
    // Docs: exceptions, last match wins.
    ("*.md\n!README.md", "README.md", false),
    ("*.md\n!README.md", "CHANGES.md", true),
    (
        "*.md\n!README*.md\nREADME-secret.md",
        "README-secret.md",
        true,
    ),
    (
        "*.md\n!README*.md\nREADME-secret.md",
        "README-public.md",
        false,
    ),
    (
        "*.md\nREADME-secret.md\n!README*.md",
        "README-secret.md",
        false,
    ),
    // patternmatcher's multi-pattern table.
    ("**\n!util/docker/web", "util/docker/web/foo", false),
    (
        "**\n!util/docker/web\nutil/docker/web/foo",
        "util/docker/web/foo",
        true,
    ),
    (
        "**\n!dist/*.whl",
        "dist/proxy.py-2.4.0rc3-py3-none-any.whl",
        false,
    ),
    ("**\n!dist/*.whl", "dist/other.tar.gz", true),
    // A directory pattern then an exception inside it.
    ("docs\n!docs/README.md", "docs/README.md", false),
    ("docs\n!docs/README.md", "docs/other.md", true),
    ("docs\n!docs/README.md", "docs", true),
    ("docs/*\n!docs/README.md", "docs/README.md", false),
    ("docs/*\n!docs/README.md", "docs", false),
    // An exception naming a directory re-includes its contents.
    ("*\n!src", "src/deep/file.rs", false),
    ("*\n!src", "target/debug/x", true),
    // An exception before the pattern has no effect.
    ("!keep.txt\n*.txt", "keep.txt", true),
    // Exceptions with wildcards deep inside excluded directories.
    ("build\n!build/**/*.keep", "build/a/b/c.keep", false),
    ("build\n!build/**/*.keep", "build/a/b/c.txt", true),
    ("*\n!*/keep", "dir/keep", false),
    ("*\n!*/keep", "dir/other", true),
    // Everything, the root is never excluded.
    ("*", "", false),
    ("*", ".", false),
    ("*", "Dockerfile", true),
    ("**", ".dockerignore", true),
    // Unusual spellings are cleaned before matching.
    ("./a/../b", "b", true),
    ("b", "./b/", true),
    ("b", "/b", true),
    // Patterns that can never match a relative path.
    ("../x", "x", false),
    ("/", "x", false),
    // Escapes and classes.
    ("\\*.txt", "*.txt", true),
    ("\\*.txt", "a.txt", false),
    ("file[0-9].log", "file7.log", true),
    ("file[0-9].log", "filex.log", false),
    ("file[^0-9].log", "filex.log", true),
];

#[test]
fn exclusion_table() {
    for &(patterns, path, expected) in EXCLUDED {
        assert_eq!(
            ignore(patterns).is_excluded(path),
            expected,
            "patterns {patterns:?}, path {path:?}"
        );
    }
}

#[test]
fn excludes_dir_entirely_only_without_reachable_exceptions() {
    for (patterns, dir, expected) in [
        ("node_modules", "node_modules", true),
        ("node_modules", "src", false),
        ("node_modules\n!src", "node_modules", true),
        ("node_modules\n!node_modules/keep", "node_modules", false),
        ("node_modules\n!node_modules/keep", "node_modules/sub", true),
        ("*\n!*/keep", "dir", false),
        ("*\n!**/keep", "dir", false),
        ("*\n!dir2/keep", "dir", true),
        ("build\n!build/**/*.keep", "build", false),
        ("a/**\n!a/b/**", "a/c", true),
        ("a/**\n!a/b/**", "a", false),
        ("a\n!a", "a", false),
    ] {
        assert_eq!(
            ignore(patterns).excludes_dir_entirely(dir),
            expected,
            "patterns {patterns:?}, dir {dir:?}"
        );
    }
}

#[test]
fn from_patterns_normalizes_like_lines_but_without_comments() {
    let excludes =
        DockerIgnore::from_patterns(["*.txt", " /#keep ", "!keep.txt"], "COPY --exclude")
            .expect("patterns should compile");
    let patterns: Vec<String> = excludes.patterns().collect();
    assert_eq!(patterns, ["*.txt", "#keep", "!keep.txt"]);
    assert!(excludes.is_excluded("a.txt"));
    assert!(!excludes.is_excluded("keep.txt"));
    assert!(excludes.is_excluded("#keep"));
    let error = DockerIgnore::from_patterns(["["], "COPY --exclude").expect_err("malformed");
    assert!(error.to_string().contains("in COPY --exclude"), "{error}");
}
