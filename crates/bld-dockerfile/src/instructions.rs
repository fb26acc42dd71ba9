//! Typed instructions: each [`Node`] checked (arguments, flags) and turned into an
//! [`Instruction`], as BuildKit's `instructions.Parse` does.
//!
//! Values are kept as written in the Dockerfile, before variable expansion: quotes and
//! `$VAR` references are still in them. The fields that BuildKit expands (noted on each
//! field as *expanded*) should be passed through [`crate::ShellLex::process_word`] with the
//! stage's environment by whoever lowers the instructions. Commands in shell form
//! ([`CommandLine::Shell`]) are never expanded here: the shell does it.

mod convert;
mod flags;
mod run_options;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::ast::{Heredoc, Keyword, Node};
use crate::error::{DockerfileError, Position};

pub use run_options::{
    BindMount, CacheMount, CacheSharing, Mount, NetworkMode, SecretMount, SecurityMode, SshMount,
    TmpfsMount, parse_size,
};

/// A command given in shell form or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// `RUN echo hi`: one string, run by the stage's shell (`/bin/sh -c` by default).
    Shell(String),
    /// `RUN ["echo", "hi"]`: the program and its arguments, run directly.
    Exec(Vec<String>),
}

/// A `key=value` pair of `ENV` or `LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key (*expanded*).
    pub key: String,
    /// The value, quotes and escapes still in it (*expanded*).
    pub value: String,
}

/// One variable declared by `ARG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDefinition {
    /// The variable's name.
    pub name: String,
    /// The default value, quotes still in it (*expanded*), if one is given.
    pub default: Option<String>,
}

/// What `HEALTHCHECK` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any health check inherited from the base image.
    Disabled,
    /// `HEALTHCHECK [flags] CMD command`.
    Check {
        /// The test command.
        command: CommandLine,
        /// `--interval`: time between checks.
        interval: Option<Duration>,
        /// `--timeout`: time a check may take.
        timeout: Option<Duration>,
        /// `--start-period`: grace period after start.
        start_period: Option<Duration>,
        /// `--start-interval`: time between checks during the start period.
        start_interval: Option<Duration>,
        /// `--retries`: consecutive failures before unhealthy.
        retries: Option<u32>,
    },
}

/// A checked Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM [--platform=...] image [AS name]`: starts a stage.
    From {
        /// The base image or stage name (*expanded* with the global ARGs only).
        image: String,
        /// The stage's name, lower-cased, if given with `AS`.
        name: Option<String>,
        /// `--platform` (*expanded* with the global ARGs only).
        platform: Option<String>,
    },
    /// `RUN`: runs a command.
    Run {
        /// The command.
        command: CommandLine,
        /// Heredocs attached to the command (content chomped when `<<-`).
        heredocs: Vec<Heredoc>,
        /// `--mount` specifications, in order.
        mounts: Vec<Mount>,
        /// `--network`.
        network: Option<NetworkMode>,
        /// `--security`.
        security: Option<SecurityMode>,
    },
    /// `CMD`: the image's default command.
    Cmd {
        /// The command; `Shell("")` when `CMD` has no arguments.
        command: CommandLine,
    },
    /// `LABEL`: image labels.
    Label {
        /// The labels, in order.
        labels: Vec<KeyValue>,
    },
    /// `MAINTAINER` (deprecated): the image's author.
    Maintainer {
        /// The text given.
        name: String,
    },
    /// `EXPOSE`: ports the container listens on.
    Expose {
        /// The ports as written, such as `80`, `53/udp` (*expanded*).
        ports: Vec<String>,
    },
    /// `ENV`: environment variables.
    Env {
        /// The variables, in order.
        variables: Vec<KeyValue>,
    },
    /// `ADD`: copies files, URLs, archives or git repositories.
    Add {
        /// Source paths or URLs (*expanded*), heredoc markers excluded.
        sources: Vec<String>,
        /// Heredocs used as sources (content chomped when `<<-`).
        heredocs: Vec<Heredoc>,
        /// The destination (*expanded*).
        dest: String,
        /// `--chown` (*expanded*).
        chown: Option<String>,
        /// `--chmod` (*expanded*).
        chmod: Option<String>,
        /// `--link`.
        link: bool,
        /// `--keep-git-dir`.
        keep_git_dir: bool,
        /// `--checksum` (*expanded*).
        checksum: Option<String>,
        /// `--exclude` patterns (*expanded*).
        exclude: Vec<String>,
        /// `--unpack`, if given.
        unpack: Option<bool>,
        /// Whether the arguments were given in JSON form.
        json: bool,
    },
    /// `COPY`: copies files from the context or another stage.
    Copy {
        /// Source paths (*expanded*), heredoc markers excluded.
        sources: Vec<String>,
        /// Heredocs used as sources (content chomped when `<<-`).
        heredocs: Vec<Heredoc>,
        /// The destination (*expanded*).
        dest: String,
        /// `--from`: a stage, image or named context.
        from: Option<String>,
        /// `--chown` (*expanded*).
        chown: Option<String>,
        /// `--chmod` (*expanded*).
        chmod: Option<String>,
        /// `--link`.
        link: bool,
        /// `--parents`.
        parents: bool,
        /// `--exclude` patterns (*expanded*).
        exclude: Vec<String>,
        /// Whether the arguments were given in JSON form.
        json: bool,
    },
    /// `ENTRYPOINT`: the image's entry point.
    Entrypoint {
        /// The command; `Exec(vec![])` for `ENTRYPOINT []`.
        command: CommandLine,
    },
    /// `VOLUME`: mount points.
    Volume {
        /// The paths (*expanded*).
        paths: Vec<String>,
    },
    /// `USER`: the user (and group) to run as.
    User {
        /// `user[:group]` (*expanded*).
        user: String,
    },
    /// `WORKDIR`: the working directory.
    Workdir {
        /// The path (*expanded*).
        path: String,
    },
    /// `ARG`: build arguments.
    Arg {
        /// The arguments declared, in order.
        args: Vec<ArgDefinition>,
    },
    /// `ONBUILD`: an instruction recorded for images built from this one.
    Onbuild {
        /// The instruction to run later, checked now.
        trigger: Box<Instruction>,
        /// The trigger's text as written (what goes into the image config).
        expression: String,
    },
    /// `STOPSIGNAL`: the signal that stops the container.
    StopSignal {
        /// The signal, as a name (`SIGTERM`) or number (*expanded*).
        signal: String,
    },
    /// `HEALTHCHECK`: the container's health check.
    Healthcheck(Healthcheck),
    /// `SHELL`: the shell for shell-form commands.
    Shell {
        /// The shell and its arguments, such as `["/bin/bash", "-c"]`.
        shell: Vec<String>,
    },
}

impl Instruction {
    /// Checks a node's arguments and flags and builds the typed instruction.
    pub fn from_node(node: &Node) -> Result<Instruction, DockerfileError> {
        convert::instruction_from_node(node)
    }

    /// The instruction's keyword.
    pub fn keyword(&self) -> Keyword {
        match self {
            Instruction::From { .. } => Keyword::From,
            Instruction::Run { .. } => Keyword::Run,
            Instruction::Cmd { .. } => Keyword::Cmd,
            Instruction::Label { .. } => Keyword::Label,
            Instruction::Maintainer { .. } => Keyword::Maintainer,
            Instruction::Expose { .. } => Keyword::Expose,
            Instruction::Env { .. } => Keyword::Env,
            Instruction::Add { .. } => Keyword::Add,
            Instruction::Copy { .. } => Keyword::Copy,
            Instruction::Entrypoint { .. } => Keyword::Entrypoint,
            Instruction::Volume { .. } => Keyword::Volume,
            Instruction::User { .. } => Keyword::User,
            Instruction::Workdir { .. } => Keyword::Workdir,
            Instruction::Arg { .. } => Keyword::Arg,
            Instruction::Onbuild { .. } => Keyword::Onbuild,
            Instruction::StopSignal { .. } => Keyword::StopSignal,
            Instruction::Healthcheck(_) => Keyword::Healthcheck,
            Instruction::Shell { .. } => Keyword::Shell,
        }
    }
}

/// An instruction with where it is in the Dockerfile: the lines it spans, and where its
/// keyword, flags and arguments start (for errors that point at the offending word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedInstruction {
    /// The instruction.
    pub instruction: Instruction,
    /// 1-based first line.
    pub start_line: usize,
    /// 1-based last line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// Where the keyword starts.
    pub position: Position,
    /// The flags as written (`--from=build`), each with where it starts.
    pub flags: Vec<(String, Position)>,
    /// The arguments as the parser split them (quotes kept), each with where it starts; the
    /// arguments' start for a word not found as written (a JSON-form string with escapes).
    pub arguments: Vec<(String, Position)>,
}

impl LocatedInstruction {
    /// Checks `node` and keeps its positions.
    pub fn from_node(node: &Node) -> Result<LocatedInstruction, DockerfileError> {
        let flags = node
            .flags
            .iter()
            .enumerate()
            .map(|(index, flag)| (flag.clone(), node.flag_position(index)))
            .collect();
        let mut arguments = Vec::new();
        let mut cursor = node.args_offset.min(node.original.len());
        for word in &node.args {
            let found = node
                .original
                .get(cursor..)
                .and_then(|rest| rest.find(word.as_str()))
                .filter(|_| !word.is_empty());
            let at = match found {
                Some(offset) => {
                    cursor += offset + word.len();
                    node.position_of(cursor - word.len())
                }
                None => node.arguments_position(),
            };
            arguments.push((word.clone(), at));
        }
        Ok(LocatedInstruction {
            instruction: Instruction::from_node(node)?,
            start_line: node.start_line,
            end_line: node.end_line,
            position: node.position(),
            flags,
            arguments,
        })
    }

    /// An instruction that does not come from the text as such (an `ONBUILD` trigger run by
    /// a stage built on the image), placed at `position`, with no words to point at.
    pub fn placed_at(instruction: Instruction, position: Position) -> LocatedInstruction {
        LocatedInstruction {
            instruction,
            start_line: position.line,
            end_line: position.line,
            position,
            flags: Vec::new(),
            arguments: Vec::new(),
        }
    }

    /// Where the argument written as `word` starts, if the instruction has one.
    pub fn argument_position(&self, word: &str) -> Option<Position> {
        self.arguments
            .iter()
            .find(|(written, _)| written == word)
            .map(|(_, at)| *at)
    }

    /// The flag `--name` as written (`--from=build`) and where it starts, if given.
    pub fn flag(&self, name: &str) -> Option<(&str, Position)> {
        self.flags.iter().find_map(|(written, at)| {
            let rest = written.strip_prefix("--")?.strip_prefix(name)?;
            (rest.is_empty() || rest.starts_with('=')).then_some((written.as_str(), *at))
        })
    }
}
