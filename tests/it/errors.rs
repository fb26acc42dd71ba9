//! Bad input gets a clear error naming file, line and column, exit code 1, and never a panic.

use crate::support::{Run, Sandbox, assert_run_snapshot};

#[track_caller]
pub(crate) fn fails_with(run: &Run, expected: &[&str]) {
    assert_eq!(
        run.code, 1,
        "expected exit 1 (a user error)\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    for text in expected {
        assert!(
            run.stderr.contains(text),
            "stderr lacks `{text}`:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

pub(crate) fn package(build: &str) -> Sandbox {
    Sandbox::with_files(&[("app/BUILD.star", build), ("app/a.txt", "a\n")])
}

#[test]
fn syntax_errors_name_the_line_and_column() {
    let sandbox = package("pkg_tar(\n    name = \"x\",\n    srcs = [\"a.txt\"\n)\n");
    fails_with(&sandbox.bld(&["build", "//app:x"]), &["app/BUILD.star:4:1"]);
}

#[test]
fn unknown_attributes_are_rejected_with_the_known_ones() {
    let sandbox = package("\n\npkg_tar(name = \"x\", srcz = [\"a.txt\"])\n");
    fails_with(
        &sandbox.bld(&["build", "//app:x"]),
        &[
            "app/BUILD.star:3:1",
            "has no attribute `srcz`",
            "srcs",
            "package_dir",
        ],
    );
}

#[test]
fn wrong_attribute_types_say_what_was_expected() {
    let sandbox = package("oci_image(name = \"i\", cmd = \"echo hi\")\n");
    fails_with(
        &sandbox.bld(&["build", "//app:i"]),
        &[
            "app/BUILD.star:1:1",
            "attribute `cmd`: expected a list of strings",
        ],
    );
}

#[test]
fn missing_mandatory_attributes_are_named() {
    let sandbox = Sandbox::with_files(&[
        ("rules/BUILD.star", ""),
        (
            "rules/r.star",
            "def _i(ctx):\n    return []\nr = rule(implementation = _i, attrs = {\"x\": attr.string(mandatory = True)})\n",
        ),
        (
            "app/BUILD.star",
            "load(\"//rules:r.star\", \"r\")\nr(name = \"t\")\n",
        ),
    ]);
    fails_with(
        &sandbox.bld(&["build", "//app:t"]),
        &["app/BUILD.star:2:1", "missing mandatory attribute `x`"],
    );
}

#[test]
fn a_missing_label_names_the_target_and_attribute() {
    let sandbox = package(
        "filegroup(name = \"g\", srcs = [\"a.txt\"])\noci_image(name = \"i\", tars = [\":nope\"])\n",
    );
    fails_with(
        &sandbox.bld(&["build", "//app:i"]),
        &[
            "app/BUILD.star:2:1",
            "//app:i",
            "attribute `tars`",
            "no target or source file `//app:nope`",
        ],
    );
}

#[test]
fn a_missing_package_is_reported() {
    let sandbox = package("oci_image(name = \"i\", base = \"//nowhere:base\")\n");
    fails_with(
        &sandbox.bld(&["build", "//app:i"]),
        &["app/BUILD.star:1:1", "no package `//nowhere`"],
    );
}

#[test]
fn dependency_cycles_are_printed() {
    let sandbox = package(
        "filegroup(name = \"a\", srcs = [\":b\"])\nfilegroup(name = \"b\", srcs = [\":c\"])\nfilegroup(name = \"c\", srcs = [\":a\"])\n",
    );
    fails_with(
        &sandbox.bld(&["build", "//app:a"]),
        &[
            "dependency cycle: //app:a -> //app:b -> //app:c -> //app:a",
            "app/BUILD.star:3:1",
        ],
    );
}

#[test]
fn load_cycles_are_printed() {
    let sandbox = Sandbox::with_files(&[
        ("app/x.star", "load(\":y.star\", \"y\")\nx = 1\n"),
        ("app/y.star", "load(\":x.star\", \"x\")\ny = 1\n"),
        ("app/BUILD.star", "load(\":x.star\", \"x\")\n"),
    ]);
    fails_with(
        &sandbox.bld(&["build", "//app:all"]),
        &["load cycle: //app:x.star -> //app:y.star -> //app:x.star"],
    );
}

#[test]
fn a_missing_source_file_is_reported_where_it_is_named() {
    let sandbox = package("\npkg_tar(name = \"l\", srcs = [\"a.txt\", \"missing.txt\"])\n");
    fails_with(
        &sandbox.bld(&["build", "//app:l"]),
        &["app/BUILD.star:2:1", "`app/missing.txt` does not exist"],
    );
}

#[test]
fn sources_outside_the_workspace_are_refused() {
    let sandbox = package("pkg_tar(name = \"l\", srcs = [\"../../etc/passwd\"])\n");
    fails_with(
        &sandbox.bld(&["build", "//app:l"]),
        &["app/BUILD.star:1:1", "outside its package"],
    );

    let sandbox = package("pkg_tar(name = \"l\", srcs = [\"escape\"])\n");
    std::os::unix::fs::symlink("/etc/passwd", sandbox.ws().join("app/escape")).expect("symlink");
    fails_with(
        &sandbox.bld(&["build", "//app:l"]),
        &["app/BUILD.star:1:1", "outside the workspace"],
    );
}

#[test]
fn errors_in_rule_implementations_point_at_the_target_and_the_star_file() {
    let sandbox = package("pkg_tar(name = \"l\", srcs = [\"a.txt\"], mode = \"rwx\")\n");
    fails_with(
        &sandbox.bld(&["build", "//app:l"]),
        &["app/BUILD.star:1:1", "`mode` must be octal", "pkg.star"],
    );
}

#[test]
fn bad_command_lines_are_user_errors() {
    let sandbox = package("filegroup(name = \"g\", srcs = [\"a.txt\"])\n");
    fails_with(
        &sandbox.bld(&["build", "//app:nope"]),
        &["no target `//app:nope`", "`g`"],
    );
    fails_with(&sandbox.bld(&["build", "//app/../x:y"]), &["invalid label"]);
    fails_with(&sandbox.bld(&["build", "//nothing/..."]), &["nothing"]);
    fails_with(&sandbox.bld(&["frobnicate"]), &["frobnicate"]);
    let outside = tempfile::tempdir().expect("tempdir");
    fails_with(
        &crate::support::run_bld(outside.path(), &sandbox.store(), &["build", "//..."]),
        &["WORKSPACE.star"],
    );
}

#[test]
fn a_failed_build_writes_no_output() {
    let sandbox = package(
        "filegroup(name = \"g\", srcs = [\"a.txt\"])\noci_image(name = \"i\", tars = [\":nope\"])\n",
    );
    fails_with(&sandbox.bld(&["build", "//app/..."]), &["nope"]);
    assert!(!sandbox.ws().join("bld-out").exists());
}

#[test]
fn a_store_directory_that_cannot_be_made_is_the_users_error() {
    let sandbox = Sandbox::new();
    let run = sandbox.bld(&["--store-dir", "/proc/nope", "images"]);
    fails_with(
        &run,
        &["the store `/proc/nope` cannot be used", "--store-dir"],
    );
}

/// A path the user gives that cannot be used is their error (exit 1), and the message names
/// that path as they gave it, never a staging or temporary file beside it.
#[test]
fn bad_paths_on_the_command_line_are_the_users_error_and_named() {
    let sandbox = Sandbox::with_files(&[
        ("ctx/Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n"),
        ("ctx/a.txt", "a\n"),
        ("a-dir/keep", ""),
        ("a-file", ""),
    ]);
    sandbox.bld(&["build", "-t", "app:1", "ctx"]).ok();
    let exactly = |args: &[&str], message: &str| {
        let run = sandbox.bld(args);
        fails_with(&run, &[]);
        assert_eq!(run.stderr, format!("error: {message}\n"), "bld {args:?}");
    };
    exactly(
        &["save", "-o", "a-dir", "app:1"],
        "cannot write `a-dir`: it is a directory; give a file name",
    );
    exactly(
        &["save", "-o", "no-dir/app.tar", "app:1"],
        "cannot write `no-dir/app.tar`: No such file or directory (os error 2)",
    );
    exactly(
        &["save", "-o", "a-file/app.tar", "app:1"],
        "cannot write `a-file/app.tar`: Not a directory (os error 20)",
    );
    exactly(&["save", "-o", "/", "app:1"], "`/` is not a file name");
    exactly(
        &["load", "-i", "a-dir"],
        "cannot read `a-dir`: it is a directory, not an archive",
    );
    exactly(
        &["load", "-i", "missing.tar"],
        "cannot read `missing.tar`: No such file or directory (os error 2)",
    );
    exactly(
        &["build", "-t", "app:2", "no-such-ctx"],
        "build context `no-such-ctx` does not exist",
    );
    exactly(
        &["build", "-t", "app:2", "a-file"],
        "build context `a-file` is not a directory",
    );
    exactly(
        &["build", "-t", "app:2", "-o", "a-file/layout", "ctx"],
        "cannot write the image layout to `a-file/layout`: not a directory",
    );
    exactly(
        &["build", "-t", "app:2", "-o", "/proc/nope", "ctx"],
        "cannot write the image layout to `/proc/nope`: No such file or directory (os error 2)",
    );
    exactly(
        &["--store-dir", "a-file", "images"],
        "the store `a-file` cannot be used: cannot create `a-file/blobs/sha256`; choose another with `--store-dir DIR` or `BLD_STORE`: Not a directory (os error 20)",
    );
    // Nothing was left beside the paths.
    let mut left: Vec<String> = std::fs::read_dir(sandbox.ws())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["WORKSPACE.star", "a-dir", "a-file", "ctx"]);
}

/// The messages users read when the command line names something that is not there.
#[test]
fn command_line_error_messages_are_pinned() {
    let sandbox = package("filegroup(name = \"g\", srcs = [\"a.txt\"])\n");
    sandbox.write("ctx/Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n");
    sandbox.write("ctx/a.txt", "a\n");
    sandbox.write("a-file", "");
    sandbox.bld(&["build", "-t", "app:1", "ctx"]).ok();
    for (name, args) in [
        ("error_bad_reference", &["tag", "app:1", "Bad:Name!"][..]),
        ("error_unknown_image", &["history", "nope:1"]),
        ("error_unknown_images", &["rmi", "nope:1", "app:2"]),
        ("error_bad_store_dir", &["--store-dir", "a-file", "images"]),
        ("error_unknown_target", &["build", "//app:nope"]),
        ("error_unknown_flag", &["build", "--frobnicate", "//app:g"]),
    ] {
        let run = sandbox.bld(args);
        fails_with(&run, &[]);
        assert_run_snapshot!(name, sandbox, run);
    }
}

#[test]
fn build_file_error_messages_are_pinned() {
    let sandbox = package("\n\npkg_tar(name = \"x\", srcz = [\"a.txt\"])\n");
    let run = sandbox.bld(&["build", "//app:x"]);
    fails_with(&run, &[]);
    assert_run_snapshot!("error_build_file_attribute", sandbox, run);
    sandbox.write(
        "app/BUILD.star",
        "pkg_tar(\n    name = \"x\",\n    srcs = [\"a.txt\"\n)\n",
    );
    let run = sandbox.bld(&["build", "//app:x"]);
    fails_with(&run, &[]);
    assert_run_snapshot!("error_build_file_syntax", sandbox, run);
}
