//! Parser directives: `# syntax=`, `# escape=` and `# check=`, recognised only in the
//! comment lines at the very top of the file. The first line that is not a directive (a
//! blank line, another comment, an instruction) ends the search, as in BuildKit.

use crate::ast::Directive;
use crate::error::{DockerfileError, Position};

const KNOWN_DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

/// Watches the first lines of a file for directives.
#[derive(Debug, Default)]
pub(super) struct DirectiveScanner {
    done: bool,
    found: Vec<Directive>,
}

impl DirectiveScanner {
    /// Looks at one line (leading whitespace and the line ending removed). Returns the
    /// directive it holds, if directives are still being looked for and it is one.
    pub(super) fn check(
        &mut self,
        line: &str,
        line_number: usize,
    ) -> Result<Option<Directive>, DockerfileError> {
        if self.done {
            return Ok(None);
        }
        let Some((name, value)) = split_directive(line) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN_DIRECTIVES.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        let at = Position::new(line_number, 1);
        if self.found.iter().any(|directive| directive.name == name) {
            return Err(DockerfileError::DuplicateDirective {
                at,
                directive: name,
            });
        }
        if name == "escape" && value != "\\" && value != "`" {
            return Err(DockerfileError::InvalidEscapeCharacter {
                at,
                value: value.to_owned(),
            });
        }
        let directive = Directive {
            name,
            value: value.to_owned(),
            line: line_number,
        };
        self.found.push(directive.clone());
        Ok(Some(directive))
    }

    pub(super) fn into_directives(self) -> Vec<Directive> {
        self.found
    }
}

/// Splits `# name = value` into its name and value; `None` if the line has another shape.
/// The name is an ASCII letter followed by ASCII letters and digits; the value is not empty.
fn split_directive(line: &str) -> Option<(&str, &str)> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r');
    let rest = line.strip_prefix('#')?.trim_start_matches(is_space);
    let name_end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[name_end..]
        .trim_start_matches(is_space)
        .strip_prefix('=')?;
    let value = value.trim_matches(is_space);
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_shapes() {
        assert_eq!(split_directive("# escape = `"), Some(("escape", "`")));
        assert_eq!(
            split_directive("#syntax=docker/dockerfile:1"),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(
            split_directive("# check=skip=JSONArgsRecommended"),
            Some(("check", "skip=JSONArgsRecommended"))
        );
        assert_eq!(split_directive("# Comment here. escape = `"), None);
        assert_eq!(split_directive("# escape ="), None);
        assert_eq!(split_directive("FROM x"), None);
    }

    #[test]
    fn scanning_stops_at_the_first_other_line() {
        let mut scanner = DirectiveScanner::default();
        assert!(scanner.check("# syntax=x", 1).expect("ok").is_some());
        assert!(scanner.check("", 2).expect("ok").is_none());
        assert!(scanner.check("# escape=`", 3).expect("ok").is_none());
    }

    #[test]
    fn duplicates_and_bad_escapes_are_errors() {
        let mut scanner = DirectiveScanner::default();
        assert!(scanner.check("# escape=`", 1).expect("ok").is_some());
        let error = scanner.check("# escape=\\", 2).expect_err("duplicate");
        assert!(crate::error::rendered(&error).starts_with("2:1: parser directive `escape`"));
        let mut scanner = DirectiveScanner::default();
        assert!(scanner.check("# escape=x", 1).is_err());
    }
}
