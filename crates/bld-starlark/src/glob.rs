//! `glob()` over a package directory.

use std::path::Path;

use bld_core::BUILD_FILE;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::sources::{EntryKind, Sources};

fn build_set(patterns: &[String]) -> anyhow::Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        if pattern.starts_with('/') || pattern.split('/').any(|part| part == "..") {
            anyhow::bail!(
                "glob pattern `{pattern}` must be relative to the package and stay inside it"
            );
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| anyhow::anyhow!("invalid glob pattern `{pattern}`: {e}"))?;
        set.add(glob);
    }
    set.build()
        .map_err(|e| anyhow::anyhow!("invalid glob patterns: {e}"))
}

/// Files under `package_dir` (relative, `/`-separated, sorted) matching `include` and not
/// `exclude`, not descending into subpackages or following directory symlinks.
pub fn glob(
    sources: &Sources,
    package_dir: &Path,
    include: &[String],
    exclude: &[String],
) -> anyhow::Result<Vec<String>> {
    let include = build_set(include)?;
    let exclude = build_set(exclude)?;
    let mut found = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(relative) = pending.pop() {
        let dir = if relative.is_empty() {
            package_dir.to_owned()
        } else {
            package_dir.join(&relative)
        };
        let entries = sources
            .read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("glob: cannot list `{}`: {e}", dir.display()))?;
        for (name, kind) in entries {
            let path = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            if kind == EntryKind::Dir {
                if !sources.is_file(&dir.join(&name).join(BUILD_FILE)) {
                    pending.push(path);
                }
            } else if include.is_match(&path) && !exclude.is_match(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn matches_within_the_package_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        for path in [
            "a.txt",
            "b.md",
            "sub/c.txt",
            "sub/deep/d.txt",
            "subpkg/BUILD.star",
            "subpkg/e.txt",
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, "x").expect("write");
        }
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            glob(&Sources::default(), dir.path(), &s(&["*.txt"]), &[]).expect("glob"),
            s(&["a.txt"])
        );
        assert_eq!(
            glob(
                &Sources::default(),
                dir.path(),
                &s(&["**/*.txt"]),
                &s(&["sub/deep/**"])
            )
            .expect("glob"),
            s(&["a.txt", "sub/c.txt"])
        );
        assert!(glob(&Sources::default(), dir.path(), &s(&["../*"]), &[]).is_err());
    }
}
