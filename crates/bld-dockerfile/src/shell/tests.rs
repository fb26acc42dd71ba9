//! Word expansion against BuildKit's rules, the expansion limits and word splitting.

use super::*;

fn env() -> HashMap<String, String> {
    environment_from_assignments(["PWD=/home", "EMPTY=", "SPACED=a  b"])
}

#[test]
fn expands_and_splits() {
    let lex = ShellLex::new('\\');
    assert_eq!(
        lex.process_word("x${PWD}y", &env()).expect("expands"),
        "x/homey"
    );
    assert_eq!(
        lex.process_words("1 $SPACED \"$SPACED\"", &env())
            .expect("expands"),
        vec!["1", "a", "b", "a  b"]
    );
}

#[test]
fn required_variable_messages() {
    let lex = ShellLex::new('\\');
    let error = lex
        .process_word("${NOPE?must be set}", &env())
        .expect_err("unset");
    assert_eq!(
        error.to_string(),
        "`${NOPE?must be set}`: NOPE: must be set"
    );
    let error = lex.process_word("${EMPTY:?}", &env()).expect_err("empty");
    assert!(
        error
            .to_string()
            .contains("EMPTY: is not allowed to be empty")
    );
    assert_eq!(lex.process_word("${EMPTY?}", &env()).expect("set"), "");
}

#[test]
fn errors_name_the_column() {
    let lex = ShellLex::new('\\');
    let error = lex.process_word("ab'cd", &env()).expect_err("unterminated");
    assert_eq!(
        error.to_string(),
        "column 3 of `ab'cd`: unterminated single quote: expected a closing '"
    );
    let error = lex
        .process_word("x${PWD", &env())
        .expect_err("missing brace");
    assert!(
        error.to_string().starts_with("column 2 of `x${PWD`"),
        "{error}"
    );
}

#[test]
fn backtick_escape() {
    let lex = ShellLex::new('`');
    assert_eq!(
        lex.process_word("a`$PWD\\b", &env()).expect("expands"),
        "a$PWD\\b"
    );
}

#[test]
fn prefix_suffix_and_replacement() {
    let lex = ShellLex::new('\\');
    let env = environment_from_assignments(["F=/tmp/tmp/bar.txt", "N=/tmp"]);
    assert_eq!(
        lex.process_word("${F#*/}", &env).expect("ok"),
        "tmp/tmp/bar.txt"
    );
    assert_eq!(lex.process_word("${F##*/}", &env).expect("ok"), "bar.txt");
    assert_eq!(
        lex.process_word("${F%.*}", &env).expect("ok"),
        "/tmp/tmp/bar"
    );
    assert_eq!(lex.process_word("${F%%/*}", &env).expect("ok"), "");
    assert_eq!(
        lex.process_word("${F/$N/}", &env).expect("ok"),
        "/tmp/bar.txt"
    );
    assert_eq!(lex.process_word("${F//$N/}", &env).expect("ok"), "/bar.txt");
    assert_eq!(
        lex.process_word("${F//\\//\\/}", &env).expect("ok"),
        "\\/tmp\\/tmp\\/bar.txt"
    );
}

#[test]
fn skip_unset_keeps_references() {
    let mut lex = ShellLex::new('\\');
    lex.skip_unset_env = true;
    assert_eq!(
        lex.process_word("$A ${B} ${C:-x} $PWD", &env())
            .expect("ok"),
        "$A ${B} ${C:-x} /home"
    );
}

/// `ARG B=$A$A…` ten times over, as `ARG` and `ENV` values accumulate: the value outgrows
/// one word's limit at the first level past 1 MiB and the expansion fails there, naming the
/// limit, instead of growing to gigabytes.
#[test]
fn repeated_doubling_stops_at_the_word_limit() {
    let lex = ShellLex::new('\\');
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("L0".to_owned(), "x".repeat(10));
    let mut failed_at = None;
    for level in 1..=10 {
        let word = format!("$L{}", level - 1).repeat(10);
        match lex.process_word(&word, &env) {
            Ok(value) => {
                env.insert(format!("L{level}"), value);
            }
            Err(error) => {
                assert!(error.to_string().contains("more than 1 MiB"), "{error}");
                failed_at = Some(level);
                break;
            }
        }
    }
    assert_eq!(failed_at, Some(6), "10^6 bytes fit in 1 MiB, 10^7 do not");

    // The same through a default value, and through a replacement.
    let env = environment_from_assignments([format!("A={}", "x".repeat(600 << 10))]);
    let error = lex.process_word("${A:-$A$A}", &env).expect_err("too large");
    assert!(
        matches!(error, DockerfileError::WordTooLarge { limit, .. } if limit == 1 << 20),
        "{error}"
    );
    let error = lex.process_word("${A//x/xx}", &env).expect_err("too large");
    assert!(
        matches!(error, DockerfileError::WordTooLarge { .. }),
        "{error}"
    );
    assert!(lex.process_word("${UNSET:-$A}", &env).is_ok());
}

/// Many words each under the limit still share one budget per lexer.
#[test]
fn total_expansion_work_is_bounded() {
    let lex = ShellLex::new('\\').with_limits(ExpansionLimits {
        max_word_bytes: 1 << 20,
        max_total_work: 10 << 20,
        max_nesting: 100,
    });
    let env = environment_from_assignments([format!("A={}", "x".repeat(1 << 20))]);
    let results: Vec<bool> = (0..12)
        .map(|_| lex.process_word("$A", &env).is_ok())
        .collect();
    // Each `$A` costs 2 MiB: copied out of the environment, then into the word.
    assert_eq!(results.iter().filter(|ok| **ok).count(), 5, "{results:?}");
    let error = lex.clone().process_word("$A", &env).expect_err("spent");
    assert!(error.to_string().contains("budget of 10 MiB"), "{error}");

    // Pattern matching counts too: a quadratic-looking `${A%%*y}` is charged, not run
    // unbounded.
    let lex = ShellLex::new('\\').with_limits(ExpansionLimits {
        max_total_work: 1 << 20,
        ..ExpansionLimits::DEFAULT
    });
    let env = environment_from_assignments([format!("A={}", "x".repeat(100_000))]);
    let error = lex
        .process_word("${A#*y*y*y*y*y*y*y*y*y*y*y}", &env)
        .expect_err("spent");
    assert!(
        matches!(error, DockerfileError::ExpansionBudgetExceeded { .. }),
        "{error}"
    );
}

#[test]
fn nesting_is_bounded() {
    let lex = ShellLex::new('\\');
    let deep = |levels: usize| format!("{}x{}", "${A:-".repeat(levels), "}".repeat(levels));
    assert_eq!(lex.process_word(&deep(100), &env()).expect("ok"), "x");
    let error = lex
        .process_word(&deep(100_000), &env())
        .expect_err("too deep");
    assert!(
        error.to_string().contains("nest more than 100 deep"),
        "{error}"
    );
}

#[test]
fn long_words_are_abbreviated_in_errors() {
    let lex = ShellLex::new('\\');
    let env = environment_from_assignments([format!("A={}", "x".repeat(1 << 20))]);
    let word = format!("{}$A$A", "y".repeat(1000));
    let error = lex.process_word(&word, &env).expect_err("too large");
    assert!(error.to_string().len() < 300, "{error}");
}
