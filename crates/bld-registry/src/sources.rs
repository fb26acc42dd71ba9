//! Which repositories of which registries hold a blob, as this store's pulls and pushes saw
//! them: where a push can mount a blob from instead of uploading it (Docker keeps the same
//! record). One file per blob, `<store>/registry-sources/<hex>`, a line `HOST/REPOSITORY` each.

use std::io::Write;
use std::path::PathBuf;

use bld_core::Digest;
use bld_store::Store;

fn path(store: &Store, digest: &Digest) -> PathBuf {
    store.root().join("registry-sources").join(digest.hex())
}

/// The repositories of `host` known to hold `digest`.
pub(crate) fn on_host(store: &Store, digest: &Digest, host: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path(store, digest)).unwrap_or_default();
    let prefix = format!("{host}/");
    let mut repositories: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect();
    repositories.dedup();
    repositories
}

/// Records that `host`'s `repository` holds each of `digests`. A record that cannot be written
/// costs a later push a mount, nothing more, so failures are ignored.
pub(crate) fn record(store: &Store, digests: &[Digest], host: &str, repository: &str) {
    let line = format!("{host}/{repository}\n");
    for digest in digests {
        let path = path(store, digest);
        let known = std::fs::read_to_string(&path).unwrap_or_default();
        if known.lines().any(|l| format!("{l}\n") == line) {
            continue;
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // One short append: whole even when two processes record at once.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
    }
}
