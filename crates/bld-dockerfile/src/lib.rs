//! Dockerfile parsing for bld: text → syntax tree → typed instructions → stages, plus the
//! word expansion Dockerfile instructions use.
//!
//! The behaviour follows BuildKit's Dockerfile frontend (`parser`, `instructions` and
//! `shell` packages) and is checked against BuildKit's own test data.
//!
//! ```
//! let dockerfile = bld_dockerfile::parse("FROM alpine AS base\nRUN echo hi\n")?;
//! assert_eq!(dockerfile.dump(), "(from \"alpine\" \"AS\" \"base\")\n(run \"echo hi\")\n");
//! let stages = bld_dockerfile::stages(&dockerfile)?;
//! assert_eq!(stages[0].name.as_deref(), Some("base"));
//! # Ok::<(), bld_dockerfile::DockerfileError>(())
//! ```
//!
//! - [`parse`] builds a [`Dockerfile`] of [`Node`]s: continuations joined, comments and
//!   parser directives handled, arguments split per instruction, heredocs attached.
//! - [`Instruction::from_node`] (or [`Dockerfile::instructions`]) checks flags and
//!   arguments and gives typed [`Instruction`]s; [`stages`] groups them by `FROM`.
//! - [`ShellLex`] expands `$VAR`/`${VAR...}` and removes quotes, for the lowering step.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
pub mod context;
mod error;
pub mod instructions;
mod parser;
pub mod shell;
mod stage;

pub use ast::{Directive, Dockerfile, Heredoc, Keyword, Node, Warning};
pub use error::{DockerfileError, Position};
pub use instructions::{CommandLine, Instruction, LocatedInstruction};
pub use parser::{parse, parse_heredoc_marker};
pub use shell::{Environment, ShellLex};
pub use stage::{Stage, stages};
