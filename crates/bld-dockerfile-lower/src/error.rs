//! [`LowerError`], the one error of lowering, and how lowering code names the place of a
//! problem: a [`Problem`] says what is wrong and which word of the instruction it is about,
//! a [`Site`] (the instruction in its file) turns it into a located error.

use std::fmt;

use bld_core::{Classify, ErrorKind, Location};
use bld_dockerfile::{DockerfileError, Keyword, LocatedInstruction};

/// A Dockerfile that cannot be turned into actions: where (`app/Dockerfile:3:6`), in which
/// instruction, what is wrong, and whose it is to fix. Shown as
/// ``Dockerfile:3:6: COPY: source `missing.txt` not found: …``; the CLI shows the line under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerError {
    /// The Dockerfile, as messages name it (`app/Dockerfile`).
    pub file: String,
    /// Where in it, unless the error is about the whole file (an unknown `--target`); boxed,
    /// so that results carrying the error stay small.
    pub location: Option<Box<Location>>,
    /// The instruction concerned, if any.
    pub instruction: Option<Keyword>,
    /// What is wrong and what was expected.
    pub message: String,
    /// The user's to fix, or a fault of bld.
    pub kind: ErrorKind,
}

impl LowerError {
    /// A parse error of `text`, the Dockerfile `file`.
    pub fn parse(file: &str, text: &str, error: &DockerfileError) -> LowerError {
        LowerError {
            file: file.to_owned(),
            location: error.location(file, text).map(Box::new),
            instruction: error.instruction().and_then(Keyword::parse),
            message: error.to_string(),
            kind: ErrorKind::User,
        }
    }

    /// A user error about the whole Dockerfile `file`, not a place in it.
    pub(crate) fn whole_file(file: &str, message: String) -> LowerError {
        LowerError {
            file: file.to_owned(),
            location: None,
            instruction: None,
            message,
            kind: ErrorKind::User,
        }
    }
}

impl fmt::Display for LowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: ")?,
            None => write!(f, "{}: ", self.file)?,
        }
        if let Some(instruction) = self.instruction {
            write!(f, "{instruction}: ")?;
        }
        if self.kind == ErrorKind::Internal {
            f.write_str("internal: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LowerError {}

impl Classify for LowerError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }

    fn location(&self) -> Option<&Location> {
        self.location.as_deref()
    }
}

/// The part of an instruction a problem is about, which the error's column points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Focus {
    /// The instruction as a whole: its keyword, the rest of the line marked.
    Instruction,
    /// An argument, as written (a `COPY` source).
    Argument(String),
    /// A flag, by name (`from` for `--from=…`).
    Flag(&'static str),
}

/// What is wrong with an instruction, before it is placed in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) message: String,
    pub(crate) focus: Focus,
    pub(crate) kind: ErrorKind,
}

impl Problem {
    /// The user's mistake, about the instruction as a whole.
    pub(crate) fn user(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            focus: Focus::Instruction,
            kind: ErrorKind::User,
        }
    }

    /// A broken invariant of lowering.
    pub(crate) fn internal(message: impl Into<String>) -> Problem {
        Problem {
            kind: ErrorKind::Internal,
            ..Problem::user(message)
        }
    }

    /// The same problem, about the argument written as `word`.
    pub(crate) fn at_argument(self, word: &str) -> Problem {
        Problem {
            focus: Focus::Argument(word.to_owned()),
            ..self
        }
    }

    /// The same problem, about the flag `--name`.
    pub(crate) fn at_flag(self, name: &'static str) -> Problem {
        Problem {
            focus: Focus::Flag(name),
            ..self
        }
    }
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem::user(message)
    }
}

/// An instruction in its Dockerfile: where problems found while lowering it are.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    /// The Dockerfile as messages name it.
    pub(crate) file: &'a str,
    /// Its text.
    pub(crate) text: &'a str,
    /// The instruction.
    pub(crate) located: &'a LocatedInstruction,
}

impl Site<'_> {
    /// `problem`, located at the word it is about (the instruction when that word is not
    /// found).
    pub(crate) fn error(&self, problem: Problem) -> LowerError {
        let located = self.located;
        let word = match &problem.focus {
            Focus::Instruction => None,
            Focus::Argument(word) => located
                .argument_position(word)
                .map(|at| (at, word.chars().count())),
            Focus::Flag(name) => located
                .flag(name)
                .map(|(written, at)| (at, written.chars().count())),
        };
        let location = match word {
            Some((at, width)) => Location::in_text(self.file, self.text, at.line, at.column, width),
            None => Location::to_line_end(
                self.file,
                self.text,
                located.position.line,
                located.position.column,
            ),
        };
        LowerError {
            file: self.file.to_owned(),
            location: Some(Box::new(location)),
            instruction: Some(located.instruction.keyword()),
            message: problem.message,
            kind: problem.kind,
        }
    }

    /// Where the instruction is, marking it to the end of its first line: the origin of the
    /// actions lowered from it (for execution errors and the build log).
    pub(crate) fn location(&self) -> Location {
        let at = self.located.position;
        Location::to_line_end(self.file, self.text, at.line, at.column)
    }

    /// A user error about the instruction as a whole.
    pub(crate) fn fail(&self, message: impl Into<String>) -> LowerError {
        self.error(Problem::user(message))
    }
}
