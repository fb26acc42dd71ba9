//! Per-instruction argument splitting, matching BuildKit's line parsers: which instructions
//! take a JSON array, which split on whitespace, which keep the rest of the line whole, and
//! how `ENV`/`LABEL`/`ARG` words are cut.

use crate::ast::Keyword;
use crate::error::{DockerfileError, Position};

use super::split::is_token_space;

/// The arguments of one instruction as BuildKit chains them after the instruction node.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Arguments {
    pub(super) args: Vec<String>,
    pub(super) json: bool,
}

impl Arguments {
    fn shell(args: Vec<String>) -> Self {
        Arguments { args, json: false }
    }
}

/// Splits `rest` (the text after the instruction and its flags) for `keyword`. ONBUILD is
/// handled by the caller.
pub(super) fn parse_arguments(
    keyword: Keyword,
    rest: &str,
    escape: char,
    at: Position,
) -> Result<Arguments, DockerfileError> {
    match keyword {
        Keyword::Add | Keyword::Copy | Keyword::Volume => maybe_json_to_list(keyword, rest, at),
        Keyword::Cmd | Keyword::Entrypoint | Keyword::Run | Keyword::Shell => {
            maybe_json(keyword, rest, at)
        }
        Keyword::Env | Keyword::Label => {
            Ok(Arguments::shell(name_value(keyword, rest, escape, at)?))
        }
        Keyword::Arg => Ok(Arguments::shell(words(rest, escape))),
        Keyword::Expose | Keyword::From => Ok(Arguments::shell(whitespace_delimited(rest))),
        Keyword::Healthcheck => health_config(rest, at),
        Keyword::Maintainer | Keyword::StopSignal | Keyword::User | Keyword::Workdir => {
            Ok(Arguments::shell(single_string(rest)))
        }
        Keyword::Onbuild => Ok(Arguments::default()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Splits on whitespace outside quotes, keeping quotes and escapes in the words (they are
/// removed later, by expansion). An escape at the very end is dropped.
pub(super) fn words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                }
                if ch == escape {
                    let Some(escaped) = chars.next() else {
                        continue;
                    };
                    // An escape outside quotes is kept with the character it escapes.
                    word.push(ch);
                    word.push(escaped);
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                }
                // Inside single quotes the escape character is an ordinary character.
                if ch == escape && quote != '\'' {
                    let Some(escaped) = chars.next() else {
                        phase = Phase::Word;
                        continue;
                    };
                    word.push(ch);
                    word.push(escaped);
                    continue;
                }
                word.push(ch);
            }
            Phase::Spaces => {}
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// `ENV`/`LABEL`: either the legacy `KEY value with spaces` or `KEY=value ...`, as triples
/// of key, value and `"="` (or `""` for the legacy form).
fn name_value(
    keyword: Keyword,
    rest: &str,
    escape: char,
    at: Position,
) -> Result<Vec<String>, DockerfileError> {
    let instruction = keyword.name();
    let words = words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let mut parts = rest.splitn(2, is_token_space);
        let key = parts.next().unwrap_or_default();
        let value = parts
            .next()
            .map(|value| value.trim_start_matches(is_token_space));
        return match value {
            Some(value) => Ok(vec![key.to_owned(), value.to_owned(), String::new()]),
            None => Err(DockerfileError::MissingArguments {
                at,
                instruction,
                expected: "a name and a value: `NAME value` or `NAME=value ...`",
            }),
        };
    }
    let mut args = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(DockerfileError::InvalidArguments {
                at,
                instruction,
                found: word.clone(),
                expected: format!(
                    "NAME=value pairs (`{instruction} NAME=value ...`); `{word}` has no `=`"
                ),
            });
        };
        args.extend([key.to_owned(), value.to_owned(), "=".to_owned()]);
    }
    Ok(args)
}

/// Splits on runs of spaces, tabs, vertical tabs, form feeds and carriage returns.
fn whitespace_delimited(rest: &str) -> Vec<String> {
    rest.split(is_token_space)
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The whole rest as one argument, or none.
fn single_string(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.to_owned()]
    }
}

enum JsonArray {
    Strings(Vec<String>),
    NotStrings,
    NotJson,
}

/// Reads `rest` as a JSON array of strings.
fn json_array(rest: &str) -> JsonArray {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return JsonArray::NotJson;
    }
    let Ok(serde_json::Value::Array(values)) = serde_json::from_str::<serde_json::Value>(rest)
    else {
        return JsonArray::NotJson;
    };
    let mut strings = Vec::with_capacity(values.len());
    for value in values {
        match value {
            serde_json::Value::String(text) => strings.push(text),
            _ => return JsonArray::NotStrings,
        }
    }
    JsonArray::Strings(strings)
}

/// A JSON array, or else the rest as one shell-form argument.
fn maybe_json(keyword: Keyword, rest: &str, at: Position) -> Result<Arguments, DockerfileError> {
    if rest.is_empty() {
        return Ok(Arguments::default());
    }
    match json_array(rest) {
        JsonArray::Strings(args) => Ok(Arguments { args, json: true }),
        JsonArray::NotStrings => Err(DockerfileError::NotStringArray {
            at,
            instruction: keyword.name(),
        }),
        JsonArray::NotJson => Ok(Arguments::shell(vec![rest.to_owned()])),
    }
}

/// A JSON array, or else the rest split on whitespace.
fn maybe_json_to_list(
    keyword: Keyword,
    rest: &str,
    at: Position,
) -> Result<Arguments, DockerfileError> {
    match json_array(rest) {
        JsonArray::Strings(args) => Ok(Arguments { args, json: true }),
        JsonArray::NotStrings => Err(DockerfileError::NotStringArray {
            at,
            instruction: keyword.name(),
        }),
        JsonArray::NotJson => Ok(Arguments::shell(whitespace_delimited(rest))),
    }
}

/// `HEALTHCHECK`: the type word, then the command as for `CMD`.
fn health_config(rest: &str, at: Position) -> Result<Arguments, DockerfileError> {
    let type_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if type_end == 0 {
        return Ok(Arguments::default());
    }
    let command = rest[type_end..].trim_start();
    let mut arguments = maybe_json(Keyword::Healthcheck, command, at)?;
    arguments.args.insert(0, rest[..type_end].to_owned());
    Ok(arguments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            words(r#"abc="123 456" def"#, '\\'),
            vec![r#"abc="123 456""#, "def"]
        );
        assert_eq!(
            words(r"name=value\ value2 x", '\\'),
            vec![r"name=value\ value2", "x"]
        );
        assert_eq!(words(r"name='a\'b''", '\\'), vec![r"name='a\'b''"]);
        assert_eq!(words("a `\" b", '`'), vec!["a", "`\"", "b"]);
    }

    #[test]
    fn legacy_and_modern_env() {
        let at = Position::new(1, 1);
        assert_eq!(
            name_value(Keyword::Env, "A  b c", '\\', at).expect("ok"),
            vec!["A", "b c", ""]
        );
        assert_eq!(
            name_value(Keyword::Env, "A=1 B=2", '\\', at).expect("ok"),
            vec!["A", "1", "=", "B", "2", "="]
        );
        assert!(name_value(Keyword::Env, "PATH", '\\', at).is_err());
        assert!(name_value(Keyword::Env, "A=1 B", '\\', at).is_err());
    }

    #[test]
    fn json_or_shell() {
        let at = Position::new(1, 1);
        let parsed = maybe_json(Keyword::Cmd, r#"["a", "b"]"#, at).expect("ok");
        assert_eq!(
            parsed,
            Arguments {
                args: vec!["a".into(), "b".into()],
                json: true
            }
        );
        let parsed = maybe_json(Keyword::Cmd, r#"["a", "b""#, at).expect("ok");
        assert_eq!(parsed, Arguments::shell(vec![r#"["a", "b""#.into()]));
        assert!(maybe_json(Keyword::Cmd, r#"["a", ["b"]]"#, at).is_err());
    }
}
