//! `/`-separated path helpers shared by the ignore matcher, the tree and the copy planner.
//!
//! Context paths are relative, cleaned and never start or end with `/`; the context root
//! is the empty string.

/// Go's `path.Clean`: collapse `//`, drop `.`, resolve `..` lexically (dropped at the root
/// of an absolute path, kept at the front of a relative one); `.` for an empty result.
pub(crate) fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Cleans a path relative to the context root; a leading `/` means the root too.
/// Returns `None` if `..` climbs above the root, `Some("")` for the root itself.
pub(crate) fn clean_relative(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Cleans an absolute image path, clamping `..` at `/`, and drops the leading `/`.
pub(crate) fn clean_absolute(path: &str) -> String {
    let cleaned = go_clean(&format!("/{path}"));
    cleaned.trim_start_matches('/').to_string()
}

/// Joins two cleaned relative paths, either of which may be the root `""`.
pub(crate) fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}/{rest}"),
    }
}

/// The last component of a cleaned path (`""` for the root).
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// The proper ancestors of a cleaned path, outermost first: `a/b/c` gives `a`, `a/b`.
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(move |(index, _)| &path[..index])
}

/// `path` relative to `dir` if it lies strictly inside it (`dir` may be the root).
pub(crate) fn strip_dir<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if dir.is_empty() {
        return (!path.is_empty()).then_some(path);
    }
    path.strip_prefix(dir)?.strip_prefix('/')
}

/// Whether a path component holds an unescaped `*`, `?` or `[` (BuildKit's
/// `containsWildcards`): such a component is matched, anything else is looked up as is.
pub(crate) fn contains_wildcards(component: &str) -> bool {
    let mut chars = component.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_clean_matches_go() {
        for (input, expected) in [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("a//b/./c/", "a/b/c"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("!a/../b", "b"),
            ("./**/", "**"),
        ] {
            assert_eq!(go_clean(input), expected, "go_clean({input:?})");
        }
    }

    #[test]
    fn relative_and_absolute_cleaning() {
        assert_eq!(clean_relative("/a/./b/"), Some("a/b".to_string()));
        assert_eq!(clean_relative("."), Some(String::new()));
        assert_eq!(clean_relative("a/../.."), None);
        assert_eq!(clean_absolute("app/../../x/"), "x");
        assert_eq!(clean_absolute("/"), "");
    }

    #[test]
    fn component_helpers() {
        assert_eq!(base_name("a/b/c"), "c");
        assert_eq!(base_name("c"), "c");
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
        assert_eq!(strip_dir("a/b/c", "a"), Some("b/c"));
        assert_eq!(strip_dir("ab/c", "a"), None);
        assert_eq!(strip_dir("a", "a"), None);
        assert_eq!(strip_dir("x", ""), Some("x"));
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", ""), "a");
        assert!(contains_wildcards("a*"));
        assert!(contains_wildcards("[ab]"));
        assert!(!contains_wildcards("a\\*b"));
        assert!(!contains_wildcards("plain"));
    }
}
