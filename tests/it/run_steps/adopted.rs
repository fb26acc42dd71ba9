//! A step's upper directory adopted as its layer's unpacked directory
//! (`bld_sandbox::adopt_upper`) against the layer unpacked from the cache.

use super::{unpack_app, workspace};

/// A step's upper directory, kept as its layer's unpacked directory for the next step, shows
/// that step exactly what unpacking the layer would: the same files, modes, owners, link
/// counts and mtimes (not atimes: the listing itself moves a directory's), and nothing the
/// layer leaves out (a cache mount's target, a volume's contents). The second build hits the
/// first step's cache and unpacks its layer instead.
#[test]
fn the_next_step_sees_the_same_files_whether_a_step_ran_or_was_cached() {
    const FIRST: &str = "FROM busybox\nVOLUME /vol\n\
        RUN --mount=type=cache,target=/cache B=/bin/busybox; $B mkdir -p /made/sub /opq /vol && \
        echo x > /made/f && $B chmod 4751 /made/f && $B ln /made/f /made/hard && \
        $B ln -s f /made/link && $B mkfifo /made/fifo && echo c > /cache/c && echo v > /vol/v && \
        $B touch /made/sub/t && rm /bin/touch\n";
    let list = |round: &str| {
        format!(
            "RUN B=/bin/busybox; $B find / -xdev -mindepth 1 ! -path '/proc*' ! -path '/sys*' \
             ! -path '/dev*' ! -path '/etc*' ! -path /listing \
             -exec $B stat -c '%n %F %a %u %g %s %Y %h' {{}} + | $B sort > /listing # {round}\n"
        )
    };
    let sandbox = workspace(&format!("{FIRST}{}", list("1")));
    sandbox.bld(&["build", "//app:image"]).ok();
    let ran = std::fs::read_to_string(unpack_app(&sandbox, "ran").join("listing")).expect("read");
    std::fs::remove_dir_all(sandbox.store().join("unpacked")).expect("remove unpacked layers");
    sandbox.write("app/Dockerfile", &format!("{FIRST}{}", list("2")));
    let second = sandbox.bld(&["build", "//app:image"]).ok();
    let cached =
        std::fs::read_to_string(unpack_app(&sandbox, "cached").join("listing")).expect("read");
    assert!(second.stderr.contains("cache hit") || second.stdout.contains("cache hit"));
    assert!(
        ran.contains("/made/hard regular file 4751 0 0 2 0 2"),
        "{ran}"
    );
    assert!(
        !ran.contains("/cache") && !ran.contains("/vol/v") && !ran.contains("/bin/touch"),
        "{ran}"
    );
    assert_eq!(ran, cached);
}
