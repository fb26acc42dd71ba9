//! Pattern tests: patternmatcher's `TestMatches` table, syntax errors, the Go
//! `filepath.Match` flavour and the "could match inside" query.

use super::{PathPattern, glob_component, tokens_match};
use crate::context::path::go_clean;

fn compile(pattern: &str) -> PathPattern {
    PathPattern::compile(&go_clean(pattern)).expect("pattern should compile")
}

/// `(pattern, path, matches)` checked with parent matching, as patternmatcher's
/// `MatchesOrParentMatches` does (its `TestMatches` table plus a few more).
const MATCHES: &[(&str, &str, bool)] = &[
    ("**", "file", true),
    ("**", "file/", true),
    ("**/", "file", true),
    ("**/", "file/", true),
    ("**", "/", true),
    ("**/", "/", true),
    ("**", "dir/file", true),
    ("**/", "dir/file", true),
    ("**", "dir/file/", true),
    ("**/", "dir/file/", true),
    ("**/**", "dir/file", true),
    ("**/**", "dir/file/", true),
    ("dir/**", "dir/file", true),
    ("dir/**", "dir/file/", true),
    ("dir/**", "dir/dir2/file", true),
    ("dir/**", "dir/dir2/file/", true),
    ("**/dir", "dir", true),
    ("**/dir", "dir/file", true),
    ("**/dir2/*", "dir/dir2/file", true),
    ("**/dir2/*", "dir/dir2/file/", true),
    ("**/dir2/**", "dir/dir2/dir3/file", true),
    ("**/dir2/**", "dir/dir2/dir3/file/", true),
    ("**file", "file", true),
    ("**file", "dir/file", true),
    ("**/file", "dir/file", true),
    ("**file", "dir/dir/file", true),
    ("**/file", "dir/dir/file", true),
    ("**/file*", "dir/dir/file", true),
    ("**/file*", "dir/dir/file.txt", true),
    ("**/file*txt", "dir/dir/file.txt", true),
    ("**/file*.txt", "dir/dir/file.txt", true),
    ("**/file*.txt*", "dir/dir/file.txt", true),
    ("**/**/*.txt", "dir/dir/file.txt", true),
    ("**/**/*.txt2", "dir/dir/file.txt", false),
    ("**/*.txt", "file.txt", true),
    ("**/**/*.txt", "file.txt", true),
    ("a**/*.txt", "a/file.txt", true),
    ("a**/*.txt", "a/dir/file.txt", true),
    ("a**/*.txt", "a/dir/dir/file.txt", true),
    ("a/*.txt", "a/dir/file.txt", false),
    ("a/*.txt", "a/file.txt", true),
    ("a/*.txt**", "a/file.txt", true),
    ("a[b-d]e", "ae", false),
    ("a[b-d]e", "ace", true),
    ("a[b-d]e", "aae", false),
    ("a[^b-d]e", "aze", true),
    (".*", ".foo", true),
    (".*", "foo", false),
    ("abc.def", "abcdef", false),
    ("abc.def", "abc.def", true),
    ("abc.def", "abcZdef", false),
    ("abc?def", "abcZdef", true),
    ("abc?def", "abcdef", false),
    ("a\\\\", "a\\", true),
    ("**/foo/bar", "foo/bar", true),
    ("**/foo/bar", "dir/foo/bar", true),
    ("**/foo/bar", "dir/dir2/foo/bar", true),
    ("abc/**", "abc", false),
    ("abc/**", "abc/def", true),
    ("abc/**", "abc/def/ghi", true),
    ("**/.foo", ".foo", true),
    ("**/.foo", "bar.foo", false),
    ("a(b)c/def", "a(b)c/def", true),
    ("a(b)c/def", "a(b)c/xyz", false),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    ("a\\*b", "a*b", true),
    ("a\\*b", "axb", false),
    // Beyond patternmatcher's table.
    ("*", "dir/file", true),
    ("*.go", "dir/main.go", false),
    ("*/*.go", "dir/main.go", true),
    ("foo", "foo/bar/baz", true),
    ("foo", "foobar", false),
    ("foo/bar", "foo", false),
    ("[a-c]*", "banana", true),
    ("[!a]*", "!x", true),
    ("[!a]*", "bx", false),
    ("[\\]]", "]", true),
    ("x]", "x]", true),
    ("?", "ab", false),
    ("a?c", "a/c", false),
    ("a*c", "a/c", false),
    ("a**c", "a/b/c", true),
    ("a**c", "ac", true),
    ("a**c", "abc", false),
    // patternmatcher's suffix fast path: a leading `**` then literal text is a plain
    // "ends with", so `**file` also matches `xfile`.
    ("**file", "xfile", true),
    ("**/file", "xfile", false),
    ("**", "anything/at/all", true),
    ("dir/**/file", "dir/file", true),
    ("dir/**/file", "dir/a/b/file", true),
    ("dir/**/file", "dirx/file", false),
    ("ünï*", "ünïcode", true),
];

#[test]
fn matches_table_like_patternmatcher() {
    for &(pattern, path, expected) in MATCHES {
        let compiled = compile(pattern);
        assert_eq!(
            compiled.matches_self_or_parent(path),
            expected,
            "pattern {pattern:?} against {path:?}"
        );
    }
}

#[test]
fn malformed_patterns_are_rejected_like_filepath_match() {
    for (pattern, reason) in [
        ("[", "unterminated"),
        ("a[b", "unterminated"),
        ("[]", "empty"),
        ("[^]", "empty"),
        ("[a-]", "upper bound"),
        ("[-a]", "starts with `-`"),
        ("[a", "unterminated"),
        ("a\\", "trailing"),
        ("[\\", "unterminated"),
    ] {
        let error = PathPattern::compile(pattern).expect_err(pattern);
        assert!(error.contains(reason), "{pattern:?}: {error}");
        let error = glob_component(pattern).expect_err(pattern);
        assert!(error.contains(reason), "{pattern:?}: {error}");
    }
    // Go never reads `]` or `-` as the first character of a range.
    for (pattern, valid) in [
        ("[]a]", false),
        ("[a-b-c]", false),
        ("[\\-]", true),
        ("[a-]b]", false),
    ] {
        let result = PathPattern::compile(pattern);
        assert_eq!(result.is_ok(), valid, "{pattern:?}: {result:?}");
    }
}

#[test]
fn glob_components_follow_filepath_match() {
    for (pattern, name, expected) in [
        ("*", "anything", true),
        ("*", "", true),
        ("*.txt", "a.txt", true),
        ("*.txt", "a.txt.bak", false),
        ("**", "abc", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("[a-c]x", "bx", true),
        ("[^a-c]x", "bx", false),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("*.[ch]", "main.c", true),
        ("*.[ch]", "main.o", false),
    ] {
        let tokens = glob_component(pattern).expect("component should compile");
        assert_eq!(
            tokens_match(&tokens, name),
            expected,
            "{pattern:?} vs {name:?}"
        );
    }
}

#[test]
fn could_match_inside_is_exact_for_literals_and_conservative_for_globs() {
    for (pattern, dir, expected) in [
        ("foo/bar", "foo", true),
        ("foo/bar", "fo", false),
        ("foo", "foo", false),
        ("foobar/x", "foo", false),
        ("foo/**", "foo", true),
        ("fo**", "foo", true),
        ("bar/**", "foo", false),
        ("**/keep", "anything", true),
        ("*/keep", "foo", true),
        ("*/keep", "foo/bar", false),
        ("foo/*.txt", "foo", true),
        ("foo/*.txt", "bar", false),
        ("f[o]o/x", "foo", true),
        ("a/**/b", "a/x/y", true),
    ] {
        assert_eq!(
            compile(pattern).could_match_inside(dir),
            expected,
            "{pattern:?} inside {dir:?}"
        );
    }
}
