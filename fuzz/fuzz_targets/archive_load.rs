//! `bld load`'s archive reader: any bytes load or are refused, and a refusal leaves the
//! store without a new blob or a temporary file.
#![no_main]

use std::sync::OnceLock;

static STORE: OnceLock<(tempfile::TempDir, bld_store::Store)> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (_dir, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = bld_store::Store::open(dir.path()).expect("store");
        (dir, store)
    });
    let blobs = || {
        std::fs::read_dir(store.root().join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = blobs();
    let mut input = data;
    if bld_oci::load_archive(store, &mut input).is_err() {
        assert_eq!(blobs(), before, "a refused archive added blobs");
    }
    let temps = std::fs::read_dir(store.root().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(temps, 0, "the loader left temporary files");
});
