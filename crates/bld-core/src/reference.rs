//! Image references as `docker build -t` takes them: `name`, `name:tag`, `host:port/ns/name:tag`.

use std::fmt;

use crate::{Classify, ErrorKind};

/// A named, tagged image reference. The tag defaults to `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    /// The repository: lowercase path components, optionally after a `host[:port]/`.
    pub name: String,
    /// The tag.
    pub tag: String,
}

/// A reference that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid image reference `{text}`: {reason}")]
pub struct ReferenceError {
    /// The text as given.
    pub text: String,
    /// What was wrong and what was expected.
    pub reason: String,
}

impl Classify for ReferenceError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }
}

fn valid_component(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && part.starts_with(|c: char| c.is_ascii_alphanumeric())
        && part.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn valid_host(part: &str) -> bool {
    let (host, port) = part.split_once(':').unwrap_or((part, ""));
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        && port.chars().all(|c| c.is_ascii_digit())
}

impl ImageReference {
    /// Parses `name[:tag]`.
    pub fn parse(text: &str) -> Result<ImageReference, ReferenceError> {
        let fail = |reason: &str| ReferenceError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.contains('@') {
            return Err(fail("digests cannot name a build result; use `name:tag`"));
        }
        let last_slash = text.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match text[last_slash..].rfind(':') {
            Some(colon) => (&text[..last_slash + colon], &text[last_slash + colon + 1..]),
            None => (text, "latest"),
        };
        if tag.is_empty()
            || tag.len() > 128
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            || tag.starts_with(['.', '-'])
        {
            return Err(fail(
                "a tag is 1 to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            ));
        }
        let parts: Vec<&str> = name.split('/').collect();
        let first_is_host =
            parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost");
        let path = if first_is_host {
            &parts[1..]
        } else {
            &parts[..]
        };
        if first_is_host && !valid_host(parts[0]) {
            return Err(fail("the registry host must be `host` or `host:port`"));
        }
        if path.is_empty() || !path.iter().all(|p| valid_component(p)) {
            return Err(fail(
                "repository names are lowercase letters, digits and `._-` separated by `/` (e.g. `app`, `registry:5000/team/app:1.0`)",
            ));
        }
        Ok(ImageReference {
            name: name.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_tags_and_registries() {
        let p = |t: &str| {
            ImageReference::parse(t)
                .map(|r| r.to_string())
                .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(p("app"), "app:latest");
        assert_eq!(p("app:1.0"), "app:1.0");
        assert_eq!(
            p("localhost:5000/team/app:v2"),
            "localhost:5000/team/app:v2"
        );
        assert_eq!(p("registry.example/app"), "registry.example/app:latest");
        for bad in [
            "App",
            "app:",
            "app:-x",
            "/app",
            "app//x",
            "app@sha256:00",
            "",
        ] {
            assert!(ImageReference::parse(bad).is_err(), "{bad}");
        }
    }
}
