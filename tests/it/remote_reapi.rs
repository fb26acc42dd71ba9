//! `--remote-cache grpc://…` against a real BuildGrid (REAPI v2: ActionCache, CAS,
//! ByteStream): two stores standing for two machines; a warm remote gives a fresh store the
//! same images with no action run; a changed source runs only its dependants; poisoned CAS
//! bytes are detected and rebuilt, never kept; a server killed mid-build fails nothing.

use std::path::Path;
use std::time::Duration;

#[path = "../../benches/shared/buildgrid.rs"]
mod server;

use crate::remote_cache::summary;
use crate::support::{Run, run_bld};
use server::BuildGrid;

fn context(scratch: &Path, app: &str) {
    let dir = scratch.join("ctx");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("/bin/busybox (busybox-static)");
    std::fs::write(dir.join("app.txt"), app).expect("write");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN sleep 2 && echo made > /made\nCOPY app.txt /app.txt\n",
    )
    .expect("write");
}

/// `bld build -t app:1 --remote-cache URL ctx` with the store `store`; the image's digest,
/// how many actions ran and how many were remote hits.
fn build(scratch: &Path, store: &str, url: &str) -> (Run, String, usize, usize) {
    let ctx = scratch.join("ctx").display().to_string();
    let run = run_bld(
        scratch,
        &scratch.join(store),
        &["build", "-t", "app:1", "--remote-cache", url, &ctx],
    )
    .ok();
    let (digest, _, ran, remote) = summary(&run);
    (run, digest, ran, remote)
}

#[test]
fn a_fresh_store_builds_from_a_warm_reapi_cache_and_poison_is_rebuilt() {
    let Some(server) = BuildGrid::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch, "v1\n");
    let (_, digest, ran, _) = build(scratch, "a", &server.url());
    assert!(ran > 0);
    let (second, same, ran_b, hits) = build(scratch, "b", &server.url());
    assert_eq!(
        (same.as_str(), ran_b),
        (digest.as_str(), 0),
        "{}",
        second.stdout
    );
    assert!(hits > 0, "{}", second.stdout);

    std::fs::write(scratch.join("ctx/app.txt"), "v2\n").expect("write");
    let (third, changed, ran_c, _) = build(scratch, "c", &server.url());
    assert_ne!(changed, digest);
    assert_eq!(ran_c, 2, "the COPY and the image only: {}", third.stdout);

    // Every CAS object over 100 bytes altered on the server's disk: detected, rebuilt here,
    // and the store keeps only blobs that are what their names say.
    std::fs::write(scratch.join("ctx/app.txt"), "v1\n").expect("write");
    for object in server.objects() {
        let mut bytes = std::fs::read(&object).expect("object");
        if bytes.len() > 100 {
            bytes[50] ^= 0xff;
            std::fs::write(&object, bytes).expect("tamper");
        }
    }
    let (poisoned, again, ran_d, _) = build(scratch, "d", &server.url());
    assert_eq!(again, digest, "{}", poisoned.stdout);
    assert!(ran_d > 0, "{}", poisoned.stdout);
    assert!(
        poisoned.stderr.contains("warning: --remote-cache"),
        "{}",
        poisoned.stderr
    );
    crate::remote_cache::assert_blobs_are_what_their_names_say(&scratch.join("d"));
}

#[test]
fn a_server_killed_mid_build_or_never_there_fails_no_build() {
    let Some(mut server) = BuildGrid::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch, "v1\n");
    let url = server.url();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        server.kill();
    });
    let (during, digest, ran, _) = build(scratch, "a", &url);
    killer.join().expect("killer");
    assert!(
        digest.starts_with("sha256:") && ran > 0,
        "{}",
        during.stdout
    );
    let (never, same, _, _) = build(scratch, "b", "grpc://127.0.0.1:9");
    assert_eq!(same, digest);
    assert!(
        never.stderr.contains("building locally"),
        "{}",
        never.stderr
    );
}

/// Another client (or a server that lies) maps each action to another action's result: every
/// entry is refused, the build runs here to the same image, and says so once.
#[test]
fn action_cache_entries_holding_other_actions_records_are_not_taken() {
    let Some(server) = BuildGrid::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    context(scratch, "v1\n");
    let (first, digest, ran, _) = build(scratch, "a", &server.url());
    let client = bld_remote::Reapi::connect(&server.url(), "", &[]).expect("connect");
    let action = |hex: &str| bld_remote::action_for(hex).0;
    let mut entries = Vec::new();
    for key in std::fs::read_dir(scratch.join("a/ac")).expect("the store's action cache") {
        let hex = key
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(result) = client
            .action_result(&action(&hex))
            .expect("GetActionResult")
        {
            entries.push((hex, result));
        }
    }
    assert!(
        entries.len() >= ran,
        "every action that ran was uploaded: {}",
        first.stdout
    );
    for (i, (hex, _)) in entries.iter().enumerate() {
        let (_, other) = &entries[(i + 1) % entries.len()];
        client
            .upload(&action(hex), &[], other)
            .expect("UpdateActionResult");
    }
    let (swapped, same, ran_here, hits) = build(scratch, "b", &server.url());
    assert_eq!(same, digest, "{}", swapped.stdout);
    assert_eq!((ran_here, hits), (ran, 0), "{}", swapped.stdout);
    assert!(
        swapped.stderr.contains("holds the record of"),
        "{}",
        swapped.stderr
    );
}
