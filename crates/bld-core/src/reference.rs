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

/// Whether the first component of a name with more than one is taken as a registry, as Docker
/// takes it: it has a `.` or a `:`, is `localhost`, or is an IPv6 address.
fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.starts_with('[')
}

/// Whether a name is 64 hexadecimal digits, which Docker takes as an image ID.
fn is_image_id(name: &str) -> bool {
    name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit())
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
        if is_image_id(name) {
            return Err(fail(
                "64 hexadecimal digits are an image ID, not a repository name",
            ));
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let first_is_domain = parts.len() > 1 && looks_like_domain(parts[0]);
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

    /// The repository as Docker shows it (distribution/reference's `FamiliarName`): `app` for
    /// `docker.io/library/app`, `user/app` for `docker.io/user/app`, other registries in full.
    ///
    /// Whatever it drops, parsing the result gives the same name back: `library/` stays when
    /// more than one component follows (`library/evil.com/app`, not `evil.com/app`, another
    /// registry's image) or when what follows is 64 hex digits (an image ID); `docker.io/`
    /// stays when the path's first component would be taken as a registry
    /// (`docker.io/evil.com/app`, which Docker itself shows wrongly as `evil.com/app`).
    pub fn familiar_name(&self) -> &str {
        let Some(path) = self.name.strip_prefix("docker.io/") else {
            return &self.name;
        };
        if let Some(official) = path.strip_prefix(OFFICIAL_PREFIX) {
            if !official.contains('/') && !is_image_id(official) {
                return official;
            }
            return path;
        }
        match path.split_once('/') {
            Some((first, _)) if !looks_like_domain(first) => path,
            _ => &self.name,
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

    /// The two names the outside test campaign found shown as something that parses to
    /// another image, or not at all.
    #[test]
    fn familiar_forms_parse_back_to_the_same_image() {
        let reference = ImageReference::parse("docker.io/library/evil.com/app:1").expect("parses");
        assert_eq!(reference.name, "docker.io/library/evil.com/app");
        assert_eq!(reference.familiar(), "library/evil.com/app:1");
        let id = "0123456789abcdef".repeat(4);
        let reference = ImageReference::parse(&format!("library/{id}")).expect("parses");
        assert_eq!(reference.familiar(), format!("library/{id}:latest"));
        // Docker shows `docker.io/evil.com/app` as `evil.com/app`; bld keeps the registry.
        let reference = ImageReference::parse("docker.io/evil.com/app").expect("parses");
        assert_eq!(reference.familiar(), "docker.io/evil.com/app:latest");
        let reference = ImageReference::parse("docker.io/localhost/app").expect("parses");
        assert_eq!(reference.familiar(), "docker.io/localhost/app:latest");
        for text in [
            "docker.io/library/evil.com/app:1",
            &format!("library/{id}"),
            "docker.io/evil.com/app",
            "docker.io/localhost/app",
        ] {
            let reference = ImageReference::parse(text).expect("parses");
            assert_eq!(
                ImageReference::parse(&reference.familiar()).expect("familiar parses"),
                reference
            );
        }
    }

    mod round_trip {
        use proptest::prelude::*;

        use super::super::ImageReference;

        /// Path components, among them ones that look like registries (`evil.com`,
        /// `localhost`), image IDs and `library`.
        fn component() -> impl Strategy<Value = String> {
            let alphabet: Vec<char> = "ab09".chars().collect();
            let word = proptest::collection::vec(proptest::sample::select(alphabet), 1..4)
                .prop_map(|chars| chars.into_iter().collect::<String>());
            let separator = proptest::sample::select(vec![".", "_", "__", "-", "--"]);
            let joined = (word.clone(), proptest::option::of((separator, word))).prop_map(
                |(first, rest)| match rest {
                    Some((separator, second)) => format!("{first}{separator}{second}"),
                    None => first,
                },
            );
            prop_oneof![
                4 => joined,
                1 => Just("library".to_owned()),
                1 => Just("localhost".to_owned()),
                1 => Just("evil.com".to_owned()),
                1 => Just("0123456789abcdef".repeat(4)),
            ]
        }

        fn domain() -> impl Strategy<Value = Option<&'static str>> {
            proptest::option::of(proptest::sample::select(vec![
                "docker.io",
                "index.docker.io",
                "localhost",
                "localhost:5000",
                "evil.com",
                "registry.example:443",
                "[::1]:5000",
            ]))
        }

        fn reference_text() -> impl Strategy<Value = String> {
            let tag = proptest::option::of(proptest::sample::select(vec![
                "1", "latest", "v2.0", "a_b-c",
            ]));
            let digest = proptest::option::of(Just(format!("sha256:{}", "ab".repeat(32))));
            (
                domain(),
                proptest::collection::vec(component(), 1..4),
                tag,
                digest,
            )
                .prop_map(|(domain, path, tag, digest)| {
                    let mut text = domain.map(|d| format!("{d}/")).unwrap_or_default();
                    text.push_str(&path.join("/"));
                    if let Some(tag) = tag {
                        text.push(':');
                        text.push_str(tag);
                    }
                    if let Some(digest) = digest {
                        text.push('@');
                        text.push_str(&digest);
                    }
                    text
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            /// Every reference bld can hold parses back from both of the forms bld prints.
            #[test]
            fn printed_references_parse_back(text in reference_text()) {
                // Some generated texts are not references (a lone image ID); skip those.
                if let Ok(reference) = ImageReference::parse(&text) {
                    let familiar = reference.familiar();
                    prop_assert_eq!(
                        ImageReference::parse(&familiar).ok(), Some(reference.clone()),
                        "familiar form `{}` of `{}`", familiar, text
                    );
                    let full = reference.to_string();
                    prop_assert_eq!(
                        ImageReference::parse(&full).ok(), Some(reference.clone()),
                        "full form `{}` of `{}`", full, text
                    );
                    prop_assert_eq!(
                        ImageReference::parse(reference.familiar_name()).ok().map(|r| r.name),
                        Some(reference.name.clone()),
                        "familiar name of `{}`", text
                    );
                }
            }
        }
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
