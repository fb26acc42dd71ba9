//! The crate graph follows crates/README.md: a crate that gains a forbidden dependency fails.

use std::collections::BTreeMap;
use std::path::Path;

/// The crate table of `crates/README.md`, the law: each crate and the bld crates it may depend
/// on (its last column; bld-core is allowed everywhere, `—` means nothing more). A crate whose
/// last column is not a list of crates (`everything`, for the CLI) is not restricted.
fn allowed_dependencies() -> BTreeMap<String, Option<Vec<String>>> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/README.md");
    let text = std::fs::read_to_string(&readme).expect("read crates/README.md");
    let mut table = BTreeMap::new();
    for row in text.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let (Some(first), Some(last)) = (cells.first(), cells.last()) else {
            continue;
        };
        let Some(name) = backticked(first).into_iter().next() else {
            continue;
        };
        let allowed = if *last == "—" {
            Some(Vec::new())
        } else {
            let names = backticked(last);
            (!names.is_empty()).then_some(names)
        };
        table.insert(name, allowed);
    }
    table
}

/// The words in backticks in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_crate_table_is_read_from_the_readme() {
    let table = allowed_dependencies();
    assert_eq!(table.get("bld-core"), Some(&Some(Vec::new())));
    assert_eq!(
        table.get("bld-oci"),
        Some(&Some(vec!["bld-store".to_owned()]))
    );
    assert_eq!(table.get("bld"), Some(&None), "the CLI may use everything");
    assert!(table.len() >= 9, "{table:?}");
}

/// External crates only some crates may use: the scheduler, the layer compressor and the
/// build-context walk run work in parallel, nothing else does.
const EXCLUSIVE: &[(&str, &[&str])] = &[
    ("starlark", &["bld-starlark"]),
    (
        "rayon",
        &["bld-exec", "bld-oci", "bld-dockerfile", "bld-registry"],
    ),
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
    let table = allowed_dependencies();
    let mut problems = Vec::new();
    for (name, deps) in &found {
        let Some(allowed) = table.get(name) else {
            problems.push(format!(
                "{name} is not in the crate table: add it to crates/README.md"
            ));
            continue;
        };
        for dep in deps
            .iter()
            .filter(|d| d.starts_with("bld-") && *d != "bld-core")
        {
            if allowed
                .as_ref()
                .is_some_and(|allowed| !allowed.contains(dep))
            {
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

/// Every Rust file of the project (sources, tests, benches) below `dir`, skipping build
/// output.
fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            rust_files(&path, found);
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// The house rule that keeps a file readable in one sitting (functions are held to 80 lines
/// by clippy's `too_many_lines`, set in `clippy.toml`).
#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["crates", "tests", "benches", "fuzz"] {
        if root.join(dir).is_dir() {
            rust_files(&root.join(dir), &mut files);
        }
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).expect("read").lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(files.len() > 100, "found only {} files", files.len());
    assert!(long.is_empty(), "split these files: {long:?}");
}
