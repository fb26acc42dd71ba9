//! Word expansion as BuildKit's Dockerfile frontend does it: quotes, escapes, `$VAR` and
//! `${VAR...}` substitution, and word splitting after expansion.
//!
//! This is not a shell: there is no command substitution, globbing or arithmetic. It is the
//! small language Dockerfile instructions such as `ENV`, `COPY` or `WORKDIR` use for their
//! arguments.

mod pattern;
mod substitution;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DockerfileError, abbreviated};

/// Where expansion looks up variables.
pub trait Environment {
    /// The value of `name`, or `None` when it is unset. An empty value is set.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Environment for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Environment for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// An environment with no variables.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyEnvironment;

impl Environment for EmptyEnvironment {
    fn get(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// Builds an environment from `NAME=value` assignments. A later assignment of a name wins;
/// an entry without `=` sets the name to the empty string.
pub fn environment_from_assignments<I, S>(assignments: I) -> HashMap<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    assignments
        .into_iter()
        .map(|entry| {
            let entry = entry.as_ref();
            match entry.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => (entry.to_owned(), String::new()),
            }
        })
        .collect()
}

/// The result of expanding one word, with the variables it looked up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpandedWord {
    /// The expanded text, quotes removed and spaces kept.
    pub text: String,
    /// The expanded text split into words (spaces from quotes and escapes do not split).
    pub words: Vec<String>,
    /// Variables that were looked up and set.
    pub matched: BTreeSet<String>,
    /// Variables that were looked up and unset.
    pub unmatched: BTreeSet<String>,
}

/// Bounds on word expansion, so that no Dockerfile can make it exhaust memory or time (ten
/// `ARG`s each doubling the last grow a value a thousandfold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpansionLimits {
    /// The most bytes one expanded word (and so one `ARG` or `ENV` value) may hold.
    pub max_word_bytes: usize,
    /// The most work all the expansions of one lexer and its clones may do together: bytes
    /// produced plus pattern-matching steps (a character read times the pattern's length).
    pub max_total_work: u64,
    /// How deep `${...}` substitutions may nest inside one another.
    pub max_nesting: usize,
}

impl ExpansionLimits {
    /// 1 MiB per word (eight times what Linux lets one environment string be), 256 MiB of work
    /// per Dockerfile, 100 levels of nesting.
    pub const DEFAULT: ExpansionLimits = ExpansionLimits {
        max_word_bytes: 1 << 20,
        max_total_work: 256 << 20,
        max_nesting: 100,
    };
}

impl Default for ExpansionLimits {
    fn default() -> Self {
        ExpansionLimits::DEFAULT
    }
}

/// BuildKit's word lexer (`shell.Lex`): expands variables and removes quotes and escapes.
///
/// The escape character is `\` unless the Dockerfile's `# escape=` directive says `` ` ``.
/// Expansion is bounded by [`ExpansionLimits`]; a lexer and its clones share one work budget,
/// so one lexer per Dockerfile bounds the work of the whole Dockerfile.
#[derive(Debug, Clone)]
pub struct ShellLex {
    escape: char,
    /// Keep quote characters in the output (their contents are still processed).
    pub raw_quotes: bool,
    /// Keep escape characters in the output (the escaped character is still taken literally).
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (`$NAME`, `${NAME...}`).
    pub skip_unset_env: bool,
    limits: ExpansionLimits,
    /// Work done so far by this lexer and its clones.
    work: Arc<AtomicU64>,
}

impl ShellLex {
    /// A lexer with the given escape character and every option off.
    pub fn new(escape: char) -> Self {
        ShellLex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
            limits: ExpansionLimits::DEFAULT,
            work: Arc::new(AtomicU64::new(0)),
        }
    }

    /// This lexer with other limits (and a fresh work budget).
    pub fn with_limits(self, limits: ExpansionLimits) -> Self {
        ShellLex {
            limits,
            work: Arc::new(AtomicU64::new(0)),
            ..self
        }
    }

    /// The limits expansion works within.
    pub fn limits(&self) -> ExpansionLimits {
        self.limits
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands `word`, keeping the spaces between words (BuildKit's `ProcessWord`).
    pub fn process_word(
        &self,
        word: &str,
        env: &dyn Environment,
    ) -> Result<String, DockerfileError> {
        Ok(self.process(word, env)?.text)
    }

    /// Expands `word` and splits the result into words (BuildKit's `ProcessWords`). Spaces
    /// that come from quotes or escapes do not split; spaces in variable values do.
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn Environment,
    ) -> Result<Vec<String>, DockerfileError> {
        Ok(self.process(word, env)?.words)
    }

    /// Expands `word`, returning the text, the split words and the variables looked up.
    pub fn process(
        &self,
        word: &str,
        env: &dyn Environment,
    ) -> Result<ExpandedWord, DockerfileError> {
        let mut scanner = WordScanner {
            lex: self,
            source: word,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        let (text, words) = scanner.process_until(None, self.raw_escapes)?;
        Ok(ExpandedWord {
            text,
            words,
            matched: scanner.matched,
            unmatched: scanner.unmatched,
        })
    }
}

/// Accumulates the split words while a word is expanded.
#[derive(Default)]
struct WordSplitter {
    current: String,
    words: Vec<String>,
    in_word: bool,
}

impl WordSplitter {
    /// A character that splits on whitespace.
    fn push_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.current.is_empty() {
                self.words.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.push_literal_char(ch);
        }
    }

    /// A character that never splits (escaped).
    fn push_literal_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    /// Text from a variable: splits on its whitespace.
    fn push_expanded(&mut self, text: &str) {
        for ch in text.chars() {
            self.push_char(ch);
        }
    }

    /// Text from quotes: never splits.
    fn push_literal(&mut self, text: &str) {
        self.current.push_str(text);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.words.push(self.current);
        }
        self.words
    }
}

struct WordScanner<'a> {
    lex: &'a ShellLex,
    source: &'a str,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Environment,
    raw_escapes: bool,
    /// How many `process_until`s are running (nested substitutions).
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl WordScanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next_char(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// 1-based column of the character at `index`.
    fn column(index: usize) -> usize {
        index + 1
    }

    fn word(&self) -> String {
        self.source.to_owned()
    }

    fn lookup(&mut self, name: &str) -> Result<Option<String>, DockerfileError> {
        match self.env.get(name) {
            Some(value) => {
                self.matched.insert(name.to_owned());
                self.charge(value.len() as u64)?;
                Ok(Some(value.to_owned()))
            }
            None => {
                self.unmatched.insert(name.to_owned());
                Ok(None)
            }
        }
    }

    /// Counts `work` against the lexer's budget.
    fn charge(&self, work: u64) -> Result<(), DockerfileError> {
        let limit = self.lex.limits.max_total_work;
        let before = self.lex.work.fetch_add(work, Ordering::Relaxed);
        if before.saturating_add(work) > limit {
            return Err(self.budget_error());
        }
        Ok(())
    }

    /// What is left of the budget, for a pattern operation, which charges what it used.
    fn pattern_budget(&self) -> pattern::Budget {
        let used = self.lex.work.load(Ordering::Relaxed);
        pattern::Budget {
            steps: self.lex.limits.max_total_work.saturating_sub(used),
            max_output: self.lex.limits.max_word_bytes,
        }
    }

    /// Charges what a pattern operation used, or reports the limit it hit.
    fn settle_pattern<T>(
        &self,
        before: pattern::Budget,
        after: pattern::Budget,
        result: Result<T, pattern::Exceeded>,
    ) -> Result<T, DockerfileError> {
        match result {
            Ok(value) => {
                self.charge(before.steps - after.steps)?;
                Ok(value)
            }
            Err(pattern::Exceeded::Work) => {
                // The budget is spent: later expansions fail too.
                self.lex
                    .work
                    .fetch_add(before.steps.saturating_add(1), Ordering::Relaxed);
                Err(self.budget_error())
            }
            Err(pattern::Exceeded::Output) => Err(self.too_large()),
        }
    }

    fn budget_error(&self) -> DockerfileError {
        DockerfileError::ExpansionBudgetExceeded {
            word: abbreviated(self.source),
            limit: self.lex.limits.max_total_work,
        }
    }

    fn too_large(&self) -> DockerfileError {
        DockerfileError::WordTooLarge {
            word: abbreviated(self.source),
            limit: self.lex.limits.max_word_bytes,
        }
    }

    /// Appends `piece` to `out`, unless that makes `out` larger than one word may be.
    fn append(&self, out: &mut String, piece: &str) -> Result<(), DockerfileError> {
        if out.len() + piece.len() > self.lex.limits.max_word_bytes {
            return Err(self.too_large());
        }
        self.charge(piece.len() as u64)?;
        out.push_str(piece);
        Ok(())
    }

    /// Processes characters until `stop` (consumed) or the end of the word. Returns the text
    /// and the split words.
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), DockerfileError> {
        if self.depth > self.lex.limits.max_nesting {
            return Err(DockerfileError::NestingTooDeep {
                word: abbreviated(self.source),
                column: Self::column(self.pos.saturating_sub(1)),
                limit: self.lex.limits.max_nesting,
            });
        }
        self.depth += 1;
        let saved_raw_escapes = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.process_until_inner(stop);
        self.raw_escapes = saved_raw_escapes;
        self.depth -= 1;
        result
    }

    fn process_until_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), DockerfileError> {
        let mut text = String::new();
        let mut words = WordSplitter::default();
        let start = self.pos;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((text, words.finish()));
            }
            let quotes_active = !self.lex.skip_process_quotes;
            if ch == '$' {
                let value = self.process_dollar()?;
                self.append(&mut text, &value)?;
                words.push_expanded(&value);
            } else if quotes_active && ch == '\'' {
                let value = self.process_single_quote()?;
                self.append(&mut text, &value)?;
                words.push_literal(&value);
            } else if quotes_active && ch == '"' {
                let value = self.process_double_quote()?;
                self.append(&mut text, &value)?;
                words.push_literal(&value);
            } else {
                self.pos += 1;
                if ch == self.lex.escape {
                    if self.raw_escapes {
                        words.push_literal_char(ch);
                        text.push(ch);
                    }
                    // An escape at the very end of the word is dropped.
                    let Some(escaped) = self.next_char() else {
                        break;
                    };
                    words.push_literal_char(escaped);
                    text.push(escaped);
                } else {
                    words.push_char(ch);
                    text.push(ch);
                }
            }
        }
        match stop {
            Some(expected) => Err(DockerfileError::UnterminatedSubstitution {
                word: self.word(),
                column: Self::column(start.saturating_sub(1)),
                expected,
            }),
            None => Ok((text, words.finish())),
        }
    }

    fn process_single_quote(&mut self) -> Result<String, DockerfileError> {
        let open = self.pos;
        let mut result = String::new();
        self.pos += 1;
        if self.lex.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next_char() {
                None => {
                    return Err(DockerfileError::UnterminatedQuote {
                        word: self.word(),
                        column: Self::column(open),
                        quote: '\'',
                    });
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, DockerfileError> {
        let open = self.pos;
        let mut result = String::new();
        self.pos += 1;
        if self.lex.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(DockerfileError::UnterminatedQuote {
                        word: self.word(),
                        column: Self::column(open),
                        quote: '"',
                    });
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    self.append(&mut result, &value)?;
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape right before the end is dropped.
                            None => continue,
                            // Only these can be escaped inside double quotes; any other
                            // escape character is kept as written.
                            Some(next) if next == '"' || next == '$' || next == self.lex.escape => {
                                ch = next;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
