//! The crate graph follows crates/README.md: a crate that gains a forbidden dependency fails.

use std::collections::BTreeMap;
use std::path::Path;

/// Each crate and the bld crates it may depend on (bld-core is allowed everywhere).
const ALLOWED: &[(&str, &[&str])] = &[
    ("bld-core", &[]),
    ("bld-dockerfile", &[]),
    ("bld-graph", &[]),
    ("bld-starlark", &["bld-graph", "bld-dockerfile"]),
    ("bld-store", &[]),
    ("bld-sandbox", &[]),
    ("bld-oci", &["bld-store"]),
    // The executor applies Docker's COPY rules to images (COPY --from a built stage).
    (
        "bld-exec",
        &[
            "bld-graph",
            "bld-store",
            "bld-sandbox",
            "bld-oci",
            "bld-dockerfile",
        ],
    ),
];

/// External crates only some crates may use: the scheduler and the layer compressor run work
/// in parallel, nothing else does.
const EXCLUSIVE: &[(&str, &[&str])] = &[
    ("starlark", &["bld-starlark"]),
    ("rayon", &["bld-exec", "bld-oci"]),
    ("petgraph", &["bld-graph"]),
];

fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("read Cargo.toml");
    let parsed: toml::Table = text.parse().expect("parse Cargo.toml");
    parsed
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_on_what_the_design_allows() {
    let crates_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(&crates_dir).expect("crates/") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        if manifest.is_file() {
            let name = manifest
                .parent()
                .and_then(|p| p.file_name())
                .expect("name")
                .to_string_lossy()
                .into_owned();
            found.insert(name, dependencies(&manifest));
        }
    }
    assert!(
        found.len() >= 6,
        "expected the library crates under crates/, found {found:?}"
    );
    let mut problems = Vec::new();
    for (name, deps) in &found {
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| n == name) else {
            problems.push(format!(
                "{name} is not in the crate table: add it to crates/README.md and this test"
            ));
            continue;
        };
        for dep in deps
            .iter()
            .filter(|d| d.starts_with("bld-") && *d != "bld-core")
        {
            if !allowed.contains(&dep.as_str()) {
                problems.push(format!("{name} must not depend on {dep}"));
            }
        }
        for (external, owners) in EXCLUSIVE {
            if deps.iter().any(|d| d == external) && !owners.contains(&name.as_str()) {
                problems.push(format!(
                    "only {owners:?} may depend on {external}, but {name} does"
                ));
            }
        }
    }
    let root = dependencies(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    for (external, owners) in EXCLUSIVE {
        if root.iter().any(|d| d == external) {
            problems.push(format!(
                "only {owners:?} may depend on {external}, but the CLI does"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
