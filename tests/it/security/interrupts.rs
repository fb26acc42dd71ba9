//! Nothing left running: a killed, `kill -9`ed or interrupted bld leaves no container,
//! secret or temporary file, and a store that rebuilds the clean digest.

use std::path::Path;

use super::{assert_layout_is_sound, assert_tmp_is_empty, containers};
use crate::run_steps::workspace;
use crate::support::{Sandbox, tool};

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &[u8]) -> bool {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file()
                && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                return true;
            }
        }
    }
    false
}

/// Starts `bld args` in the workspace and returns the child.
fn spawn_bld(sandbox: &Sandbox, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(args)
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start bld")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_killed_build_leaves_no_container_secret_or_temporary_file_for_long() {
    let sandbox = workspace(
        "FROM busybox\nRUN --mount=type=secret,id=token sh -c 'cat /run/secrets/token > /dev/null; sleep 60'\n",
    );
    let secret = sandbox.path().join("token");
    std::fs::write(&secret, "s3cr3t-VALUE-9f2c").expect("write");
    let secret_arg = format!("id=token,src={}", secret.display());
    let mut child = spawn_bld(&sandbox, &["build", "--secret", &secret_arg, "//app:image"]);
    wait_for("the step's container", || {
        !containers(&sandbox.store()).is_empty()
    });
    assert!(
        !any_file_holds(&sandbox.store(), b"s3cr3t-VALUE-9f2c"),
        "the secret is on no disk while the step runs"
    );
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    assert_eq!(
        containers(&sandbox.store()).len(),
        1,
        "the container outlives a killed bld"
    );

    // The next build reaps it, and what the dead process left in tmp/.
    sandbox.write("app/Dockerfile", "FROM busybox\nRUN echo done > /done\n");
    sandbox.bld(&["build", "//app:image"]).ok();
    assert_eq!(containers(&sandbox.store()), Vec::<String>::new());
    assert_tmp_is_empty(&sandbox.store());
}

/// Every blob of the store hashes to its name.
fn assert_store_blobs_are_sound(store: &Path) {
    for blob in std::fs::read_dir(store.join("blobs/sha256")).expect("blobs") {
        let path = blob.expect("blob").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bld_core::Digest::of(&bytes).hex(), name, "blob {name}");
    }
}

#[test]
fn a_kill_9_campaign_leaves_a_store_that_rebuilds_the_clean_digest() {
    let dockerfile = |round: u32| {
        format!(
            "FROM busybox\nENV ROUND={round}\nCOPY name.txt /name.txt\n\
             RUN busybox dd if=/dev/zero of=/big bs=1048576 count=24 2>/dev/null && busybox sleep 0.3\n\
             RUN --mount=type=cache,target=/cache cat /name.txt > /out\n"
        )
    };
    let clean = workspace(&dockerfile(0));
    let clean_digest = clean
        .bld(&["build", "//app:image"])
        .ok()
        .digest_of("//app:image");

    let sandbox = workspace(&dockerfile(0));
    // Builds killed at several phases: analysis, unpacking, running a step, packing its
    // 24 MB layer, writing outputs. Each round changes the first step, so all of them run.
    for (round, delay) in [30u64, 150, 300, 500, 700, 900, 1200, 1600]
        .iter()
        .enumerate()
    {
        sandbox.write("app/Dockerfile", &dockerfile(round as u32 + 1));
        let mut child = spawn_bld(&sandbox, &["build", "//app:image"]);
        std::thread::sleep(std::time::Duration::from_millis(*delay));
        let _ = child.kill();
        child.wait().expect("wait");
    }
    // Garbage collections killed while deleting.
    for delay in [5u64, 20, 60] {
        let mut child = spawn_bld(&sandbox, &["image", "prune", "-a"]);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().expect("wait");
    }
    sandbox.write("app/Dockerfile", &dockerfile(0));
    let rebuilt = sandbox.bld(&["build", "//app:image"]).ok();
    assert_eq!(rebuilt.digest_of("//app:image"), clean_digest);
    assert_store_blobs_are_sound(&sandbox.store());
    assert_layout_is_sound(&sandbox.ws().join("bld-out/app/image"));
    assert_eq!(containers(&sandbox.store()), Vec::<String>::new());
    assert_tmp_is_empty(&sandbox.store());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let store = sandbox.store().display().to_string();
    assert!(
        !mounts.lines().any(|l| l.contains(&store)),
        "no mount of the store is left"
    );
    // Every unpacked layer is complete (it has its record), or absent.
    for entry in std::fs::read_dir(sandbox.store().join("unpacked")).expect("unpacked") {
        let dir = entry.expect("entry").path();
        assert!(
            dir.join("record").is_file(),
            "{} is incomplete",
            dir.display()
        );
    }
}

#[test]
fn an_interrupted_build_stops_its_containers_and_removes_its_files() {
    let sandbox = workspace("FROM busybox\nRUN busybox sleep 30\n");
    for signal in ["-INT", "-TERM"] {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
            .args(["build", "//app:image"])
            .current_dir(sandbox.ws())
            .env("BLD_STORE", sandbox.store())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start bld");
        wait_for("the step's container", || {
            !containers(&sandbox.store()).is_empty()
        });
        tool("kill", &[signal, &child.id().to_string()]);
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{signal}: {stderr}");
        assert_eq!(
            containers(&sandbox.store()),
            Vec::<String>::new(),
            "{signal}"
        );
        assert_tmp_is_empty(&sandbox.store());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let store = sandbox.store().display().to_string();
        assert!(!mounts.lines().any(|l| l.contains(&store)), "{signal}");
    }
}
