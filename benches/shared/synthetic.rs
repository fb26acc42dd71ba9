//! The benchmarks' inputs: a synthetic workspace of N packages, and a large build context.

// Each benchmark uses a part.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace at `root` of `packages` packages, each a `pkg_tar` of one file and an
/// `oci_image` of it (`//pkgs/pNNN/pNNNNN:image`).
pub fn workspace(root: &Path, packages: usize) {
    fs::create_dir_all(root).expect("mkdir");
    fs::write(root.join("WORKSPACE.star"), "").expect("write");
    for i in 0..packages {
        let dir = root.join(package_dir(i));
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("file.txt"), format!("content of package {i}\n")).expect("write");
        fs::write(
            dir.join("BUILD.star"),
            "pkg_tar(\n    name = \"layer\",\n    srcs = [\"file.txt\"],\n    package_dir = \"/data\",\n)\n\n\
             oci_image(\n    name = \"image\",\n    tars = [\":layer\"],\n    cmd = [\"/bin/true\"],\n)\n",
        )
        .expect("write");
    }
}

/// Where package `i` of [`workspace`] is, relative to its root.
pub fn package_dir(i: usize) -> String {
    format!("pkgs/p{:03}/p{i:05}", i / 100)
}

/// The trees the large context copies: about 190 MB in 8,000+ files.
pub const TREES: &[&str] = &["/usr/share/doc", "/usr/share/perl", "/usr/lib/python3"];

/// A large build context in `dir`: copies of [`TREES`] and a Dockerfile `COPY`ing them all
/// into scratch.
pub fn large_context(dir: &Path) -> PathBuf {
    let context = dir.join("context");
    fs::create_dir_all(&context).expect("mkdir");
    for tree in TREES {
        let status = Command::new("cp")
            .arg("-a")
            .arg(tree)
            .arg(&context)
            .status()
            .expect("cp");
        assert!(status.success(), "cp -a {tree}");
    }
    fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY . /data/\n").expect("write");
    context
}
