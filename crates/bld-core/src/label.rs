//! Labels (`//pkg/path:name`) and target patterns (`//pkg/...`), parsed as Bazel does.

use std::fmt;

use crate::{Classify, ErrorKind};

/// A name for a target or a file: `@repo//package/path:name`.
///
/// The main repository has no `repo`. `@bld` is bld's own embedded repository (its rules).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    repo: Option<String>,
    package: String,
    name: String,
}

/// A label or pattern that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid label `{text}`: {reason}")]
pub struct LabelError {
    /// The text as given.
    pub text: String,
    /// What was wrong, and what was expected.
    pub reason: String,
}

impl Classify for LabelError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }
}

fn invalid(text: &str, reason: impl Into<String>) -> LabelError {
    LabelError {
        text: text.to_owned(),
        reason: reason.into(),
    }
}

fn check_package(text: &str, package: &str) -> Result<(), LabelError> {
    if package.is_empty() {
        return Ok(());
    }
    for part in package.split('/') {
        match part {
            "" => return Err(invalid(text, "package paths have no empty components")),
            "." | ".." => {
                return Err(invalid(text, "package paths may not contain `.` or `..`"));
            }
            _ if part.contains(':') || part.contains('@') => {
                return Err(invalid(text, "package paths may not contain `:` or `@`"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_name(text: &str, name: &str) -> Result<(), LabelError> {
    if name.is_empty() {
        return Err(invalid(text, "the target name is empty"));
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err(invalid(text, "target names may not start or end with `/`"));
    }
    for part in name.split('/') {
        match part {
            "" => return Err(invalid(text, "target names have no empty path components")),
            "." | ".." => {
                return Err(invalid(
                    text,
                    "target names may not contain `.` or `..` components (a source outside its package)",
                ));
            }
            _ => {}
        }
    }
    if name.contains(':') {
        return Err(invalid(text, "a label has at most one `:`"));
    }
    Ok(())
}

impl Label {
    /// A label in the main repository. Checks both parts.
    pub fn new(package: &str, name: &str) -> Result<Label, LabelError> {
        let text = format!("//{package}:{name}");
        check_package(&text, package)?;
        check_name(&text, name)?;
        Ok(Label {
            repo: None,
            package: package.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Parses `text` as written in a BUILD file of `current_package` (or on the command line,
    /// where `current_package` is the working directory's package).
    ///
    /// `//p:n`, `//p` (= `//p:<last component of p>`), `:n`, `n` (= `:n`), `sub/p:n`
    /// (= `//current/sub/p:n`) and `@repo//p:n` are accepted.
    pub fn parse(text: &str, current_package: &str) -> Result<Label, LabelError> {
        let (repo, rest) = if let Some(after_at) = text.strip_prefix('@') {
            let Some(slash) = after_at.find("//") else {
                return Err(invalid(text, "expected `@repo//package:name`"));
            };
            let repo = &after_at[..slash];
            if repo.is_empty()
                || !repo
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return Err(invalid(
                    text,
                    "repository names are letters, digits, `_`, `-` and `.`",
                ));
            }
            (Some(repo.to_owned()), &after_at[slash..])
        } else {
            (None, text)
        };
        let (package, name) = if let Some(absolute) = rest.strip_prefix("//") {
            match absolute.split_once(':') {
                Some((package, name)) => (package.to_owned(), name.to_owned()),
                None => {
                    let name = absolute.rsplit('/').next().unwrap_or_default();
                    if name.is_empty() {
                        return Err(invalid(text, "expected `//package:name`"));
                    }
                    (absolute.to_owned(), name.to_owned())
                }
            }
        } else if repo.is_some() {
            return Err(invalid(text, "expected `@repo//package:name`"));
        } else if let Some(name) = rest.strip_prefix(':') {
            (current_package.to_owned(), name.to_owned())
        } else if let Some((sub, name)) = rest.split_once(':') {
            (join_package(current_package, sub), name.to_owned())
        } else {
            (current_package.to_owned(), rest.to_owned())
        };
        check_package(text, &package)?;
        check_name(text, &name)?;
        Ok(Label {
            repo,
            package,
            name,
        })
    }

    /// The repository (`None` for the main one).
    pub fn repo(&self) -> Option<&str> {
        self.repo.as_deref()
    }

    /// The package path, `""` for the root package.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The target name within the package; for a source file its path in the package.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path of this label relative to the workspace root (`package/name`).
    pub fn workspace_path(&self) -> String {
        join_package(&self.package, &self.name)
    }
}

fn join_package(package: &str, rest: &str) -> String {
    if package.is_empty() {
        rest.to_owned()
    } else {
        format!("{package}/{rest}")
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(repo) = &self.repo {
            write!(f, "@{repo}")?;
        }
        write!(f, "//{}:{}", self.package, self.name)
    }
}

impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Label, D::Error> {
        let text = String::deserialize(deserializer)?;
        Label::parse(&text, "").map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Which targets a command names: one label, every target in a package, or every target in a
/// package and all packages below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPattern {
    /// `//pkg:name`
    Single(Label),
    /// `//pkg:all` or `//pkg:*`
    AllInPackage(String),
    /// `//pkg/...` or `//...`: the package (if it is one) and every package beneath it.
    Recursive(String),
}

impl TargetPattern {
    /// Parses a command-line pattern, relative to the working directory's package.
    pub fn parse(text: &str, current_package: &str) -> Result<TargetPattern, LabelError> {
        let absolute = if let Some(rest) = text.strip_prefix("//") {
            rest.to_owned()
        } else if let Some("all" | "*") = text.strip_prefix(':') {
            // `:all` in a package's directory is that package's `:all`, as in Bazel.
            return Ok(TargetPattern::AllInPackage(current_package.to_owned()));
        } else if text.starts_with(':') || text.starts_with('@') {
            return Ok(TargetPattern::Single(Label::parse(text, current_package)?));
        } else {
            join_package(current_package, text)
        };
        if absolute == "..." {
            return Ok(TargetPattern::Recursive(String::new()));
        }
        if let Some(package) = absolute.strip_suffix("/...") {
            check_package(text, package)?;
            return Ok(TargetPattern::Recursive(package.to_owned()));
        }
        if let Some((package, "all" | "*")) = absolute.split_once(':') {
            check_package(text, package)?;
            return Ok(TargetPattern::AllInPackage(package.to_owned()));
        }
        let label = Label::parse(&format!("//{absolute}"), current_package)
            .map_err(|e| invalid(text, e.reason))?;
        Ok(TargetPattern::Single(label))
    }

    /// Whether `package` is covered by this pattern (for `Single`, whether it is the label's).
    pub fn covers_package(&self, package: &str) -> bool {
        match self {
            TargetPattern::Single(label) => label.package() == package,
            TargetPattern::AllInPackage(p) => p == package,
            TargetPattern::Recursive(prefix) => {
                prefix.is_empty()
                    || package == prefix
                    || (package.starts_with(prefix.as_str())
                        && package.as_bytes().get(prefix.len()) == Some(&b'/'))
            }
        }
    }
}

impl fmt::Display for TargetPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetPattern::Single(label) => write!(f, "{label}"),
            TargetPattern::AllInPackage(p) => write!(f, "//{p}:all"),
            TargetPattern::Recursive(p) if p.is_empty() => write!(f, "//..."),
            TargetPattern::Recursive(p) => write!(f, "//{p}/..."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str, current: &str) -> String {
        Label::parse(text, current)
            .map(|l| l.to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn parses_the_bazel_forms() {
        assert_eq!(
            label("//examples/hello:image", ""),
            "//examples/hello:image"
        );
        assert_eq!(label("//examples/hello", ""), "//examples/hello:hello");
        assert_eq!(label(":image", "examples/hello"), "//examples/hello:image");
        assert_eq!(
            label("hello.txt", "examples/hello"),
            "//examples/hello:hello.txt"
        );
        assert_eq!(label("sub/a.txt", "p"), "//p:sub/a.txt");
        assert_eq!(label("hello:image", "examples"), "//examples/hello:image");
        assert_eq!(label("@bld//rules:oci.star", "x"), "@bld//rules:oci.star");
        assert_eq!(label("//:root", "x"), "//:root");
    }

    #[test]
    fn rejects_escapes_and_malformed_labels() {
        for bad in [
            "//a/../b:c",
            "//a:../x",
            ":",
            "//a:b:c",
            "//a//b:c",
            "@//a:b",
            "@r:x",
            "//",
        ] {
            assert!(Label::parse(bad, "p").is_err(), "{bad} should fail");
        }
        assert!(label("../../etc/passwd", "p").contains("outside its package"));
    }

    #[test]
    fn parses_patterns() {
        let p = |t: &str, c: &str| TargetPattern::parse(t, c).map(|p| p.to_string());
        assert_eq!(p("//...", "").ok().as_deref(), Some("//..."));
        assert_eq!(
            p("//examples/...", "").ok().as_deref(),
            Some("//examples/...")
        );
        assert_eq!(p("...", "examples").ok().as_deref(), Some("//examples/..."));
        assert_eq!(p("//a:all", "").ok().as_deref(), Some("//a:all"));
        assert_eq!(
            p(":image", "examples/hello").ok().as_deref(),
            Some("//examples/hello:image")
        );
        // `:all` relative to the package of the working directory, as in Bazel: every
        // target of that package, not a target named `all`.
        let all_in = |t: &str, c: &str| match TargetPattern::parse(t, c) {
            Ok(TargetPattern::AllInPackage(package)) => Some(package),
            _ => None,
        };
        assert_eq!(all_in(":all", "pkg").as_deref(), Some("pkg"));
        assert_eq!(all_in(":*", "a/b").as_deref(), Some("a/b"));
        assert_eq!(all_in(":all", "").as_deref(), Some(""));
        assert_eq!(all_in("sub:all", "pkg").as_deref(), Some("pkg/sub"));
        assert_eq!(all_in(":allx", "pkg"), None);
        let rec = TargetPattern::Recursive("ex".into());
        assert!(
            rec.covers_package("ex/a") && rec.covers_package("ex") && !rec.covers_package("exa")
        );
    }
}
