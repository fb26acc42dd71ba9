//! `.dockerignore` parsing and matching: the first line of the input is a path to match,
//! the rest the ignore file.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, patterns) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(ignore) = bld_dockerfile::context::DockerIgnore::parse(patterns) {
        let _ = ignore.is_excluded(path);
        let _ = ignore.excludes_dir_entirely(path);
    }
});
