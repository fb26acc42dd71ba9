//! How bld's peer, buildah, is asked to build: one definition for the benchmarks that time it
//! and the tests that compare images with it (`tests/it/buildah_peer.rs`), so that both measure
//! and compare the same builds. Each caller adds its own storage and cache flags (`--layers`
//! for the benchmarks' cached rebuilds; overlay or vfs storage).
#![allow(dead_code)]

/// `buildah bud` flags for Dockerfiles with RUN steps, isolated as bld isolates them: an OCI
/// runtime (runc), no network, history times at 0, quiet.
pub const BUD_ISOLATED_RUN: &[&str] = &[
    "--isolation",
    "oci",
    "--runtime",
    "runc",
    "--network",
    "none",
    "--timestamp",
    "0",
    "-q",
];

/// `buildah bud` flags for Dockerfiles without RUN steps (chroot isolation runs nothing),
/// history times at 0, quiet.
pub const BUD_WITHOUT_RUN: &[&str] = &["--isolation", "chroot", "--timestamp", "0", "-q"];
