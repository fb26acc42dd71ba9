//! `.dockerignore` parsing and matching, as `moby/patternmatcher` (and its `ignorefile`
//! reader) do for the classic builder and BuildKit.

use super::ContextError;
use super::path::go_clean;
use super::pattern::PathPattern;

/// One pattern of a [`DockerIgnore`] list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: PathPattern,
    exception: bool,
}

/// A parsed `.dockerignore` (or `COPY --exclude`) pattern list.
///
/// Patterns are anchored at the context root and matched against whole
/// `/`-separated paths. A pattern that matches a directory also matches everything in it.
/// Patterns apply in order and the last one matching a path (or one of its parent
/// directories) decides: a plain pattern excludes, a `!` pattern re-includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    ///
    /// Per line, like Docker's `ignorefile.ReadAll`: a UTF-8 byte-order mark on the first
    /// line is dropped; a line *starting* with `#` is a comment (`  # x` is a pattern);
    /// surrounding whitespace is trimmed and blank lines skipped; a leading `!` marks an
    /// exception (whitespace after it is trimmed too); the rest is cleaned like Go's
    /// `filepath.Clean` and a leading `/` removed, so `/foo`, `./foo` and `foo/` all mean
    /// `foo`.
    ///
    /// # Errors
    ///
    /// [`ContextError::IllegalExclusion`] for a bare `!` and
    /// [`ContextError::InvalidPattern`] for malformed glob syntax, naming the line.
    pub fn parse(text: &str) -> Result<Self, ContextError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let origin = format!(".dockerignore line {}", index + 1);
            if let Some(rule) = compile_rule(&normalize(line), &origin)? {
                rules.push(rule);
            }
        }
        Ok(Self { rules })
    }

    /// Builds a list from individual patterns, e.g. the values of `COPY --exclude`.
    ///
    /// Each pattern is normalized like a `.dockerignore` line (trimmed, `!` exceptions,
    /// cleaned, leading `/` removed) but `#` has no special meaning.
    ///
    /// # Errors
    ///
    /// As for [`DockerIgnore::parse`], with `origin` (e.g. `COPY --exclude`) naming where
    /// the patterns came from in the message.
    pub fn from_patterns<I, S>(patterns: I, origin: &str) -> Result<Self, ContextError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut rules = Vec::new();
        for pattern in patterns {
            if let Some(rule) = compile_rule(&normalize(pattern.as_ref()), origin)? {
                rules.push(rule);
            }
        }
        Ok(Self { rules })
    }

    /// Whether there are no patterns (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any pattern is a `!` exception.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|rule| rule.exception)
    }

    /// The cleaned patterns in order, exceptions with their leading `!`.
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.rules.iter().map(|rule| {
            let bang = if rule.exception { "!" } else { "" };
            format!("{bang}{}", rule.pattern.as_str())
        })
    }

    /// Whether `path` (relative to the context root, `/`-separated) is excluded.
    ///
    /// The path is cleaned first; the context root itself is never excluded. This is
    /// patternmatcher's `MatchesOrParentMatches`: a pattern applies to a path if it
    /// matches the path or any of its parent directories, and the last pattern that
    /// applies decides.
    pub fn is_excluded(&self, path: &str) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let cleaned = go_clean(path);
        let path = cleaned.trim_start_matches('/');
        if path.is_empty() || path == "." {
            return false;
        }
        let mut excluded = false;
        for rule in &self.rules {
            // Only a rule that would flip the current answer needs evaluating.
            if rule.exception != excluded {
                continue;
            }
            if rule.pattern.matches_self_or_parent(path) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether a walker may skip the directory `dir` without looking inside: the
    /// directory is excluded and no `!` exception could match anything in it.
    ///
    /// When this is `false` for an excluded directory, some entries inside may be
    /// re-included; they are then sent with their parent directories, as BuildKit does.
    pub fn excludes_dir_entirely(&self, dir: &str) -> bool {
        if !self.is_excluded(dir) {
            return false;
        }
        let cleaned = go_clean(dir);
        let dir = cleaned.trim_start_matches('/');
        !self
            .rules
            .iter()
            .any(|rule| rule.exception && rule.pattern.could_match_inside(dir))
    }
}

/// `ignorefile.ReadAll`'s per-line normalization: trim, split off `!`, clean, drop a
/// leading `/`. A bare `!` stays `!` (rejected later).
fn normalize(line: &str) -> String {
    let mut pattern = line.trim();
    let exception = pattern.starts_with('!');
    if exception {
        pattern = pattern[1..].trim();
    }
    let mut cleaned = String::new();
    if !pattern.is_empty() {
        cleaned = go_clean(pattern);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
    }
    if exception {
        cleaned.insert(0, '!');
    }
    cleaned
}

/// patternmatcher's `New` for one pattern: trim, clean, split off `!`, check syntax.
fn compile_rule(pattern: &str, origin: &str) -> Result<Option<Rule>, ContextError> {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Ok(None);
    }
    let cleaned = go_clean(pattern);
    let (exception, body) = match cleaned.strip_prefix('!') {
        Some("") => {
            return Err(ContextError::IllegalExclusion {
                origin: origin.to_string(),
            });
        }
        Some(body) => (true, body),
        None => (false, cleaned.as_str()),
    };
    let pattern = PathPattern::compile(body).map_err(|reason| ContextError::InvalidPattern {
        origin: origin.to_string(),
        pattern: body.to_string(),
        reason,
    })?;
    Ok(Some(Rule { pattern, exception }))
}

#[cfg(test)]
mod tests;
