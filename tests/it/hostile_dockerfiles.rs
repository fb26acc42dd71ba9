//! Dockerfiles written to exhaust bld: each must build or fail with a user error (exit 1)
//! naming the line, never abort, overflow the stack or hang.

use crate::support::{Run, Sandbox, assert_run_snapshot, run_bld, tool};

/// Builds `dockerfile` in a context of its own under the sandbox.
fn build(sandbox: &Sandbox, dockerfile: &str) -> Run {
    let dir = sandbox.path().join("ctx");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write");
    run_bld(&dir, &sandbox.store(), &["build", "."])
}

/// `ARG B=$A$A$A…` (or `ENV`), each value ten times the last: the sixth level (line 8)
/// would be 10 MB, past the 1 MiB a word may expand to.
fn multiplying(keyword: &str) -> String {
    let mut text = format!("FROM scratch\n{keyword} V0=xxxxxxxxxx\n");
    for level in 1..=6 {
        let previous = format!("$V{}", level - 1);
        text.push_str(&format!("{keyword} V{level}={}\n", previous.repeat(10)));
    }
    text.push_str("LABEL big=$V6\n");
    text
}

#[test]
fn multiplying_args_and_envs_fail_naming_the_line_and_the_limit() {
    let sandbox = Sandbox::new();
    for keyword in ["ARG", "ENV"] {
        let run = build(&sandbox, &multiplying(keyword));
        assert_eq!(run.code, 1, "{keyword}: {}", run.stderr);
        assert_run_snapshot!(
            format!("error_multiplying_{}", keyword.to_lowercase()),
            sandbox,
            run
        );
    }
    let nested = "FROM scratch\nARG A=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\
        ARG B=${A:+$A$A}${A:-$A$A}$A${A}\nARG C=${B:+$B$B}${B:-$B$B}$B${B}\nARG D=${C:+$C$C}${C:-$C$C}$C${C}\n\
        ARG E=${D:+$D$D}${D:-$D$D}$D${D}\nARG F=${E:+$E$E}${E:-$E$E}$E${E}\nARG G=${F:+$F$F}${F:-$F$F}$F${F}\n\
        ARG H=${G:+$G$G}${G:-$G$G}$G${G}\nARG I=${H:+$H$H}${H:-$H$H}$H${H}\nLABEL i=$I\n";
    // Each level five times the last: `H` (line 9) would be 4.7 MB.
    let run = build(&sandbox, nested);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_run_snapshot!("error_nested_expansion", sandbox, run);
}

/// `count` stages, each built on the one before (`FROM s0 AS s1`, …).
fn stages_on_stages(count: usize) -> String {
    let mut text = String::from("FROM scratch AS s0\n");
    for stage in 1..count {
        text.push_str(&format!("FROM s{} AS s{stage}\n", stage - 1));
    }
    text
}

/// `count` stages, each copying a file from the one before (`COPY --from=s0 /a /a`, …).
fn stages_copying_from_stages(count: usize) -> String {
    let mut text = String::from("FROM scratch AS s0\nCOPY <<EOF /a\na\nEOF\n");
    for stage in 1..count {
        text.push_str(&format!(
            "FROM scratch AS s{stage}\nCOPY --from=s{} /a /a\n",
            stage - 1
        ));
    }
    text
}

#[test]
fn thousands_of_chained_stages_build() {
    let sandbox = Sandbox::new();
    for count in [1_500, 10_000] {
        let run = build(&sandbox, &stages_on_stages(count));
        assert_eq!(run.code, 0, "{count} stages on stages: {}", run.stderr);
        let run = build(&sandbox, &stages_copying_from_stages(count));
        assert_eq!(run.code, 0, "{count} stages copying: {}", run.stderr);
    }
}

#[test]
fn deep_chains_through_variable_from_names_fail_cleanly() {
    let sandbox = Sandbox::new();
    let mut text = String::from("FROM scratch AS s0\nCOPY <<EOF /a\na\nEOF\n");
    for stage in 1..1_500 {
        let previous = stage - 1;
        text.push_str(&format!(
            "FROM scratch AS s{stage}\nARG FROM_STAGE=s{previous}\nCOPY --from=$FROM_STAGE /a /a\n"
        ));
    }
    let run = build(&sandbox, &text);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_run_snapshot!("error_deep_from_chain", sandbox, run);
}

/// Files under `root`, relative to it, sorted (directories not listed).
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("inside");
                files.push(relative.to_str().expect("utf-8").to_owned());
            }
        }
    }
    files.sort();
    files
}

/// `COPY .` of 20,000 files (planning used to scan the stage's whole filesystem for every
/// file copied), then a file into one of the copied directories and a `COPY --from` of the
/// result: exactly the files that should be there are.
#[test]
fn copying_a_large_context_copies_every_file_once() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("ctx");
    let mut expected = Vec::new();
    for index in 0..20_000 {
        let sub = format!("d{:03}", index / 250);
        std::fs::create_dir_all(dir.join(&sub)).expect("mkdir");
        let name = format!("{sub}/f{index:05}.txt");
        std::fs::write(dir.join(&name), format!("{index}\n")).expect("write");
        if !name.starts_with("d03") {
            expected.push(format!("app/{name}"));
        }
    }
    std::fs::write(dir.join("single"), "one file\n").expect("write");
    // `/app/d003` is a directory by then: the file goes into it, as Docker copies.
    expected.extend(["app/Dockerfile", "app/d003/single", "app/single"].map(str::to_owned));
    expected.sort();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch AS tree\nCOPY --exclude=d03* . /app\nCOPY single /app/d003\n\
         FROM scratch\nCOPY --from=tree /app /app\n",
    )
    .expect("write");
    let out = sandbox.path().join("layout");
    let run = run_bld(
        &dir,
        &sandbox.store(),
        &["build", "-o", out.to_str().expect("utf-8"), "."],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bundle = sandbox.path().join("bundle");
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:latest", out.display()),
            bundle.to_str().expect("utf-8"),
        ],
    );
    let files = files_under(&bundle.join("rootfs"));
    assert_eq!(files.len(), expected.len());
    assert!(files == expected, "the copied files differ");
}
