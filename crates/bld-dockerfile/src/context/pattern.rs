//! Glob patterns with the two flavours Docker uses.
//!
//! - [`PathPattern`]: `moby/patternmatcher` semantics for `.dockerignore`, `--exclude` and
//!   `--parents`: matched against a whole `/`-separated path, `*`/`?` stop at `/`, `**`
//!   crosses directories. Patternmatcher classifies each pattern as exact, prefix (`a/**`),
//!   suffix (leading `**` then literal text) or regular expression, and the prefix/suffix
//!   fast paths have their own (slightly different) results; they are reproduced here.
//! - [`glob_component`]: Go's `filepath.Match` for one path component, used for wildcard
//!   `COPY` sources.
//!
//! Both validate syntax the way Go's `filepath.Match` does: an unterminated or empty
//! `[...]` class, a class range that starts with `-` or `]`, and a trailing `\` are errors.

/// One step of a compiled pattern (the regular-expression form of patternmatcher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A literal character (escaped or not).
    Char(char),
    /// `?`: any one character except `/`.
    AnyChar,
    /// `*`: any run of characters without `/`.
    Star,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        /// `[^...]`.
        negated: bool,
        /// Inclusive character ranges.
        ranges: Vec<(char, char)>,
    },
    /// `**` not at the end: `(.*/)?`, any number of leading directories, even none.
    AnyDirs,
    /// `**` at the end of a pattern that is already a regular expression: `.*`.
    AnyRest,
}

impl Token {
    fn class_matches(negated: bool, ranges: &[(char, char)], ch: char) -> bool {
        ranges.iter().any(|&(lo, hi)| lo <= ch && ch <= hi) != negated
    }
}

/// How patternmatcher decided to match a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// No special characters: the path must equal the pattern.
    Exact,
    /// Literal text then a final `**`: the path must start with the text.
    Prefix(String),
    /// A leading `**` then literal text: the path must end with the text (or, when the
    /// text starts with `/`, equal the text without it).
    Suffix(String),
    /// Anything else, matched like patternmatcher's regular expression.
    Tokens(Vec<Token>),
}

/// A compiled patternmatcher pattern (without its `!` marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    text: String,
    kind: Kind,
}

impl PathPattern {
    /// Compiles a cleaned pattern; the error is the reason it is malformed.
    pub(crate) fn compile(text: &str) -> Result<Self, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut detected = Detected::Exact;
        let mut index = 0;
        let mut step = 0;
        while index < chars.len() {
            let ch = chars[index];
            index += 1;
            match ch {
                '*' if chars.get(index) == Some(&'*') => {
                    index += 1;
                    if chars.get(index) == Some(&'/') {
                        index += 1;
                    }
                    if index == chars.len() {
                        if detected == Detected::Exact {
                            detected = Detected::Prefix;
                        } else {
                            tokens.push(Token::AnyRest);
                            detected = Detected::Regexp;
                        }
                    } else {
                        tokens.push(Token::AnyDirs);
                        detected = Detected::Regexp;
                    }
                    if step == 0 {
                        detected = Detected::Suffix;
                    }
                }
                '*' => {
                    tokens.push(Token::Star);
                    detected = Detected::Regexp;
                }
                '?' => {
                    tokens.push(Token::AnyChar);
                    detected = Detected::Regexp;
                }
                '\\' => {
                    let escaped = chars
                        .get(index)
                        .ok_or_else(|| "trailing `\\` escapes nothing".to_string())?;
                    index += 1;
                    tokens.push(Token::Char(*escaped));
                    detected = Detected::Regexp;
                }
                '[' => {
                    tokens.push(parse_class(&chars, &mut index)?);
                    detected = Detected::Regexp;
                }
                ']' => {
                    tokens.push(Token::Char(']'));
                    detected = Detected::Regexp;
                }
                other => tokens.push(Token::Char(other)),
            }
            step += 1;
        }
        let kind = match detected {
            Detected::Exact => Kind::Exact,
            Detected::Prefix => Kind::Prefix(text[..text.len() - 2].to_string()),
            Detected::Suffix => Kind::Suffix(text[2..].to_string()),
            Detected::Regexp => Kind::Tokens(tokens),
        };
        Ok(Self {
            text: text.to_string(),
            kind,
        })
    }

    /// The cleaned pattern text.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern matches the whole (cleaned, relative) path.
    pub(crate) fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Tokens(tokens) => run(tokens, path, true),
        }
    }

    /// Whether the pattern matches the path or one of its ancestor directories.
    pub(crate) fn matches_self_or_parent(&self, path: &str) -> bool {
        self.matches(path) || super::path::ancestors(path).any(|dir| self.matches(dir))
    }

    /// Whether some path strictly inside `dir` (`dir` non-empty, no trailing `/`) could
    /// match. Conservative: `true` whenever unsure.
    pub(crate) fn could_match_inside(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        match &self.kind {
            Kind::Exact => self.text.starts_with(&prefix),
            Kind::Prefix(text) => text.starts_with(&prefix) || prefix.starts_with(text.as_str()),
            Kind::Suffix(_) => true,
            Kind::Tokens(tokens) => run(tokens, &prefix, false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detected {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

/// Compiles one component of a wildcard `COPY` source with Go `filepath.Match` rules
/// (`**` is just two stars).
pub(crate) fn glob_component(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        index += 1;
        tokens.push(match ch {
            '*' => Token::Star,
            '?' => Token::AnyChar,
            '[' => parse_class(&chars, &mut index)?,
            '\\' => {
                let escaped = chars
                    .get(index)
                    .ok_or_else(|| "trailing `\\` escapes nothing".to_string())?;
                index += 1;
                Token::Char(*escaped)
            }
            other => Token::Char(other),
        });
    }
    Ok(tokens)
}

/// Whether compiled tokens match the whole of `text`.
pub(crate) fn tokens_match(tokens: &[Token], text: &str) -> bool {
    run(tokens, text, true)
}

/// Parses a class after its `[`, with Go `filepath.Match` syntax, leaving `index` after
/// the closing `]`.
fn parse_class(chars: &[char], index: &mut usize) -> Result<Token, String> {
    let negated = chars.get(*index) == Some(&'^');
    if negated {
        *index += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(*index) == Some(&']') && !ranges.is_empty() {
            *index += 1;
            return Ok(Token::Class { negated, ranges });
        }
        let lo = class_char(chars, index)?;
        let mut hi = lo;
        if chars.get(*index) == Some(&'-') {
            *index += 1;
            if chars.get(*index) == Some(&']') {
                return Err("character class range has no upper bound".to_string());
            }
            hi = class_char(chars, index)?;
        }
        ranges.push((lo, hi));
    }
}

/// One (possibly escaped) character of a class range; Go's `getEsc`.
fn class_char(chars: &[char], index: &mut usize) -> Result<char, String> {
    let unterminated = || "unterminated character class `[`".to_string();
    let ch = match chars.get(*index) {
        None => return Err(unterminated()),
        Some('-') => return Err("character class range starts with `-`".to_string()),
        Some(']') => return Err("empty character class `[]`".to_string()),
        Some('\\') => {
            *index += 1;
            *chars.get(*index).ok_or_else(unterminated)?
        }
        Some(other) => *other,
    };
    *index += 1;
    if *index >= chars.len() {
        return Err(unterminated());
    }
    Ok(ch)
}

/// Simulates the pattern's automaton over `text`. With `whole`, the text must be matched
/// completely; without, it only has to be a possible prefix of a match.
fn run(tokens: &[Token], text: &str, whole: bool) -> bool {
    // State `2 * i` is "before token i"; `2 * i + 1` is "inside the `.*` of AnyDirs i".
    let states = 2 * (tokens.len() + 1);
    let mut current = vec![false; states];
    current[0] = true;
    close(tokens, &mut current);
    for ch in text.chars() {
        let mut next = vec![false; states];
        for (state, _) in current.iter().enumerate().filter(|(_, on)| **on) {
            let at = state / 2;
            if state % 2 == 1 {
                next[state] = true;
                if ch == '/' {
                    next[2 * (at + 1)] = true;
                }
                continue;
            }
            let Some(token) = tokens.get(at) else {
                continue;
            };
            match token {
                Token::Char(expected) if *expected == ch => next[2 * (at + 1)] = true,
                Token::AnyChar if ch != '/' => next[2 * (at + 1)] = true,
                Token::Star if ch != '/' => next[state] = true,
                Token::AnyRest => next[state] = true,
                Token::Class { negated, ranges } if Token::class_matches(*negated, ranges, ch) => {
                    next[2 * (at + 1)] = true;
                }
                _ => {}
            }
        }
        close(tokens, &mut next);
        if !next.iter().any(|on| *on) {
            return false;
        }
        current = next;
    }
    if whole {
        current[2 * tokens.len()]
    } else {
        current.iter().any(|on| *on)
    }
}

/// Adds the states reachable without consuming a character.
fn close(tokens: &[Token], states: &mut [bool]) {
    for at in 0..tokens.len() {
        if !states[2 * at] {
            continue;
        }
        match tokens[at] {
            Token::Star | Token::AnyRest => states[2 * (at + 1)] = true,
            Token::AnyDirs => {
                states[2 * at + 1] = true;
                states[2 * (at + 1)] = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
