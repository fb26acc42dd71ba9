//! `bld query` and `bld clean`.

use crate::support::Sandbox;

#[test]
fn query_lists_targets_and_their_dependencies() {
    let sandbox = Sandbox::with_examples();
    let all = sandbox
        .bld(&["query", "--output", "label_kind", "//examples/..."])
        .ok();
    for line in [
        "oci_image rule //examples/hello:image",
        "pkg_tar rule //examples/shared_base:api_files",
        "greeting rule //examples/hello:motd",
    ] {
        assert!(
            all.stdout.lines().any(|l| l == line),
            "missing `{line}` in:\n{}",
            all.stdout
        );
    }
    let deps = sandbox
        .bld(&["query", "deps(//examples/shared_base:api)"])
        .ok();
    let labels: Vec<&str> = deps.stdout.lines().collect();
    for label in [
        "//examples/shared_base:api",
        "//examples/shared_base:api_files",
        "//examples/shared_base:api/run.sh",
        "//examples/shared_base:base",
        "//examples/shared_base:etc/os-release",
    ] {
        assert!(labels.contains(&label), "missing {label} in {labels:?}");
    }
    assert!(!labels.contains(&"//examples/shared_base:worker"));
    let position = |l: &str| labels.iter().position(|x| *x == l).expect("listed");
    assert!(position("//examples/shared_base:base") < position("//examples/shared_base:api"));
}

/// Bazel's functions and set operators over the examples' graph.
#[test]
fn query_functions_and_set_operators() {
    let sandbox = Sandbox::with_examples();
    let query = |expression: &str| -> Vec<String> {
        let run = sandbox.bld(&["query", expression]).ok();
        run.stdout.lines().map(str::to_owned).collect()
    };
    let base = "//examples/shared_base";
    assert_eq!(
        query(&format!("deps({base}:api, 1)")),
        [
            format!("{base}:base"),
            format!("{base}:api_files"),
            format!("{base}:api")
        ]
    );
    assert_eq!(
        query(&format!("rdeps(//examples/..., {base}:base, 1)")),
        [
            format!("{base}:base"),
            "//examples/dockerfile:image".to_owned(),
            format!("{base}:api"),
            format!("{base}:worker")
        ]
    );
    assert_eq!(
        query(&format!("somepath({base}:api, {base}:etc/os-release)")),
        [
            format!("{base}:etc/os-release"),
            format!("{base}:base_files"),
            format!("{base}:base"),
            format!("{base}:api")
        ]
    );
    assert_eq!(
        query(&format!("allpaths({base}:api, {base}:base_files)")),
        [
            format!("{base}:base_files"),
            format!("{base}:base"),
            format!("{base}:api")
        ]
    );
    assert_eq!(
        query(&format!(
            "kind('pkg_tar', {base}:*) - filter(worker, //examples/...)"
        )),
        [format!("{base}:api_files"), format!("{base}:base_files")]
    );
    assert_eq!(
        query(&format!(
            "attr(name, '^wor', {base}:*) ^ kind(oci_image, //...)"
        )),
        [format!("{base}:worker")]
    );
    assert_eq!(
        query(&format!("{base}:api union {base}:worker except {base}:api")),
        [format!("{base}:worker")]
    );
    let bad = sandbox.bld(&["query", "deps(//examples/..., x)"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("column 22: expected a depth (a number), found `x`"),
        "{}",
        bad.stderr
    );
}

/// `--output graph` (DOT) and `--output build` of the examples, pinned.
#[test]
fn query_graph_and_build_outputs_are_pinned() {
    let sandbox = Sandbox::with_examples();
    let graph = sandbox
        .bld(&[
            "query",
            "--output",
            "graph",
            "deps(//examples/shared_base:api)",
        ])
        .ok();
    insta::assert_snapshot!("query_graph_shared_base_api", graph.stdout);
    let build = sandbox
        .bld(&["query", "--output", "build", "//examples/hello:image"])
        .ok();
    insta::assert_snapshot!("query_build_hello_image", build.stdout);
    let json = sandbox
        .bld(&["query", "--output", "json", "//examples/hello:image"])
        .ok();
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(parsed[0]["attrs"]["tars"][0], "//examples/hello:layer");
}

#[test]
fn clean_removes_outputs_and_optionally_the_store() {
    let sandbox = Sandbox::with_examples();
    sandbox.bld(&["build", "//examples/hello:image"]).ok();
    assert!(
        sandbox
            .ws()
            .join("bld-out/examples/hello/image/index.json")
            .is_file()
    );
    sandbox.bld(&["clean"]).ok();
    assert!(!sandbox.ws().join("bld-out").exists());
    assert!(sandbox.store().exists());
    assert_eq!(
        sandbox
            .bld(&["build", "//examples/hello:image"])
            .ok()
            .counts()
            .0,
        0
    );
    sandbox.bld(&["clean", "--store"]).ok();
    assert!(!sandbox.store().exists());
    assert!(
        sandbox
            .bld(&["build", "//examples/hello:image"])
            .ok()
            .counts()
            .0
            > 0
    );
}

#[test]
fn a_reader_that_stops_early_ends_bld_quietly() {
    // More output than a pipe holds, so bld is still writing when `head -1` goes away.
    let targets: String = (0..5000)
        .map(|i| format!("filegroup(name = \"target_number_{i}\", srcs = [])\n"))
        .collect();
    let sandbox = Sandbox::with_files(&[("app/BUILD.star", &targets)]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["query", "//app/..."])
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start bld");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut first,
    )
    .expect("read");
    assert!(first.contains("//app:target_number_0"), "{first}");
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// `bld aquery` of an example before and after it is built (keys known once their inputs
/// are), and `bld graph` of it: DOT with the last build's hits coloured, and an SVG from
/// Graphviz.
#[test]
fn aquery_and_graph_of_the_examples_are_pinned() {
    let sandbox = Sandbox::with_examples();
    let before = sandbox.bld(&["aquery", "//examples/hello:image"]).ok();
    assert!(
        before.stdout.contains("(known once its inputs are built)"),
        "{}",
        before.stdout
    );
    sandbox.bld(&["build", "//examples/hello:image"]).ok();
    let after = sandbox.bld(&["aquery", "//examples/hello:image"]).ok();
    insta::assert_snapshot!("aquery_hello_image", after.stdout);
    let json = sandbox
        .bld(&["aquery", "--output", "json", "deps(//examples/hello:image)"])
        .ok();
    let actions: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let mnemonics: Vec<&str> = actions
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["mnemonic"].as_str())
        .collect();
    assert_eq!(mnemonics, ["WriteFile", "PackLayer", "AssembleImage"]);
    assert!(
        actions[2]["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sha256:"))
    );

    let graph = sandbox.bld(&["graph", "//examples/hello:image"]).ok();
    insta::assert_snapshot!("graph_hello_image", graph.stdout);
    if std::process::Command::new("dot").arg("-V").output().is_ok() {
        let svg = sandbox.path().join("graph.svg");
        sandbox
            .bld(&[
                "graph",
                "//examples/hello:image",
                "-o",
                &svg.display().to_string(),
            ])
            .ok();
        let text = std::fs::read_to_string(&svg).expect("the picture");
        assert!(
            text.contains("<svg") && text.contains("AssembleImage"),
            "{text}"
        );
    } else {
        println!("skipped the SVG: Graphviz's dot is not installed");
    }
    let bad = sandbox.bld(&["graph", "//examples/hello:image", "-o", "x.txt"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("expected a .svg, .png, .pdf or .dot file"),
        "{}",
        bad.stderr
    );
}
