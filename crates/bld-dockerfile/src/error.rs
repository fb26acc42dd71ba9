//! The crate's one error type, [`DockerfileError`], and the [`Position`] every parse error
//! carries.

use std::fmt;

use bld_core::{Classify, ErrorKind, Location};

/// A 1-based line and column in the Dockerfile text. Columns count characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) on that line.
    pub column: usize,
}

impl Position {
    /// A position from a 1-based line and column.
    pub fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Everything that can go wrong while parsing a Dockerfile or expanding a word in it.
///
/// Errors found in a Dockerfile carry the [`Position`] of the offending text
/// ([`DockerfileError::position`]) and the instruction concerned
/// ([`DockerfileError::instruction`]); the message (`Display`) says what is wrong and what was
/// expected, without either, so that whoever names the file renders every error one way:
/// `Dockerfile:3:6: COPY: unknown flag `--frm`: …` ([`DockerfileError::location`] gives the
/// place with the line's text). Errors of word expansion ([`crate::ShellLex`]) name the word
/// and the 1-based column inside it instead, since the word may not come from a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerfileError {
    /// A line starts with a word that is not a Dockerfile instruction.
    #[error("unknown instruction `{found}`: expected one of {}{}",
        crate::ast::Keyword::ALL_NAMES,
        .suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownInstruction {
        /// Where the word starts.
        at: Position,
        /// The word as written.
        found: String,
        /// A known instruction spelled similarly, if any.
        suggestion: Option<&'static str>,
    },

    /// The text holds no instruction at all (only blank lines, comments or directives).
    #[error("the Dockerfile has no instructions: expected at least one instruction such as FROM")]
    NoInstructions {
        /// The end of the text.
        at: Position,
    },

    /// A parser directive (`# syntax=`, `# escape=`, `# check=`) appears twice.
    #[error("parser directive `{directive}` is given more than once: expected at most one")]
    DuplicateDirective {
        /// Where the repeated directive is.
        at: Position,
        /// The directive's name, lower-cased.
        directive: String,
    },

    /// `# escape=` names something other than a backslash or a backtick.
    #[error("invalid escape character `{value}`: expected `\\` or `` ` ``")]
    InvalidEscapeCharacter {
        /// Where the directive is.
        at: Position,
        /// The value given.
        value: String,
    },

    /// An instruction lacks arguments it needs.
    #[error("missing arguments: expected {expected}")]
    MissingArguments {
        /// Where the arguments should start.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// What the instruction takes.
        expected: &'static str,
    },

    /// An instruction's arguments are present but malformed.
    #[error("invalid arguments `{found}`: expected {expected}")]
    InvalidArguments {
        /// Where the arguments start.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// The offending text.
        found: String,
        /// What the instruction takes.
        expected: String,
    },

    /// A JSON array argument contains something other than strings.
    #[error(
        "the JSON array holds a value that is not a string: expected an array of strings such as [\"a\", \"b\"]"
    )]
    NotStringArray {
        /// Where the array starts.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
    },

    /// An instruction that only takes the JSON (exec) form was given something else.
    #[error(
        "the arguments must be in JSON form: expected an array of strings such as [\"/bin/sh\", \"-c\"], found `{found}`"
    )]
    JsonFormRequired {
        /// Where the arguments start.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// The arguments as written.
        found: String,
    },

    /// A heredoc (`<<NAME`) is not closed before the end of the file.
    #[error("unterminated heredoc `<<{name}`: expected a line `{name}` before the end of the file")]
    UnterminatedHeredoc {
        /// Where the heredoc marker is.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// The delimiter word.
        name: String,
    },

    /// A heredoc is used where it cannot be (for example as the destination of COPY).
    #[error("a heredoc cannot be {role}: expected a path")]
    MisplacedHeredoc {
        /// Where the arguments start.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// What the heredoc was used as.
        role: &'static str,
    },

    /// A flag that the instruction does not take.
    #[error("unknown flag `--{flag}`: expected {expected}")]
    UnknownFlag {
        /// Where the flag is.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// The flag's name, without the dashes.
        flag: String,
        /// The flags the instruction takes.
        expected: String,
    },

    /// A flag that may appear once is given again.
    #[error("the flag `--{flag}` is given more than once: expected a single `--{flag}`")]
    DuplicateFlag {
        /// Where the repeated flag is.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// The flag's name.
        flag: String,
    },

    /// A flag has a value that does not parse.
    #[error("invalid value `{value}` for `--{flag}`: expected {expected}")]
    InvalidFlagValue {
        /// Where the flag is.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
        /// The flag's name.
        flag: String,
        /// The value as written.
        value: String,
        /// What the flag takes.
        expected: String,
    },

    /// A `RUN --mount=` specification that does not parse.
    #[error("invalid mount `{spec}`: {reason}")]
    InvalidMount {
        /// Where the `--mount` flag is.
        at: Position,
        /// The specification as written.
        spec: String,
        /// What was wrong and what was expected.
        reason: String,
    },

    /// `FROM ... AS name` with a name BuildKit would reject.
    #[error(
        "invalid stage name `{name}`: expected a letter followed by letters, digits, `-`, `_` or `.`"
    )]
    InvalidStageName {
        /// Where the FROM arguments start.
        at: Position,
        /// The name as written.
        name: String,
    },

    /// `ONBUILD` wrapping an instruction it cannot trigger.
    #[error(
        "{trigger} cannot be a trigger: expected any instruction but ONBUILD, FROM or MAINTAINER"
    )]
    InvalidOnbuildTrigger {
        /// Where the trigger instruction is.
        at: Position,
        /// The trigger instruction, upper-cased.
        trigger: &'static str,
    },

    /// An instruction other than ARG comes before the first FROM.
    #[error("before the first FROM: expected FROM first (only ARG may precede it)")]
    InstructionBeforeFrom {
        /// Where the instruction is.
        at: Position,
        /// The instruction, upper-cased.
        instruction: &'static str,
    },

    /// The Dockerfile has no FROM, so no stage to build.
    #[error("the Dockerfile has no FROM instruction: expected at least one stage")]
    NoStages {
        /// The last line of the Dockerfile.
        at: Position,
    },

    /// A word-expansion error inside a Dockerfile, located in the file.
    #[error("{source}")]
    InWord {
        /// Where the word is in the Dockerfile.
        at: Position,
        /// The instruction the word belongs to, upper-cased.
        instruction: &'static str,
        /// The expansion error.
        source: Box<DockerfileError>,
    },

    /// A quote opened in a word is never closed.
    #[error("column {column} of `{word}`: unterminated {} quote: expected a closing {quote}",
        if *.quote == '\'' { "single" } else { "double" })]
    UnterminatedQuote {
        /// The word being expanded.
        word: String,
        /// 1-based column of the opening quote.
        column: usize,
        /// The quote character.
        quote: char,
    },

    /// `${` without the closing `}` (or `${name/pattern` without the second `/`).
    #[error(
        "column {column} of `{word}`: unterminated variable substitution: expected `{expected}`"
    )]
    UnterminatedSubstitution {
        /// The word being expanded.
        word: String,
        /// 1-based column of the `$`.
        column: usize,
        /// The character that was expected.
        expected: char,
    },

    /// `${}`, `${:...}` or `${{...}`.
    #[error("column {column} of `{word}`: bad substitution: expected a variable name after `${{`")]
    BadSubstitution {
        /// The word being expanded.
        word: String,
        /// 1-based column of the `$`.
        column: usize,
    },

    /// `${name<modifier>...}` with a modifier BuildKit does not support.
    #[error(
        "column {column} of `{word}`: unsupported modifier `{modifier}` in substitution: expected one of `}}`, `:-`, `-`, `:+`, `+`, `:?`, `?`, `#`, `##`, `%`, `%%`, `/`, `//`"
    )]
    UnsupportedModifier {
        /// The word being expanded.
        word: String,
        /// 1-based column of the modifier.
        column: usize,
        /// The modifier as written.
        modifier: String,
    },

    /// `${name?message}` or `${name:?message}` with the variable unset (or empty).
    #[error("`{word}`: {name}: {message}")]
    RequiredVariable {
        /// The word being expanded.
        word: String,
        /// The variable's name.
        name: String,
        /// The message given in the word, or a default one.
        message: String,
    },

    /// A pattern in `${name#pattern}`, `${name%pattern}` or `${name/pattern/...}` that does
    /// not parse.
    #[error("`{word}`: invalid pattern `{pattern}` in substitution: {reason}")]
    InvalidPattern {
        /// The word being expanded.
        word: String,
        /// The pattern.
        pattern: String,
        /// What was wrong and what was expected.
        reason: String,
    },

    /// A word expands to more than [`crate::ExpansionLimits::max_word_bytes`].
    #[error(
        "`{word}`: expands to more than {} (bld's limit for one expanded word): expected smaller variable values",
        byte_size(*.limit as u64)
    )]
    WordTooLarge {
        /// The word being expanded (its start, when long).
        word: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// All the expansions of one Dockerfile together did more work than
    /// [`crate::ExpansionLimits::max_total_work`] allows.
    #[error(
        "`{word}`: word expansion exceeds bld's budget of {} for one Dockerfile (bytes produced plus pattern-matching steps): expected fewer or smaller variable expansions",
        byte_size(*.limit)
    )]
    ExpansionBudgetExceeded {
        /// The word being expanded when the budget ran out (its start, when long).
        word: String,
        /// The budget.
        limit: u64,
    },

    /// `${...}` substitutions nested deeper than [`crate::ExpansionLimits::max_nesting`].
    #[error(
        "column {column} of `{word}`: substitutions nest more than {limit} deep: expected at most {limit} levels of `${{...}}` inside one another"
    )]
    NestingTooDeep {
        /// The word being expanded (its start, when long).
        word: String,
        /// 1-based column of the `$` that went too deep.
        column: usize,
        /// The limit.
        limit: usize,
    },
}

/// `word` cut to its first 60 characters (with `…`), for messages about words too large to
/// quote whole.
pub(crate) fn abbreviated(word: &str) -> String {
    const SHOWN: usize = 60;
    match word.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &word[..end]),
        None => word.to_owned(),
    }
}

/// `bytes` as the largest whole binary unit it is a multiple of (`1 MiB`), else in bytes.
pub(crate) fn byte_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

impl DockerfileError {
    /// The position in the Dockerfile this error refers to, if it has one. Errors of word
    /// expansion outside a Dockerfile have none.
    pub fn position(&self) -> Option<Position> {
        use DockerfileError::*;
        match self {
            UnknownInstruction { at, .. }
            | NoInstructions { at }
            | DuplicateDirective { at, .. }
            | InvalidEscapeCharacter { at, .. }
            | MissingArguments { at, .. }
            | InvalidArguments { at, .. }
            | NotStringArray { at, .. }
            | JsonFormRequired { at, .. }
            | UnterminatedHeredoc { at, .. }
            | MisplacedHeredoc { at, .. }
            | UnknownFlag { at, .. }
            | DuplicateFlag { at, .. }
            | InvalidFlagValue { at, .. }
            | InvalidMount { at, .. }
            | InvalidStageName { at, .. }
            | InvalidOnbuildTrigger { at, .. }
            | InstructionBeforeFrom { at, .. }
            | NoStages { at }
            | InWord { at, .. } => Some(*at),
            UnterminatedQuote { .. }
            | UnterminatedSubstitution { .. }
            | BadSubstitution { .. }
            | UnsupportedModifier { .. }
            | RequiredVariable { .. }
            | InvalidPattern { .. }
            | WordTooLarge { .. }
            | ExpansionBudgetExceeded { .. }
            | NestingTooDeep { .. } => None,
        }
    }

    /// The instruction the error is about (`COPY`), if it is about one.
    pub fn instruction(&self) -> Option<&'static str> {
        use DockerfileError::*;
        match self {
            MissingArguments { instruction, .. }
            | InvalidArguments { instruction, .. }
            | NotStringArray { instruction, .. }
            | JsonFormRequired { instruction, .. }
            | UnterminatedHeredoc { instruction, .. }
            | MisplacedHeredoc { instruction, .. }
            | UnknownFlag { instruction, .. }
            | DuplicateFlag { instruction, .. }
            | InvalidFlagValue { instruction, .. }
            | InstructionBeforeFrom { instruction, .. }
            | InWord { instruction, .. } => Some(instruction),
            InvalidMount { .. } => Some("RUN"),
            InvalidStageName { .. } => Some("FROM"),
            InvalidOnbuildTrigger { .. } => Some("ONBUILD"),
            UnknownInstruction { .. }
            | NoInstructions { .. }
            | DuplicateDirective { .. }
            | InvalidEscapeCharacter { .. }
            | NoStages { .. }
            | UnterminatedQuote { .. }
            | UnterminatedSubstitution { .. }
            | BadSubstitution { .. }
            | UnsupportedModifier { .. }
            | RequiredVariable { .. }
            | InvalidPattern { .. }
            | WordTooLarge { .. }
            | ExpansionBudgetExceeded { .. }
            | NestingTooDeep { .. } => None,
        }
    }

    /// The place in `source` (the Dockerfile's text, which messages call `file`) this error is
    /// about, marking the offending word (an unknown instruction, a flag) or else the rest of
    /// the line; `None` for word-expansion errors outside a Dockerfile.
    pub fn location(&self, file: &str, source: &str) -> Option<Location> {
        use DockerfileError::*;
        let at = self.position()?;
        let width = match self {
            UnknownInstruction { found, .. } => Some(found.chars().count()),
            UnknownFlag { flag, .. } | DuplicateFlag { flag, .. } => Some(flag.chars().count() + 2),
            _ => None,
        };
        Some(match width {
            Some(width) => Location::in_text(file, source, at.line, at.column, width),
            None => Location::to_line_end(file, source, at.line, at.column),
        })
    }

    /// Attaches a Dockerfile position (in `instruction`) to a word-expansion error; errors
    /// that already have a position are returned unchanged.
    pub fn located_at(self, at: Position, instruction: crate::Keyword) -> DockerfileError {
        if self.position().is_some() {
            self
        } else {
            DockerfileError::InWord {
                at,
                instruction: instruction.name(),
                source: Box::new(self),
            }
        }
    }
}

/// `line:column: INSTRUCTION: message`, the one rendering of an error, without a file name.
#[cfg(test)]
pub(crate) fn rendered(error: &DockerfileError) -> String {
    let at = error
        .position()
        .map(|at| format!("{at}: "))
        .unwrap_or_default();
    let instruction = error
        .instruction()
        .map(|name| format!("{name}: "))
        .unwrap_or_default();
    format!("{at}{instruction}{error}")
}

impl Classify for DockerfileError {
    fn kind(&self) -> ErrorKind {
        // Every error here is about the Dockerfile's text: the user's to fix.
        ErrorKind::User
    }
}
