//! `bld tag`, `bld rmi`, `bld image prune`, `bld gc`, and the names they print.

use super::{image_id, rows, store_with_images};
use crate::support::Sandbox;

#[test]
fn tag_gives_an_image_another_name() {
    let sandbox = store_with_images();
    let app_id = image_id(&sandbox, "app:1");
    sandbox.bld(&["tag", "app:1", "app:2"]).ok();
    sandbox
        .bld(&["image", "tag", &app_id[7..19], "docker.io/library/app:3"])
        .ok();
    assert_eq!(
        image_id(&sandbox, "app:2"),
        app_id,
        "a tag is a new name, not a copy"
    );
    assert_eq!(image_id(&sandbox, "app:3"), app_id);
    let bad = sandbox.bld(&["tag", "app:1", "App:UPPER"]);
    assert!(
        bad.code == 1 && bad.stderr.contains("lowercase"),
        "{}",
        bad.stderr
    );
    let missing = sandbox.bld(&["tag", "nope", "x:1"]);
    assert!(
        missing.code == 1 && missing.stderr.contains("no such image"),
        "{}",
        missing.stderr
    );
}

#[test]
fn rmi_untags_by_name_and_removes_by_id_as_docker_does() {
    let sandbox = store_with_images();
    let app_id = image_id(&sandbox, "app:1");
    sandbox.bld(&["tag", "app:1", "app:2"]).ok();
    sandbox.bld(&["tag", "app:1", "app:3"]).ok();
    // By name: untags only.
    let untag = sandbox.bld(&["rmi", "app:3"]).ok();
    assert_eq!(untag.stdout, "Untagged: app:3\n");
    // By ID with several tags: refused, naming them; -f removes them all.
    let refused = sandbox.bld(&["rmi", &app_id[7..19]]);
    assert_eq!(refused.code, 1);
    for text in [
        "must be forced",
        "app:1",
        "app:2",
        "registry.example:5000/team/app:v1",
    ] {
        assert!(refused.stderr.contains(text), "{text}: {}", refused.stderr);
    }
    // The base has a child: by ID is refused even forced; by name it is untagged but kept.
    let base_id = image_id(&sandbox, "base:1");
    let child = sandbox.bld(&["rmi", "-f", &base_id[7..19]]);
    assert!(
        child.code == 1 && child.stderr.contains("dependent child images"),
        "{}",
        child.stderr
    );
    sandbox.bld(&["rmi", "base:1"]).ok();
    let all = sandbox.bld(&["images", "-a"]).ok();
    assert!(
        all.stdout.contains("<none>") && all.stdout.contains(&base_id[7..19]),
        "{}",
        all.stdout
    );
    let listed = sandbox.bld(&["images"]).ok();
    assert!(
        !listed.stdout.contains(&base_id[7..19]),
        "an intermediate image is hidden without -a"
    );

    let forced = sandbox.bld(&["rmi", "-f", &app_id[7..19]]).ok();
    for text in [
        "Untagged: app:1",
        "Untagged: app:2",
        &format!("Deleted: {app_id}"),
        &format!("Deleted: {base_id}"),
    ] {
        assert!(forced.stdout.contains(text), "{text}: {}", forced.stdout);
    }
    let left = sandbox.bld(&["images", "-a", "-q"]).ok();
    assert_eq!(
        left.stdout.lines().count(),
        1,
        "only //pkg:image is left: {}",
        left.stdout
    );

    // Several arguments: each is tried; a failure makes the exit code 1.
    let mixed = sandbox.bld(&["rmi", "nope:1", "bld.local/pkg/image"]);
    assert_eq!(mixed.code, 1);
    assert!(
        mixed
            .stdout
            .contains("Untagged: bld.local/pkg/image:latest"),
        "{}",
        mixed.stdout
    );
    assert!(
        mixed.stderr.contains("no such image: `nope:1`"),
        "{}",
        mixed.stderr
    );
}

#[test]
fn prune_and_gc_free_what_no_image_refers_to() {
    let sandbox = store_with_images();
    // An untagged build result is a dangling image.
    sandbox.write("base/a.txt", "changed\n");
    sandbox.bld(&["build", "base"]).ok();
    let dangling = sandbox.bld(&["images"]).ok();
    assert!(dangling.stdout.contains("<none>"), "{}", dangling.stdout);
    let blobs = |s: &Sandbox| {
        std::fs::read_dir(s.store().join("blobs/sha256"))
            .expect("blobs")
            .count()
    };
    let before = blobs(&sandbox);
    let prune = sandbox.bld(&["image", "prune", "-f"]).ok();
    assert!(
        prune
            .stdout
            .starts_with("Deleted Images:\ndeleted: sha256:"),
        "{}",
        prune.stdout
    );
    assert!(
        prune.stdout.contains("Total reclaimed space: "),
        "{}",
        prune.stdout
    );
    assert!(
        !prune.stdout.contains("Total reclaimed space: 0B"),
        "{}",
        prune.stdout
    );
    assert!(blobs(&sandbox) < before);
    assert!(!sandbox.bld(&["images"]).ok().stdout.contains("<none>"));

    // The kept images are whole: they still save as layouts skopeo verifies, and rebuild from
    // the cache.
    sandbox.bld(&["rmi", "bld.local/pkg/image"]).ok();
    let gc = sandbox.bld(&["gc"]).ok();
    assert!(
        gc.stdout.contains("Total reclaimed space:") && !gc.stdout.contains(" 0B"),
        "{}",
        gc.stdout
    );
    let again = sandbox.bld(&["gc"]).ok();
    assert!(again.stdout.contains("Removed 0 blobs"), "{}", again.stdout);
    sandbox.bld(&["build", "-o", "out", "app"]).ok();
    crate::support::skopeo_verifies(&sandbox.ws().join("out"));
}

#[test]
fn two_processes_tagging_and_removing_lose_nothing() {
    let sandbox = store_with_images();
    let spawn = |prefix: &'static str, remove_even: bool| {
        let ws = sandbox.ws();
        let store = sandbox.store();
        std::thread::spawn(move || {
            for i in 0..40 {
                let name = format!("{prefix}:{i}");
                let run = crate::support::run_bld(&ws, &store, &["tag", "app:1", &name]);
                assert_eq!(run.code, 0, "{}", run.stderr);
                if remove_even && i % 2 == 0 {
                    let run = crate::support::run_bld(&ws, &store, &["rmi", &name]);
                    assert_eq!(run.code, 0, "{}", run.stderr);
                }
            }
        })
    };
    let a = spawn("one", false);
    let b = spawn("two", true);
    a.join().expect("first process");
    b.join().expect("second process");
    let names = sandbox
        .bld(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .stdout;
    for i in 0..40 {
        assert!(names.contains(&format!("one:{i}\n")), "one:{i} lost");
        assert_eq!(names.contains(&format!("two:{i}\n")), i % 2 == 1, "two:{i}");
    }
    let app_id = image_id(&sandbox, "app:1");
    let ids = sandbox
        .bld(&["images", "-q", "--no-trunc", "one"])
        .ok()
        .stdout;
    assert!(ids.lines().all(|id| id == app_id), "{ids}");
    let tmp = std::fs::read_dir(sandbox.store().join("tmp"))
        .expect("tmp")
        .count();
    assert_eq!(tmp, 0, "no half-written files are left");
}

#[test]
fn short_tags_an_earlier_bld_wrote_are_renamed_to_normalized_ones() {
    let sandbox = store_with_images();
    let tags = sandbox.store().join("tags");
    let manifest =
        std::fs::read_to_string(tags.join("docker.io%2Flibrary%2Fapp%3A1")).expect("tag");
    std::fs::write(tags.join("old%3A7"), &manifest).expect("write an old-style tag");
    let list = sandbox
        .bld(&["images", "--format", "{{.Repository}}:{{.Tag}}", "old"])
        .ok();
    assert_eq!(list.stdout, "old:7\n");
    assert!(!tags.join("old%3A7").exists() && tags.join("docker.io%2Flibrary%2Fold%3A7").exists());
    sandbox.bld(&["rmi", "old:7"]).ok();
}

/// Every name `bld images`, `inspect` and `rmi` print names the image it stands for:
/// `docker.io/library/evil.com/app:1` is shown as `library/evil.com/app:1` (not
/// `evil.com/app:1`, another registry's image) and `library/<64 hex>` keeps its `library/`
/// (64 hex digits alone are an image ID).
#[test]
fn printed_names_parse_back_to_the_same_image() {
    let sandbox = Sandbox::with_files(&[("ctx/Dockerfile", "FROM scratch\nLABEL a=1\n")]);
    let id_like = format!("library/{}", "0123456789abcdef".repeat(4));
    sandbox
        .bld(&[
            "build",
            "-t",
            "docker.io/library/evil.com/app:1",
            "-t",
            &id_like,
            "ctx",
        ])
        .ok();
    let listed: Vec<String> = rows(&sandbox.bld(&["images"]).ok())
        .into_iter()
        .map(|row| format!("{}:{}", row[0], row[1]))
        .collect();
    let id_like_tag = format!("{id_like}:latest");
    assert_eq!(
        listed,
        vec![id_like_tag.clone(), "library/evil.com/app:1".to_owned()]
    );
    let tags = sandbox
        .bld(&[
            "inspect",
            "--format",
            "{{json .RepoTags}}",
            "library/evil.com/app:1",
        ])
        .ok();
    assert_eq!(
        tags.stdout.trim(),
        format!("[\"{id_like_tag}\",\"library/evil.com/app:1\"]")
    );
    for name in &listed {
        let removed = sandbox.bld(&["rmi", name]).ok();
        assert!(
            removed.stdout.contains(&format!("Untagged: {name}")),
            "{}",
            removed.stdout
        );
    }
}
