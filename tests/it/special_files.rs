//! What a `RUN` step makes beyond regular files — a FIFO, devices, hard links, setuid, setgid
//! and sticky bits, a file capability — kept in its layer, seen by a later step, and copied
//! by `COPY --from` as Docker 20.10 copies them (`docker_peer` builds the same Dockerfile
//! with Docker; this runs without it). Layers holding them are reproducible.

use std::path::Path;

use crate::peers;
use crate::support::run_bld;

/// Builds [`peers::SPECIAL_FILES_DOCKERFILE`] with the store `store` into the layout
/// `layout`; returns bld's output, whose summary names the image's digest.
fn build(scratch: &Path, store: &Path, layout: &Path) -> String {
    peers::bld_busybox_base(scratch, store);
    let context = scratch.join("special");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(context.join("Dockerfile"), peers::SPECIAL_FILES_DOCKERFILE).expect("write");
    std::fs::write(context.join("caps.tar"), peers::caps_archive()).expect("write");
    let layout_arg = layout.display().to_string();
    let built = run_bld(
        scratch,
        store,
        &["build", "-o", &layout_arg, &context.display().to_string()],
    );
    built.ok().stdout
}

#[test]
fn special_files_are_kept_seen_by_later_steps_and_reproducible() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let layout = scratch.path().join("image");
    let built = build(scratch.path(), &scratch.path().join("store"), &layout);
    let listing = peers::unpacked_listing(&layout.display().to_string(), &scratch.path().join("b"));
    let entry = |path: &str| listing.get(path).map(String::as_str).unwrap_or("absent");
    assert_eq!(entry("s/p"), "fifo 644 0:0");
    assert_eq!(entry("s/c"), "char device 103 644 0:0");
    assert_eq!(entry("s/b"), "block device 700 644 0:0");
    for name in ["s/h0", "s/h1", "s/h2"] {
        assert!(
            entry(name).ends_with(" 4755 0:0 link-of s/h0"),
            "{name}: {}",
            entry(name)
        );
    }
    assert!(entry("s/sg").contains(" 2755 0:0"), "{}", entry("s/sg"));
    assert_eq!(entry("s/st"), "dir 1777 0:0");
    // The copied-up file keeps its capability, not its `user.k` (as in Docker's layers), and
    // its hard link made by the step is one file with it.
    let capability: String = peers::NET_BIND_SERVICE
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let capfile = format!(" 750 0:0 xattr security.capability={capability} link-of x/capfile");
    assert!(
        entry("x/capfile").ends_with(&capfile),
        "{}",
        entry("x/capfile")
    );
    assert!(
        entry("x/caplink").ends_with(&capfile),
        "{}",
        entry("x/caplink")
    );
    assert!(
        entry("x/userfile").ends_with(" 750 0:0"),
        "{}",
        entry("x/userfile")
    );
    // COPY --from: a FIFO is left out, a device is an empty file, links inside a copied
    // directory stay links, two named sources do not, the capability is kept.
    assert_eq!(entry("copied/p"), "absent");
    assert!(
        entry("copied/c").starts_with("file 0 bytes "),
        "{}",
        entry("copied/c")
    );
    assert!(
        entry("copied/h1").ends_with(" link-of copied/h0"),
        "{}",
        entry("copied/h1")
    );
    assert!(
        entry("two/h1").ends_with(" 4755 0:0"),
        "{}",
        entry("two/h1")
    );
    let copied_cap =
        format!(" 750 0:0 xattr security.capability={capability} link-of copiedx/capfile");
    assert!(
        entry("copiedx/capfile").ends_with(&copied_cap),
        "{}",
        entry("copiedx/capfile")
    );
    // What the later step saw, as it sees it under Docker.
    let seen = std::fs::read_to_string(scratch.path().join("b/rootfs/seen")).expect("seen");
    assert_eq!(
        seen,
        "/s/p fifo 1 644 0,0\n/s/c character special file 1 644 1,3\n\
         /s/b block special file 1 644 7,0\n/s/h0 regular file 3 4755 0,0\n\
         /s/h1 regular file 3 4755 0,0\n/s/sg regular file 1 2755 0,0\n\
         /s/st directory 2 1777 0,0\n/x/caplink regular file 2 750 0,0\n\
         /copied/c regular empty file 1 644 0,0\n/copied/h1 regular file 3 4755 0,0\n\
         /two/h1 regular file 1 4755 0,0\n"
    );
    // Another store builds every layer again, to the same bytes.
    let again = scratch.path().join("again");
    std::fs::create_dir_all(&again).expect("mkdir");
    let rebuilt = build(&again, &again.join("store"), &again.join("image"));
    let digest = |out: &str| {
        out.split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_owned)
    };
    assert_eq!(digest(&rebuilt), digest(&built), "{built}\n{rebuilt}");
    assert!(digest(&built).is_some(), "{built}");
}
