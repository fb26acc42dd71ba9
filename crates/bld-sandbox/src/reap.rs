//! Reaping containers a killed bld left running.

use std::path::Path;
use std::process::{Command, Stdio};

/// Kills and deletes every container under `state_dir` (one directory per runtime, as
/// [`crate::run`] makes them) whose bld process no longer runs; returns how many. A runtime
/// that is not installed has nothing running.
pub fn reap_abandoned(state_dir: &Path) -> usize {
    reap_containers(state_dir, &|owner| !bld_core::is_running(owner))
}

/// Kills and deletes the containers under `state_dir` whose owner tag `whose` accepts (this
/// process's own, when it is interrupted); returns how many.
pub fn reap_containers(state_dir: &Path, whose: &dyn Fn(&str) -> bool) -> usize {
    let mut reaped = 0;
    let Ok(runtimes) = std::fs::read_dir(state_dir) else {
        return 0;
    };
    for runtime in runtimes.flatten() {
        let root = runtime.path();
        let name = runtime.file_name().to_string_lossy().into_owned();
        let Ok(containers) = std::fs::read_dir(&root) else {
            continue;
        };
        for container in containers.flatten() {
            let id = container.file_name().to_string_lossy().into_owned();
            let Some(owner) = id.strip_prefix("bld-").and_then(bld_core::owner_of) else {
                continue;
            };
            if !whose(owner) {
                continue;
            }
            let runtime = |args: &[&str]| {
                Command::new(&name)
                    .arg("--root")
                    .arg(&root)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            runtime(&["kill", &id, "KILL"]);
            if runtime(&["delete", "--force", &id]) {
                reaped += 1;
            }
        }
    }
    reaped
}
