//! Image references as Docker parses them: `name`, `name:tag`, `host:port/ns/name:tag`,
//! `name@sha256:…`, normalized as Docker does (`app` is `docker.io/library/app:latest`).

use std::fmt;

use crate::{Classify, Digest, ErrorKind};

/// The registry Docker assumes when a name has none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const MAX_NAME_LENGTH: usize = 255;

/// A normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageReference {
    /// The full repository: `docker.io/library/app`, `localhost:5000/team/app`.
    pub name: String,
    /// The tag; `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    /// The manifest digest (`name@sha256:…`).
    pub digest: Option<Digest>,
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

/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`, as Docker's path components are.
fn valid_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &part[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_domain(part: &str) -> bool {
    let (host, port) = match part.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || part.starts_with('[') => (host, Some(port)),
        _ => (part, None),
    };
    let host_ok = if let Some(ipv6) = host.strip_prefix('[') {
        ipv6.strip_suffix(']')
            .is_some_and(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_hexdigit() || c == ':'))
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= 128
        && tag.starts_with(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// Splits `name[:tag]` at the `:` after the last `/` (a registry's port is not a tag).
pub fn split_tag(text: &str) -> (&str, Option<&str>) {
    let last_slash = text.rfind('/').map_or(0, |i| i + 1);
    match text[last_slash..].rfind(':') {
        Some(colon) => (
            &text[..last_slash + colon],
            Some(&text[last_slash + colon + 1..]),
        ),
        None => (text, None),
    }
}

impl ImageReference {
    /// Parses `name[:tag][@digest]`, normalizing the name as Docker does.
    pub fn parse(text: &str) -> Result<ImageReference, ReferenceError> {
        let fail = |reason: &str| ReferenceError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(fail(
                "it is empty; expected `name`, `name:tag` or `name@sha256:…`",
            ));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let parsed: Digest = digest
                    .parse()
                    .map_err(|_| fail("a digest is `sha256:` and 64 lowercase hex digits"))?;
                (rest, Some(parsed))
            }
            None => (text, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(fail(
                "a tag is 1 to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            ));
        }
        if name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(fail(
                "64 hexadecimal digits are an image ID, not a repository name",
            ));
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let first_is_domain = parts.len() > 1
            && (parts[0].contains(['.', ':'])
                || parts[0] == "localhost"
                || parts[0].starts_with('['));
        let domain = if first_is_domain {
            let domain = parts.remove(0);
            if !valid_domain(domain) {
                return Err(fail("the registry must be `host` or `host:port`"));
            }
            if domain == LEGACY_DEFAULT_DOMAIN {
                DEFAULT_DOMAIN
            } else {
                domain
            }
        } else {
            DEFAULT_DOMAIN
        };
        if parts
            .iter()
            .any(|p| p.chars().any(|c| c.is_ascii_uppercase()))
        {
            return Err(fail("repository names must be lowercase"));
        }
        if parts.is_empty() || !parts.iter().all(|p| valid_component(p)) {
            return Err(fail(
                "a repository is lowercase letters and digits, separated by `.`, `_`, `__`, `-` or `/` (e.g. `app`, `registry:5000/team/app:1.0`)",
            ));
        }
        let path = parts.join("/");
        let path = if domain == DEFAULT_DOMAIN && parts.len() == 1 {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path
        };
        let name = format!("{domain}/{path}");
        if name.len() > MAX_NAME_LENGTH {
            return Err(fail("a repository name is at most 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(ImageReference { name, tag, digest })
    }

    /// Parses a name for a new tag (`docker build -t`, `docker tag` TARGET): no digest.
    pub fn parse_tag(text: &str) -> Result<ImageReference, ReferenceError> {
        let reference = ImageReference::parse(text)?;
        if reference.digest.is_some() {
            return Err(ReferenceError {
                text: text.to_owned(),
                reason: "a digest cannot name a new tag; use `name:tag`".to_owned(),
            });
        }
        Ok(reference)
    }

    /// The repository as Docker shows it: `app` for `docker.io/library/app`, `user/app` for
    /// `docker.io/user/app`, other registries in full.
    pub fn familiar_name(&self) -> &str {
        match self.name.strip_prefix("docker.io/") {
            Some(path) => path.strip_prefix(OFFICIAL_PREFIX).unwrap_or(path),
            None => &self.name,
        }
    }

    /// The reference as Docker shows it: `app:1`, `app@sha256:…`.
    pub fn familiar(&self) -> String {
        self.with_name(self.familiar_name())
    }

    fn with_name(&self, name: &str) -> String {
        let mut text = name.to_owned();
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
        text
    }
}

/// The full normalized form: `docker.io/library/app:latest`.
impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_name(&self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> String {
        ImageReference::parse(text)
            .map(|r| r.to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn names_are_normalized_as_docker_does() {
        assert_eq!(full("app"), "docker.io/library/app:latest");
        assert_eq!(full("app:1.0"), "docker.io/library/app:1.0");
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(full("docker.io/app"), "docker.io/library/app:latest");
        assert_eq!(full("index.docker.io/user/app:2"), "docker.io/user/app:2");
        assert_eq!(
            full("localhost:5000/team/app:v2"),
            "localhost:5000/team/app:v2"
        );
        assert_eq!(full("localhost/app"), "localhost/app:latest");
        assert_eq!(
            full("registry.example/a/b/c"),
            "registry.example/a/b/c:latest"
        );
        assert_eq!(full("[::1]:5000/app:x"), "[::1]:5000/app:x");
        assert_eq!(
            full("my_app__x.y-z---w"),
            "docker.io/library/my_app__x.y-z---w:latest"
        );
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            full(&format!("app@{digest}")),
            format!("docker.io/library/app@{digest}")
        );
        assert_eq!(
            full(&format!("app:1@{digest}")),
            format!("docker.io/library/app:1@{digest}")
        );
    }

    #[test]
    fn familiar_forms_drop_the_default_registry() {
        let familiar = |t: &str| ImageReference::parse(t).expect(t).familiar();
        assert_eq!(familiar("docker.io/library/app:1"), "app:1");
        assert_eq!(familiar("user/app"), "user/app:latest");
        assert_eq!(familiar("localhost:5000/app:v"), "localhost:5000/app:v");
    }

    #[test]
    fn malformed_references_say_what_was_expected() {
        for (bad, says) in [
            ("", "empty"),
            ("App", "lowercase"),
            ("app:", "a tag is"),
            ("app:-x", "a tag is"),
            ("app:a/b", "registry"),
            ("/app", "lowercase letters"),
            ("app//x", "lowercase letters"),
            ("app_", "lowercase letters"),
            ("a..b", "lowercase letters"),
            ("app@sha256:00", "a digest is"),
            ("bad host:1/app", "registry"),
            ("host:port/app", "registry"),
        ] {
            let error = ImageReference::parse(bad).expect_err(bad).to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let id = "ab".repeat(32);
        assert!(ImageReference::parse(&id).is_err());
        assert!(ImageReference::parse(&"a".repeat(300)).is_err());
        let digest = format!("app@sha256:{}", "ab".repeat(32));
        assert!(ImageReference::parse_tag(&digest).is_err());
    }
}
