//! Dockerfiles written to exhaust bld: each must build or fail with a user error (exit 1)
//! naming the line, never abort, overflow the stack or hang.

use crate::support::{Run, Sandbox, run_bld};

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
        assert!(
            run.stderr.contains("Dockerfile:8:") && run.stderr.contains("1 MiB"),
            "{keyword}: {}",
            run.stderr
        );
    }
    let nested = "FROM scratch\nARG A=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\
        ARG B=${A:+$A$A}${A:-$A$A}$A${A}\nARG C=${B:+$B$B}${B:-$B$B}$B${B}\nARG D=${C:+$C$C}${C:-$C$C}$C${C}\n\
        ARG E=${D:+$D$D}${D:-$D$D}$D${D}\nARG F=${E:+$E$E}${E:-$E$E}$E${E}\nARG G=${F:+$F$F}${F:-$F$F}$F${F}\n\
        ARG H=${G:+$G$G}${G:-$G$G}$G${G}\nARG I=${H:+$H$H}${H:-$H$H}$H${H}\nLABEL i=$I\n";
    // Each level five times the last: `H` (line 9) would be 4.7 MB.
    let run = build(&sandbox, nested);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Dockerfile:9:") && run.stderr.contains("1 MiB"),
        "{}",
        run.stderr
    );
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
    assert!(
        run.stderr.contains("Dockerfile:") && run.stderr.contains("more than 64 deep"),
        "{}",
        run.stderr
    );
}
