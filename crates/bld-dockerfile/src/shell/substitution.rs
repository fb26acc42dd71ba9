//! `$NAME` and `${NAME<modifier>...}` substitution, as BuildKit's `shell.Lex` does it: names,
//! the modifiers (`:-`, `:+`, `:?`, `#`, `%`, `/`, …) and their errors.

use super::{WordScanner, pattern};
use crate::error::DockerfileError;

impl WordScanner<'_> {
    /// Reads a variable name: a run of digits, one special parameter character, or a run of
    /// letters, digits and underscores.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        let Some(first) = self.peek() else {
            return name;
        };
        if first.is_ascii_digit() {
            while let Some(ch) = self.peek().filter(char::is_ascii_digit) {
                name.push(ch);
                self.pos += 1;
            }
            return name;
        }
        if matches!(first, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
            self.pos += 1;
            name.push(first);
            return name;
        }
        while let Some(ch) = self.peek() {
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    pub(super) fn process_dollar(&mut self) -> Result<String, DockerfileError> {
        let dollar = self.pos;
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.lookup(&name)? {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => {
                return Err(DockerfileError::UnterminatedSubstitution {
                    word: self.word(),
                    column: Self::column(dollar),
                    expected: '}',
                });
            }
            Some('{' | '}' | ':') => {
                return Err(DockerfileError::BadSubstitution {
                    word: self.word(),
                    column: Self::column(dollar),
                });
            }
            Some(_) => {}
        }
        let name = self.process_name();
        let modifier_at = self.pos;
        let Some(first) = self.next_char() else {
            return Err(DockerfileError::UnterminatedSubstitution {
                word: self.word(),
                column: Self::column(dollar),
                expected: '}',
            });
        };
        match first {
            '}' => Ok(match self.lookup(&name)? {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                self.process_modifier(dollar, modifier_at, name, first)
            }
            '/' => self.process_replacement(dollar, name),
            other => Err(DockerfileError::UnsupportedModifier {
                word: self.word(),
                column: Self::column(modifier_at),
                modifier: other.to_string(),
            }),
        }
    }

    /// `${name:-word}`, `${name-word}`, `${name:+word}`, `${name+word}`, `${name:?word}`,
    /// `${name?word}`, `${name#pattern}`, `${name##pattern}`, `${name%pattern}`,
    /// `${name%%pattern}`. `first` is the character after the name, already consumed.
    fn process_modifier(
        &mut self,
        dollar: usize,
        modifier_at: usize,
        name: String,
        first: char,
    ) -> Result<String, DockerfileError> {
        let null_is_unset = first == ':';
        let mut modifier = first.to_string();
        let operator = if null_is_unset {
            match self.next_char() {
                Some(ch) => {
                    modifier.push(ch);
                    ch
                }
                None => {
                    return Err(DockerfileError::UnterminatedSubstitution {
                        word: self.word(),
                        column: Self::column(dollar),
                        expected: '}',
                    });
                }
            }
        } else {
            first
        };
        let is_pattern = operator == '#' || operator == '%';
        let unsupported = |scanner: &Self, modifier: String| DockerfileError::UnsupportedModifier {
            word: scanner.word(),
            column: Self::column(modifier_at),
            modifier,
        };
        if null_is_unset && is_pattern {
            return Err(unsupported(self, modifier));
        }
        let (word, _) = self
            .process_until(Some('}'), is_pattern)
            .map_err(|error| self.closing_brace_error(dollar, error))?;
        let value = self.lookup(&name)?;
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let is_null = |value: &Option<String>| match value {
            None => true,
            Some(text) => null_is_unset && text.is_empty(),
        };
        match operator {
            '-' => Ok(if is_null(&value) {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if is_null(&value) { String::new() } else { word }),
            '?' => match value {
                None => Err(self.required_error(name, word, "is not allowed to be unset")),
                Some(text) if null_is_unset && text.is_empty() => {
                    Err(self.required_error(name, word, "is not allowed to be empty"))
                }
                Some(text) => Ok(text),
            },
            '#' | '%' => {
                let (pattern, longest) = match word.strip_prefix(operator) {
                    Some(rest) => (rest.to_owned(), true),
                    None => (word, false),
                };
                let glob = pattern::Glob::parse(&pattern).map_err(|reason| {
                    DockerfileError::InvalidPattern {
                        word: self.word(),
                        pattern,
                        reason,
                    }
                })?;
                let value = value.unwrap_or_default();
                let before = self.pattern_budget();
                let mut budget = before;
                let result = if operator == '#' {
                    glob.remove_prefix(&value, longest, &mut budget)
                } else {
                    glob.remove_suffix(&value, longest, &mut budget)
                };
                self.settle_pattern(before, budget, result)
            }
            _ => Err(unsupported(self, modifier)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`; the first `/` is
    /// already consumed.
    fn process_replacement(
        &mut self,
        dollar: usize,
        name: String,
    ) -> Result<String, DockerfileError> {
        let replace_all = self.peek() == Some('/');
        if replace_all {
            self.pos += 1;
        }
        let (pattern, _) = self.process_until(Some('/'), true).map_err(|error| {
            if self.peek().is_none() {
                DockerfileError::UnterminatedSubstitution {
                    word: self.word(),
                    column: Self::column(dollar),
                    expected: '/',
                }
            } else {
                error
            }
        })?;
        let (replacement, _) = self
            .process_until(Some('}'), true)
            .map_err(|error| self.closing_brace_error(dollar, error))?;
        let value = self.lookup(&name)?;
        let Some(value) = value else {
            if self.lex.skip_unset_env {
                let slashes = if replace_all { "//" } else { "/" };
                return Ok(format!("${{{name}{slashes}{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let glob =
            pattern::Glob::parse(&pattern).map_err(|reason| DockerfileError::InvalidPattern {
                word: self.word(),
                pattern: pattern.clone(),
                reason,
            })?;
        let before = self.pattern_budget();
        let mut budget = before;
        let result = glob.replace(&value, &replacement, replace_all, &mut budget);
        self.settle_pattern(before, budget, result)
    }

    /// An error inside `${...}` that ran off the end of the word becomes "missing `}`".
    fn closing_brace_error(&self, dollar: usize, error: DockerfileError) -> DockerfileError {
        if self.peek().is_none() {
            DockerfileError::UnterminatedSubstitution {
                word: self.word(),
                column: Self::column(dollar),
                expected: '}',
            }
        } else {
            error
        }
    }

    fn required_error(&self, name: String, word: String, default: &str) -> DockerfileError {
        let message = if word.is_empty() {
            default.to_owned()
        } else {
            word
        };
        DockerfileError::RequiredVariable {
            word: self.word(),
            name,
            message,
        }
    }
}
