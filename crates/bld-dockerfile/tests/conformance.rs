//! BuildKit's own parser and shell test data, read from `$BLD_CONFORMANCE_DIR/buildkit`, else
//! `shared/conformance/buildkit` (found by walking up from this crate). Each test reports every failing case, not just the first,
//! and is skipped (saying so) when the data is missing.

use std::fs;
use std::path::{Path, PathBuf};

use bld_dockerfile::shell::environment_from_assignments;
use bld_dockerfile::{ShellLex, parse};

/// BuildKit's test data, or `None`, having said that the test is skipped: a clone without
/// the external corpus still passes.
fn buildkit_data() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = match std::env::var_os("BLD_CONFORMANCE_DIR") {
        Some(dir) => Some(PathBuf::from(dir).join("buildkit")).filter(|data| data.is_dir()),
        None => manifest
            .ancestors()
            .map(|dir| dir.join("shared/conformance/buildkit"))
            .find(|candidate| candidate.is_dir()),
    };
    if found.is_none() {
        // Written to the stream itself, past the test harness's capture, so that it shows.
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!(
                "skipped: no `buildkit` in `$BLD_CONFORMANCE_DIR` or `shared/conformance/buildkit` above {} (the external corpus)\n",
                manifest.display()
            ),
        );
    }
    found
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// The case directories under `dir`, sorted by name.
fn case_dirs(dir: &Path) -> Vec<PathBuf> {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|error| panic!("listing {}: {error}", dir.display()));
    let mut cases: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

fn case_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A line-by-line diff of two texts, marking the lines that differ.
fn line_diff(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for index in 0..expected.len().max(actual.len()) {
        let (want, got) = (expected.get(index), actual.get(index));
        if want != got {
            out.push_str(&format!(
                "    line {}:\n      expected: {}\n      actual:   {}\n",
                index + 1,
                want.unwrap_or(&"<missing>"),
                got.unwrap_or(&"<missing>")
            ));
        }
    }
    out
}

fn report(kind: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {total} {kind} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parser_testfiles_dump_like_buildkit() {
    let Some(data) = buildkit_data() else {
        return;
    };
    let cases = case_dirs(&data.join("parser-testfiles"));
    assert_eq!(cases.len(), 33, "expected BuildKit's 33 parser test files");
    let mut failures = Vec::new();
    for case in &cases {
        let dockerfile = read(&case.join("Dockerfile"));
        let expected = read(&case.join("result"));
        match parse(&dockerfile) {
            Ok(parsed) => {
                let actual = parsed.dump();
                if actual.trim_end() != expected.trim_end() {
                    failures.push(format!(
                        "{}:\n{}",
                        case_name(case),
                        line_diff(&expected, &actual)
                    ));
                }
            }
            Err(error) => failures.push(format!("{}: parse failed: {error}", case_name(case))),
        }
    }
    report("parser-testfiles", cases.len(), &failures);
}

#[test]
fn parser_testfiles_negative_are_rejected() {
    let Some(data) = buildkit_data() else {
        return;
    };
    let cases = case_dirs(&data.join("parser-testfiles-negative"));
    assert_eq!(
        cases.len(),
        4,
        "expected BuildKit's 4 negative parser test files"
    );
    let mut failures = Vec::new();
    for case in &cases {
        let dockerfile = read(&case.join("Dockerfile"));
        match parse(&dockerfile) {
            Ok(parsed) => failures.push(format!(
                "{}: accepted, dumped as:\n{}",
                case_name(case),
                parsed.dump()
            )),
            Err(error) => {
                let message = error.to_string();
                if error.position().is_none() {
                    failures.push(format!(
                        "{}: error without a line: {message}",
                        case_name(case)
                    ));
                }
            }
        }
    }
    report("parser-testfiles-negative", cases.len(), &failures);
}

#[test]
fn shell_env_var_expansion() {
    let Some(data) = buildkit_data() else {
        return;
    };
    let text = read(&data.join("shell/envVarTest"));
    let env = environment_from_assignments(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]);
    let lex = ShellLex::new('\\');
    let mut total = 0;
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 3, "envVarTest line {}: {line:?}", index + 1);
        let (platform, source, expected) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
        assert!(
            matches!(platform, "A" | "U" | "W"),
            "envVarTest line {}: bad platform {platform:?}",
            index + 1
        );
        if platform == "W" {
            continue;
        }
        total += 1;
        match (lex.process_word(source, &env), expected) {
            (Err(_), "error") => {}
            (Ok(actual), "error") => failures.push(format!(
                "line {}: {source:?} expected an error, got {actual:?}",
                index + 1
            )),
            (Ok(actual), _) if actual == expected => {}
            (Ok(actual), _) => failures.push(format!(
                "line {}: {source:?} expected {expected:?}, got {actual:?}",
                index + 1
            )),
            (Err(error), _) => failures.push(format!(
                "line {}: {source:?} expected {expected:?}, got error: {error}",
                index + 1
            )),
        }
    }
    assert!(total > 0, "envVarTest has no unix rows");
    report("envVarTest", total, &failures);
}

#[test]
fn shell_word_splitting() {
    let Some(data) = buildkit_data() else {
        return;
    };
    let text = read(&data.join("shell/wordsTest"));
    let lex = ShellLex::new('\\');
    let mut assignments: Vec<String> = Vec::new();
    let mut total = 0;
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("ENV ") {
            assignments.push(assignment.trim_start_matches(' ').to_owned());
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 2, "wordsTest line {}: {line:?}", index + 1);
        let source = fields[0].trim();
        let expected: Vec<&str> = fields[1].trim_start_matches(' ').split(',').collect();
        let env = environment_from_assignments(&assignments);
        total += 1;
        let actual = lex
            .process_words(source, &env)
            .unwrap_or_else(|_| vec!["error".to_owned()]);
        if actual != expected {
            failures.push(format!(
                "line {}: {source:?} expected {expected:?}, got {actual:?}",
                index + 1
            ));
        }
    }
    assert!(total > 0, "wordsTest has no cases");
    report("wordsTest", total, &failures);
}
