//! Context tree tests: building, queries, scoped symlink resolution, walking a directory.

use super::{ContextEntry, ContextTree, ResolveError};
use crate::context::{ContextError, DockerIgnore};

fn file() -> ContextEntry {
    ContextEntry::File {
        mode: 0o644,
        size: 1,
    }
}

fn link(target: &str) -> ContextEntry {
    ContextEntry::Symlink {
        target: target.to_string(),
    }
}

fn paths(tree: &ContextTree) -> Vec<&str> {
    tree.iter().map(|(path, _)| path).collect()
}

#[test]
fn from_entries_cleans_paths_and_adds_parents() {
    let tree = ContextTree::from_entries([
        ("./a//b/c.txt", file()),
        ("/x", ContextEntry::Dir { mode: 0o700 }),
    ])
    .expect("valid entries");
    assert_eq!(paths(&tree), ["a", "a/b", "a/b/c.txt", "x"]);
    assert_eq!(tree.get("a"), Some(&ContextEntry::Dir { mode: 0o755 }));
    assert_eq!(tree.get("x"), Some(&ContextEntry::Dir { mode: 0o700 }));
    assert_eq!(tree.len(), 4);
    assert!(!tree.is_empty());
}

#[test]
fn insert_rejects_bad_paths() {
    let mut tree = ContextTree::from_entries([("f", file()), ("d/x", file())]).expect("valid");
    for path in ["", ".", "../x", "a/../../x", "f/child", "d"] {
        let error = tree.insert(path, file()).expect_err(path);
        assert!(
            matches!(error, ContextError::InvalidPath { .. }),
            "{path:?}: {error:?}"
        );
    }
    // Replacing a file, or a directory by a directory, is fine.
    tree.insert("f", link("d")).expect("replace file");
    tree.insert("d", ContextEntry::Dir { mode: 0o700 })
        .expect("replace dir");
}

#[test]
fn descendants_and_children_respect_boundaries() {
    let tree = ContextTree::from_entries([
        ("a/x", file()),
        ("a/sub/y", file()),
        ("a-b/z", file()),
        ("ab", file()),
    ])
    .expect("valid");
    let descendants: Vec<&str> = tree.descendants("a").map(|(path, _)| path).collect();
    assert_eq!(descendants, ["a/sub", "a/sub/y", "a/x"]);
    let children: Vec<&str> = tree.children("a").map(|(path, _)| path).collect();
    assert_eq!(children, ["a/sub", "a/x"]);
    let top: Vec<&str> = tree.children("").map(|(path, _)| path).collect();
    assert_eq!(top, ["a", "a-b", "ab"]);
    assert_eq!(tree.descendants("").count(), tree.len());
    assert_eq!(tree.descendants("ab").count(), 0);
}

#[test]
fn resolve_follows_symlinks_inside_the_context_only() {
    let tree = ContextTree::from_entries([
        ("real/file.txt", file()),
        ("real/inner/deep.txt", file()),
        ("rel", link("real")),
        ("abs", link("/real/file.txt")),
        ("dotdot", link("../../../real")),
        ("chain", link("rel/inner")),
        ("real/up", link("../rel")),
        ("dangling", link("missing")),
        ("outside", link("/etc/passwd")),
        ("loop1", link("loop2")),
        ("loop2", link("loop1")),
        ("plain.txt", file()),
    ])
    .expect("valid");
    let ok = |path: &str, follow_last: bool| tree.resolve(path, follow_last);
    assert_eq!(ok("rel/file.txt", true), Ok("real/file.txt".to_string()));
    assert_eq!(ok("rel", true), Ok("real".to_string()));
    assert_eq!(ok("rel", false), Ok("rel".to_string()));
    assert_eq!(ok("abs", true), Ok("real/file.txt".to_string()));
    assert_eq!(ok("dotdot/inner", true), Ok("real/inner".to_string()));
    assert_eq!(
        ok("chain/deep.txt", true),
        Ok("real/inner/deep.txt".to_string())
    );
    assert_eq!(
        ok("real/up/file.txt", true),
        Ok("real/file.txt".to_string())
    );
    assert_eq!(ok("", true), Ok(String::new()));
    assert_eq!(
        ok("dangling", true),
        Err(ResolveError::NotFound("missing".to_string()))
    );
    assert_eq!(ok("dangling", false), Ok("dangling".to_string()));
    assert_eq!(
        ok("outside", true),
        Err(ResolveError::NotFound("etc".to_string()))
    );
    assert_eq!(ok("loop1", true), Err(ResolveError::TooManySymlinks));
    assert_eq!(
        ok("plain.txt/x", true),
        Err(ResolveError::NotADirectory("plain.txt".to_string()))
    );
    assert_eq!(
        ok("nope/x", true),
        Err(ResolveError::NotFound("nope".to_string()))
    );
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("bld-context-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    fn write(&self, rel: &str, contents: &str) {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, contents).expect("write file");
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn from_dir_walks_filters_and_keeps_parents_of_reincluded_entries() {
    let scratch = Scratch::new("from-dir");
    scratch.write("Dockerfile", "FROM scratch\n");
    scratch.write("src/main.rs", "fn main() {}\n");
    scratch.write("src/debug.log", "x");
    scratch.write("node_modules/pkg/index.js", "x");
    scratch.write("build/out/app.keep", "keep");
    scratch.write("build/out/app.o", "x");
    std::fs::create_dir_all(scratch.0.join("empty")).expect("mkdir");
    #[cfg(unix)]
    std::os::unix::fs::symlink("../outside", scratch.0.join("src/link")).expect("symlink");

    let ignore = DockerIgnore::parse("node_modules\n**/*.log\nbuild\n!build/**/*.keep\n")
        .expect("valid ignore file");
    let tree = ContextTree::from_dir(&scratch.0, &ignore).expect("walk");
    let mut expected = vec![
        "Dockerfile",
        "build",
        "build/out",
        "build/out/app.keep",
        "empty",
        "src",
    ];
    if cfg!(unix) {
        expected.push("src/link");
    }
    expected.push("src/main.rs");
    assert_eq!(paths(&tree), expected);
    assert_eq!(
        tree.get("src/main.rs")
            .map(|entry| matches!(entry, ContextEntry::File { size: 13, .. })),
        Some(true)
    );
    #[cfg(unix)]
    assert_eq!(tree.get("src/link"), Some(&link("../outside")));
    assert!(tree.get("empty").is_some_and(ContextEntry::is_dir));
}
