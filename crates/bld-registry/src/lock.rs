//! The lock file: each registry image a build named by tag, and the manifest (for a platform)
//! the tag resolved to, so that later builds use the same bytes without asking the registry.
//!
//! ```toml
//! # Written by bld: … `bld build --pull` resolves the tags again; `--locked` refuses changes.
//! version = 1
//!
//! [[image]]
//! name = "docker.io/library/busybox:1.36"
//! platform = "linux/amd64"
//! digest = "sha256:…"       # the image's manifest for the platform
//! repo-digest = "sha256:…"  # what the tag served (an index, or that manifest)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use bld_core::{Digest, ImageReference};

use crate::RegistryError;

const HEADER: &str = "# Written by bld: the image each tag in a build resolved to. Later builds use these\n\
# without asking the registry; `bld build --pull` resolves them again, `--locked` fails\n\
# when this file would change.\n";

/// What a tag resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    /// The image's manifest for the platform.
    pub digest: Digest,
    /// What the registry served for the tag (an index, or the manifest), when known.
    pub repo_digest: Option<Digest>,
}

/// A lock file's entries, by full name (`docker.io/library/busybox:1`) and platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    entries: BTreeMap<(String, String), Locked>,
}

/// How an entry changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The image, as Docker shows it (`busybox:1`).
    pub name: String,
    /// Its platform.
    pub platform: String,
    /// The manifest it was locked to, if it was.
    pub from: Option<Digest>,
    /// The manifest it is locked to now.
    pub to: Digest,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) => write!(
                f,
                "{} ({}) moved from {from} to {}",
                self.name, self.platform, self.to
            ),
            None => write!(f, "{} ({}) locked to {}", self.name, self.platform, self.to),
        }
    }
}

impl Change {
    /// Why `--locked` refuses this change to the lock file at `path`.
    pub fn refused(&self, path: &Path) -> String {
        format!(
            "the lock file {} is out of date ({self}), and --locked forbids changing it; \
             build without --locked to update it",
            path.display()
        )
    }
}

impl Lock {
    /// The lock file `path` (empty when there is none).
    ///
    /// # Errors
    ///
    /// It cannot be read, or is not a lock file: said with the file, the line and what was
    /// expected.
    pub fn read(path: &Path) -> Result<Lock, RegistryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
            Err(e) => {
                return Err(RegistryError::Unsupported(format!(
                    "the lock file {} cannot be read: {e}",
                    path.display()
                )));
            }
        };
        Lock::parse(&text, path).map_err(RegistryError::Unsupported)
    }

    fn parse(text: &str, path: &Path) -> Result<Lock, String> {
        let table = crate::config::parse_toml(text, path)?;
        let at = |n: usize| {
            // The line of the n-th `[[image]]`.
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.trim() == "[[image]]")
                .nth(n)
                .map_or(String::new(), |(i, _)| format!(":{}", i + 1))
        };
        match table.get("version").and_then(toml::Value::as_integer) {
            Some(1) => {}
            _ => return Err(format!("{}: expected `version = 1`", path.display())),
        }
        let mut lock = Lock::default();
        let images = match table.get("image") {
            None => return Ok(lock),
            Some(images) => images.as_array().ok_or_else(|| {
                format!(
                    "{}: `image` must be a list of [[image]] tables",
                    path.display()
                )
            })?,
        };
        for (n, image) in images.iter().enumerate() {
            let field = |key: &str| image.get(key).and_then(toml::Value::as_str);
            let bad = |what: &str| format!("{}{}: {what}", path.display(), at(n));
            let name = field("name")
                .and_then(|n| ImageReference::parse(n).ok())
                .filter(|r| r.tag.is_some() && r.digest.is_none())
                .ok_or_else(|| bad("`name` must be an image name with a tag"))?;
            let platform = field("platform")
                .filter(|p| crate::Platform::parse(p).is_ok())
                .ok_or_else(|| bad("`platform` must be OS/ARCH[/VARIANT]"))?;
            let digest = field("digest")
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| bad("`digest` must be a sha256:… digest"))?;
            let repo_digest = match field("repo-digest") {
                None => None,
                Some(d) => Some(
                    d.parse()
                        .map_err(|_| bad("`repo-digest` must be a sha256:… digest"))?,
                ),
            };
            lock.entries.insert(
                (name.to_string(), platform.to_owned()),
                Locked {
                    digest,
                    repo_digest,
                },
            );
        }
        Ok(lock)
    }

    /// What `name` (full, with its tag) is locked to for `platform`.
    pub fn get(&self, name: &str, platform: &str) -> Option<Locked> {
        self.entries
            .get(&(name.to_owned(), platform.to_owned()))
            .copied()
    }

    /// Locks `name` for `platform` to `locked`; returns the change, if it is one.
    pub fn set(&mut self, name: &ImageReference, platform: &str, locked: Locked) -> Option<Change> {
        let key = (name.to_string(), platform.to_owned());
        let before = self.entries.insert(key, locked);
        (before.map(|b| b.digest) != Some(locked.digest)).then(|| Change {
            name: name.familiar(),
            platform: platform.to_owned(),
            from: before.map(|b| b.digest),
            to: locked.digest,
        })
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let mut text = format!("{HEADER}version = 1\n");
        for ((name, platform), locked) in &self.entries {
            text.push_str(&format!(
                "\n[[image]]\nname = \"{name}\"\nplatform = \"{platform}\"\ndigest = \"{}\"\n",
                locked.digest
            ));
            if let Some(repo_digest) = locked.repo_digest {
                text.push_str(&format!("repo-digest = \"{repo_digest}\"\n"));
            }
        }
        text
    }

    /// Writes the lock to `path`, whole or not at all.
    ///
    /// # Errors
    ///
    /// It cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), RegistryError> {
        let failed = |e: std::io::Error| {
            RegistryError::Unsupported(format!(
                "the lock file {} cannot be written: {e}",
                path.display()
            ))
        };
        let temporary = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
        std::fs::write(&temporary, self.text())
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                failed(e)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{Lock, Locked};
    use bld_core::{Digest, ImageReference};
    use std::path::Path;

    #[test]
    fn a_lock_reads_back_what_it_wrote_and_names_the_line_of_a_bad_entry() {
        let path = Path::new("/ctx/Dockerfile.lock");
        let mut lock = Lock::default();
        let name = ImageReference::parse("busybox:1").expect("parses");
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let locked = Locked {
            digest: a,
            repo_digest: Some(b),
        };
        let change = lock.set(&name, "linux/amd64", locked).expect("added");
        assert_eq!(
            change.to_string(),
            format!("busybox:1 (linux/amd64) locked to {a}")
        );
        assert_eq!(lock.set(&name, "linux/amd64", locked), None, "unchanged");
        let again = Lock::parse(&lock.text(), path).expect("parses");
        assert_eq!(again, lock);
        assert_eq!(
            again.get("docker.io/library/busybox:1", "linux/amd64"),
            Some(locked)
        );
        let moved = lock
            .set(
                &name,
                "linux/amd64",
                Locked {
                    digest: b,
                    repo_digest: None,
                },
            )
            .expect("moved");
        assert_eq!(
            moved.to_string(),
            format!("busybox:1 (linux/amd64) moved from {a} to {b}")
        );

        let bad = "version = 1\n\n[[image]]\nname = \"busybox:1\"\nplatform = \"linux/amd64\"\n\n[[image]]\nname = \"busybox\"\n";
        let error = Lock::parse(bad, path).expect_err("bad entry");
        assert!(
            error.starts_with("/ctx/Dockerfile.lock:3: `digest`"),
            "{error}"
        );
        let error = Lock::parse("version = 2\n", path).expect_err("version");
        assert_eq!(error, "/ctx/Dockerfile.lock: expected `version = 1`");
    }
}
