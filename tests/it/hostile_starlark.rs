//! Hostile BUILD.star and .star files fail with a user error naming where they ran out and the
//! limit, never a hang, a panic or a stack overflow.

use crate::errors::{fails_with, package};
use crate::support::Sandbox;

#[test]
fn an_endless_loop_runs_out_of_steps() {
    let sandbox =
        package("for i in range(2147483647):\n    for j in range(2147483647):\n        pass\n");
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        &["app/BUILD.star:2:5", "budget of 20000000 steps"],
    );
    // A comprehension that keeps nothing: steps alone, however large the prelude's heap is.
    let sandbox = package("x = [i for i in range(2147483647) if i < 0]\n");
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        &["app/BUILD.star:1:1", "budget of 20000000 steps"],
    );
}

#[test]
fn an_endless_rule_implementation_runs_out_of_steps_at_analysis() {
    let sandbox = Sandbox::with_files(&[
        ("rules/BUILD.star", ""),
        (
            "rules/r.star",
            "def _i(ctx):\n    n = 0\n    for i in range(2147483647):\n        n += i\n    return []\nr = rule(implementation = _i)\n",
        ),
        (
            "app/BUILD.star",
            "load(\"//rules:r.star\", \"r\")\nr(name = \"t\")\n",
        ),
    ]);
    fails_with(
        &sandbox.bld(&["build", "//app:t"]),
        &[
            "rules/r.star:4:9",
            "analysing `//app:t`",
            "budget of 20000000 steps",
        ],
    );
}

#[test]
fn growing_strings_run_out_of_heap() {
    let sandbox = package("s = \"x\"\nfor _ in range(40):\n    s = s + s\n");
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        // The statement (3:5) or its `+` (3:9), whichever check sees the heap full first: the
        // strings alone are within bytes of the budget, and the prelude's frozen heap counts.
        &["app/BUILD.star:3:", "heap budget of 1024 MiB"],
    );
    let sandbox = package("s = \"x\" * 2147483647\n");
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        &["app/BUILD.star:1:5", "heap budget of 1024 MiB"],
    );
    let sandbox = package("l = [1, 2] * 2147483647\n");
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        &["app/BUILD.star:1:5", "heap budget of 1024 MiB"],
    );
    let sandbox = package("s = \"xx\"\ns *= 2147483647\n");
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        &["app/BUILD.star:2:3", "`*=` is not supported"],
    );
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let deep = format!("x = {}{}\n", "[".repeat(3000), "]".repeat(3000));
    fails_with(
        &package(&deep).bld(&["query", "//app/..."]),
        &[
            "app/BUILD.star:1:105",
            "brackets nest deeper than 100 levels",
        ],
    );
    let deep_str = format!("x = str({}{})\n", "[".repeat(3000), "]".repeat(3000));
    fails_with(
        &package(&deep_str).bld(&["query", "//app/..."]),
        &[
            "app/BUILD.star:1:108",
            "brackets nest deeper than 100 levels",
        ],
    );
    let sum = format!("x = 1{}\n", "+1".repeat(10_000));
    fails_with(
        &package(&sum).bld(&["query", "//app/..."]),
        &[
            "app/BUILD.star:1:2006",
            "expression deeper than 1000 operators",
        ],
    );
}

#[test]
fn nesting_within_the_limits_still_evaluates() {
    let build = format!(
        "x = {}1{}\nn = 1{}\nfilegroup(name = \"g\", srcs = [] if len(str(x)) == 201 and n == 1000 else fail(\"wrong\"))\n",
        "[".repeat(100),
        "]".repeat(100),
        "+1".repeat(999)
    );
    let run = package(&build)
        .bld(&["query", "--output", "label_kind", "//app/..."])
        .ok();
    assert_eq!(run.stdout, "filegroup rule //app:g\n");
}

#[test]
fn deep_calls_run_out_of_call_depth() {
    let mut build = String::from("def f0():\n    return 0\n");
    for i in 1..150 {
        build.push_str(&format!("def f{i}():\n    return f{}()\n", i - 1));
    }
    build.push_str("x = f149()\n");
    fails_with(
        &package(&build).bld(&["query", "//app/..."]),
        &["app/BUILD.star", "calls nest deeper than 100 levels"],
    );
}

#[test]
fn a_large_package_is_queried_whole() {
    let count = 50_000;
    let mut build = String::new();
    for i in 0..count {
        build.push_str(&format!(
            "filegroup(name = \"t{i}\", srcs = [\":t{}\"] if {i} else [])\n",
            i / 2
        ));
    }
    let sandbox = package(&build);
    let run = sandbox
        .bld(&["query", "--output", "label_kind", "//app/..."])
        .ok();
    // Dependencies first: every target once.
    let mut listed: Vec<&str> = run.stdout.lines().collect();
    listed.sort_unstable();
    let mut expected: Vec<String> = (0..count)
        .map(|i| format!("filegroup rule //app:t{i}"))
        .collect();
    expected.sort_unstable();
    assert!(listed == expected, "query output differs");
    let run = sandbox.bld(&["query", "deps(//app:t49999)"]).ok();
    let chain: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(chain.first(), Some(&"//app:t0"));
    assert_eq!(chain.last(), Some(&"//app:t49999"));
    assert_eq!(chain.len(), 17);

    build.push_str("filegroup(name = \"t25000\")\n");
    sandbox.write("app/BUILD.star", &build);
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        &[
            "app/BUILD.star:50001:1",
            "target `//app:t25000` is declared twice (first at app/BUILD.star:25001:1)",
        ],
    );
}

#[test]
fn a_star_file_linking_out_of_the_workspace_is_not_loaded() {
    let sandbox = package("load(\":evil.star\", \"x\")\nfilegroup(name = \"g\")\n");
    let outside = sandbox.path().join("outside.star");
    std::fs::write(&outside, "x = 1\n").expect("write");
    std::os::unix::fs::symlink(&outside, sandbox.ws().join("app/evil.star")).expect("symlink");
    fails_with(
        &sandbox.bld(&["query", "//app/..."]),
        &[
            "app/BUILD.star:1:6",
            "cannot load `//app:evil.star`",
            "outside the workspace",
        ],
    );
    // A symlink that stays inside the workspace is fine, as for sources.
    std::fs::write(sandbox.ws().join("app/real.star"), "x = 1\n").expect("write");
    std::fs::remove_file(sandbox.ws().join("app/evil.star")).expect("rm");
    std::os::unix::fs::symlink("real.star", sandbox.ws().join("app/evil.star")).expect("symlink");
    sandbox.bld(&["query", "//app/..."]).ok();
}

#[test]
fn a_value_nested_a_million_deep_at_run_time_does_not_overflow_the_stack() {
    // starlark-rust recurses once per level when it collects garbage, freezes the module and
    // prints the value; bld runs on a stack deep enough for any nesting the budgets allow.
    let sandbox = package(
        "x = []\nfor _ in range(1000000):\n    x = [x]\ntext = str(x)\n\
         filegroup(name = \"g\", srcs = [])\n",
    );
    let run = sandbox.bld(&["query", "//app/..."]).ok();
    assert!(run.stdout.contains("//app:g"), "{}", run.stdout);
}

#[test]
fn a_value_too_large_for_starlark_is_a_user_error_not_a_panic() {
    let sandbox = package("x = 1\ny = list(range(2147483647))\n");
    let run = sandbox.bld(&["query", "//app/..."]);
    fails_with(&run, &["app/BUILD.star", "expected smaller values"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn one_call_that_allocates_past_the_heap_budget_stops_at_the_memory_limit() {
    // `replace` builds its result before starlark-rust's heap sees it: 10^16 bytes here.
    let sandbox = package("s = \"x\" * 100000000\nt = s.replace(\"\", s)\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["query", "//app/..."])
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .env("BLD_STARLARK_MEMORY", "1500000000")
        .output()
        .expect("run bld");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("app/BUILD.star") && stderr.contains("MiB of memory"),
        "{stderr}"
    );
}
