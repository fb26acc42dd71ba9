//! Node → [`Instruction`]: argument counts, flags and forms checked per instruction.

use std::time::Duration;

use super::flags::{FlagKind, Flags, parse_go_duration};
use super::{
    ArgDefinition, CommandLine, Healthcheck, Instruction, KeyValue, Mount, NetworkMode,
    SecurityMode,
};
use crate::ast::{Heredoc, Keyword, Node};
use crate::error::DockerfileError;
use crate::parser::parse_heredoc_marker;
use crate::shell::EmptyEnvironment;

pub(super) fn instruction_from_node(node: &Node) -> Result<Instruction, DockerfileError> {
    match node.keyword {
        Keyword::From => from(node),
        Keyword::Run => run(node),
        Keyword::Cmd => {
            no_flags(node)?;
            Ok(Instruction::Cmd {
                command: command_line(node),
            })
        }
        Keyword::Entrypoint => {
            no_flags(node)?;
            Ok(Instruction::Entrypoint {
                command: command_line(node),
            })
        }
        Keyword::Label => {
            no_flags(node)?;
            Ok(Instruction::Label {
                labels: key_values(node)?,
            })
        }
        Keyword::Env => {
            no_flags(node)?;
            Ok(Instruction::Env {
                variables: key_values(node)?,
            })
        }
        Keyword::Maintainer => Ok(Instruction::Maintainer {
            name: single_argument(node, "a name")?,
        }),
        Keyword::User => Ok(Instruction::User {
            user: single_argument(node, "a user: `USER name[:group]`")?,
        }),
        Keyword::Workdir => Ok(Instruction::Workdir {
            path: single_argument(node, "a path")?,
        }),
        Keyword::StopSignal => Ok(Instruction::StopSignal {
            signal: single_argument(node, "a signal such as SIGTERM or 15")?,
        }),
        Keyword::Expose => {
            no_flags(node)?;
            at_least_one(node, "one or more ports such as 80 or 53/udp")?;
            Ok(Instruction::Expose {
                ports: node.args.clone(),
            })
        }
        Keyword::Volume => volume(node),
        Keyword::Arg => arg(node),
        Keyword::Onbuild => onbuild(node),
        Keyword::Healthcheck => healthcheck(node),
        Keyword::Shell => shell(node),
        Keyword::Add => add(node),
        Keyword::Copy => copy(node),
    }
}

fn no_flags(node: &Node) -> Result<Flags, DockerfileError> {
    Flags::parse(node, node.keyword.name(), &[])
}

fn at_least_one(node: &Node, expected: &'static str) -> Result<(), DockerfileError> {
    if node.args.is_empty() {
        return Err(missing(node, expected));
    }
    Ok(())
}

fn missing(node: &Node, expected: &'static str) -> DockerfileError {
    DockerfileError::MissingArguments {
        at: node.arguments_position(),
        instruction: node.keyword.name(),
        expected,
    }
}

fn invalid(node: &Node, found: impl Into<String>, expected: impl Into<String>) -> DockerfileError {
    DockerfileError::InvalidArguments {
        at: node.arguments_position(),
        instruction: node.keyword.name(),
        found: found.into(),
        expected: expected.into(),
    }
}

fn single_argument(node: &Node, expected: &'static str) -> Result<String, DockerfileError> {
    no_flags(node)?;
    match node.args.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(missing(node, expected)),
        more => Err(invalid(node, more.join(" "), expected)),
    }
}

/// The command of RUN/CMD/ENTRYPOINT: exec form for JSON, else the shell-form text.
fn command_line(node: &Node) -> CommandLine {
    if node.json {
        CommandLine::Exec(node.args.clone())
    } else {
        CommandLine::Shell(node.args.join(" "))
    }
}

fn from(node: &Node) -> Result<Instruction, DockerfileError> {
    let flags = Flags::parse(node, "FROM", &[("platform", FlagKind::Single)])?;
    let (image, name) = match node.args.as_slice() {
        [image] => (image.clone(), None),
        [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            let mut chars = lower.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(DockerfileError::InvalidStageName {
                    at: node.arguments_position(),
                    name: name.clone(),
                });
            }
            (image.clone(), Some(lower))
        }
        [] => return Err(missing(node, "an image: `FROM image [AS name]`")),
        more => {
            return Err(invalid(
                node,
                more.join(" "),
                "`FROM image` or `FROM image AS name`",
            ));
        }
    };
    Ok(Instruction::From {
        image,
        name,
        platform: flags.single("platform"),
    })
}

fn chomped(heredoc: &Heredoc) -> Heredoc {
    Heredoc {
        content: heredoc.chomped_content(),
        ..heredoc.clone()
    }
}

fn run(node: &Node) -> Result<Instruction, DockerfileError> {
    let flags = Flags::parse(
        node,
        "RUN",
        &[
            ("mount", FlagKind::Repeated),
            ("network", FlagKind::Single),
            ("security", FlagKind::Single),
        ],
    )?;
    let mut mounts = Vec::new();
    for (spec, at) in flags.repeated("mount") {
        let mount = Mount::parse(&spec).map_err(|reason| DockerfileError::InvalidMount {
            at,
            spec: spec.clone(),
            reason,
        })?;
        mounts.push(mount);
    }
    let flag_error =
        |flag: &str, value: String, expected: &str| DockerfileError::InvalidFlagValue {
            at: flags.position(flag).unwrap_or_else(|| node.position()),
            instruction: "RUN",
            flag: flag.to_owned(),
            value,
            expected: expected.to_owned(),
        };
    let network = match flags.single("network") {
        None => None,
        Some(value) => Some(
            NetworkMode::parse(&value)
                .ok_or_else(|| flag_error("network", value, "default, none or host"))?,
        ),
    };
    let security = match flags.single("security") {
        None => None,
        Some(value) => Some(
            SecurityMode::parse(&value)
                .ok_or_else(|| flag_error("security", value, "sandbox or insecure"))?,
        ),
    };
    if node.args.is_empty() {
        return Err(missing(
            node,
            "a command: `RUN command` or `RUN [\"executable\", \"arg\"]`",
        ));
    }
    Ok(Instruction::Run {
        command: command_line(node),
        heredocs: node.heredocs.iter().map(chomped).collect(),
        mounts,
        network,
        security,
    })
}

/// Checks that `word` would expand (quotes closed, substitutions well formed), so such
/// mistakes are reported with a position now rather than when the word is expanded.
fn check_expandable(node: &Node, word: &str) -> Result<(), DockerfileError> {
    let mut lex = node.shell_lex();
    lex.skip_unset_env = true;
    lex.process_word(word, &EmptyEnvironment)
        .map(drop)
        .map_err(|error| error.located_at(node.arguments_position(), node.keyword))
}

fn key_values(node: &Node) -> Result<Vec<KeyValue>, DockerfileError> {
    let instruction = node.keyword.name();
    if node.args.is_empty() {
        return Err(missing(node, "one or more NAME=value pairs"));
    }
    node.args
        .chunks(3)
        .map(|triple| match triple {
            [key, _, _] if key.is_empty() => Err(invalid(
                node,
                format!("={}", triple[1]),
                format!("{instruction} names to not be blank"),
            )),
            [key, value, _] => {
                check_expandable(node, key)?;
                check_expandable(node, value)?;
                Ok(KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                })
            }
            _ => Err(invalid(node, triple.join(" "), "NAME=value pairs")),
        })
        .collect()
}

fn volume(node: &Node) -> Result<Instruction, DockerfileError> {
    no_flags(node)?;
    at_least_one(node, "one or more paths")?;
    let mut paths = Vec::with_capacity(node.args.len());
    for path in &node.args {
        let path = path.trim();
        if path.is_empty() {
            return Err(invalid(node, "\"\"", "non-empty paths"));
        }
        paths.push(path.to_owned());
    }
    Ok(Instruction::Volume { paths })
}

fn arg(node: &Node) -> Result<Instruction, DockerfileError> {
    no_flags(node)?;
    at_least_one(
        node,
        "one or more names, each with an optional default: `ARG NAME[=default]`",
    )?;
    let mut args = Vec::with_capacity(node.args.len());
    for word in &node.args {
        let definition = match word.split_once('=') {
            Some(("", _)) => return Err(invalid(node, word.clone(), "ARG names to not be blank")),
            Some((name, default)) => {
                check_expandable(node, default)?;
                ArgDefinition {
                    name: name.to_owned(),
                    default: Some(default.to_owned()),
                }
            }
            None => ArgDefinition {
                name: word.clone(),
                default: None,
            },
        };
        args.push(definition);
    }
    Ok(Instruction::Arg { args })
}

fn onbuild(node: &Node) -> Result<Instruction, DockerfileError> {
    no_flags(node)?;
    let Some(trigger) = node.trigger.as_deref() else {
        return Err(missing(
            node,
            "an instruction to run later: `ONBUILD RUN ...`",
        ));
    };
    if matches!(
        trigger.keyword,
        Keyword::Onbuild | Keyword::From | Keyword::Maintainer
    ) {
        return Err(DockerfileError::InvalidOnbuildTrigger {
            at: trigger.position(),
            trigger: trigger.keyword.name(),
        });
    }
    let mut expression = trigger.original.trim().to_owned();
    for heredoc in &trigger.heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    Ok(Instruction::Onbuild {
        trigger: Box::new(instruction_from_node(trigger)?),
        expression,
    })
}

fn healthcheck(node: &Node) -> Result<Instruction, DockerfileError> {
    let Some((kind, command)) = node.args.split_first() else {
        return Err(missing(node, "NONE or CMD followed by a command"));
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !command.is_empty() {
                return Err(invalid(
                    node,
                    command.join(" "),
                    "nothing after HEALTHCHECK NONE",
                ));
            }
            Ok(Instruction::Healthcheck(Healthcheck::Disabled))
        }
        "CMD" => {
            let flags = Flags::parse(
                node,
                "HEALTHCHECK",
                &[
                    ("interval", FlagKind::Single),
                    ("timeout", FlagKind::Single),
                    ("start-period", FlagKind::Single),
                    ("start-interval", FlagKind::Single),
                    ("retries", FlagKind::Single),
                ],
            )?;
            if command.is_empty() {
                return Err(missing(node, "a command after HEALTHCHECK CMD"));
            }
            let command = if node.json {
                CommandLine::Exec(command.to_vec())
            } else {
                CommandLine::Shell(command.join(" "))
            };
            let retries = match flags.single("retries") {
                None => None,
                Some(value) => Some(value.parse::<u32>().map_err(|_| {
                    health_flag_error(node, &flags, "retries", value, "a number of 0 or more")
                })?),
            };
            Ok(Instruction::Healthcheck(Healthcheck::Check {
                command,
                interval: health_duration(node, &flags, "interval")?,
                timeout: health_duration(node, &flags, "timeout")?,
                start_period: health_duration(node, &flags, "start-period")?,
                start_interval: health_duration(node, &flags, "start-interval")?,
                retries,
            }))
        }
        _ => Err(invalid(
            node,
            kind.clone(),
            "HEALTHCHECK CMD ... or HEALTHCHECK NONE",
        )),
    }
}

fn health_flag_error(
    node: &Node,
    flags: &Flags,
    flag: &str,
    value: String,
    expected: &str,
) -> DockerfileError {
    DockerfileError::InvalidFlagValue {
        at: flags.position(flag).unwrap_or_else(|| node.position()),
        instruction: "HEALTHCHECK",
        flag: flag.to_owned(),
        value,
        expected: expected.to_owned(),
    }
}

/// A duration flag: a Go duration that is 0 or at least one millisecond.
fn health_duration(
    node: &Node,
    flags: &Flags,
    flag: &str,
) -> Result<Option<Duration>, DockerfileError> {
    let Some(value) = flags.single(flag) else {
        return Ok(None);
    };
    match parse_go_duration(&value) {
        Some(duration) if duration.is_zero() || duration >= Duration::from_millis(1) => {
            Ok(Some(duration))
        }
        _ => Err(health_flag_error(
            node,
            flags,
            flag,
            value,
            "a duration of 0 or at least 1ms, such as 30s or 1m30s",
        )),
    }
}

fn shell(node: &Node) -> Result<Instruction, DockerfileError> {
    no_flags(node)?;
    if !node.json {
        return Err(DockerfileError::JsonFormRequired {
            at: node.arguments_position(),
            instruction: "SHELL",
            found: node.args.join(" "),
        });
    }
    at_least_one(
        node,
        "the shell and its arguments, such as [\"/bin/sh\", \"-c\"]",
    )?;
    Ok(Instruction::Shell {
        shell: node.args.clone(),
    })
}

/// The sources (heredocs set apart) and the destination of COPY/ADD.
fn sources_and_dest(node: &Node) -> Result<(Vec<String>, Vec<Heredoc>, String), DockerfileError> {
    let Some((dest, sources)) = node
        .args
        .split_last()
        .filter(|(_, sources)| !sources.is_empty())
    else {
        return Err(missing(node, "one or more sources and a destination"));
    };
    let at = node.arguments_position();
    let marker =
        |word: &str| parse_heredoc_marker(word).map_err(|error| error.located_at(at, node.keyword));
    if marker(dest)?.is_some() {
        return Err(DockerfileError::MisplacedHeredoc {
            at,
            instruction: node.keyword.name(),
            role: "the destination",
        });
    }
    let mut paths = Vec::new();
    let mut heredocs = Vec::new();
    for source in sources {
        match marker(source)? {
            Some(found) => {
                let attached = node
                    .heredocs
                    .iter()
                    .find(|heredoc| heredoc.name == found.name);
                heredocs.push(chomped(attached.unwrap_or(&found)));
            }
            None => paths.push(source.clone()),
        }
    }
    Ok((paths, heredocs, dest.clone()))
}

fn copy(node: &Node) -> Result<Instruction, DockerfileError> {
    let flags = Flags::parse(
        node,
        "COPY",
        &[
            ("from", FlagKind::Single),
            ("chown", FlagKind::Single),
            ("chmod", FlagKind::Single),
            ("link", FlagKind::Bool),
            ("parents", FlagKind::Bool),
            ("exclude", FlagKind::Repeated),
        ],
    )?;
    let (sources, heredocs, dest) = sources_and_dest(node)?;
    Ok(Instruction::Copy {
        sources,
        heredocs,
        dest,
        from: flags.single("from"),
        chown: flags.single("chown"),
        chmod: flags.single("chmod"),
        link: flags.enabled("link"),
        parents: flags.enabled("parents"),
        exclude: flags
            .repeated("exclude")
            .into_iter()
            .map(|(pattern, _)| pattern)
            .collect(),
        json: node.json,
    })
}

fn add(node: &Node) -> Result<Instruction, DockerfileError> {
    let flags = Flags::parse(
        node,
        "ADD",
        &[
            ("chown", FlagKind::Single),
            ("chmod", FlagKind::Single),
            ("checksum", FlagKind::Single),
            ("link", FlagKind::Bool),
            ("keep-git-dir", FlagKind::Bool),
            ("unpack", FlagKind::Bool),
            ("exclude", FlagKind::Repeated),
        ],
    )?;
    let (sources, heredocs, dest) = sources_and_dest(node)?;
    Ok(Instruction::Add {
        sources,
        heredocs,
        dest,
        chown: flags.single("chown"),
        chmod: flags.single("chmod"),
        link: flags.enabled("link"),
        keep_git_dir: flags.enabled("keep-git-dir"),
        checksum: flags.single("checksum"),
        exclude: flags
            .repeated("exclude")
            .into_iter()
            .map(|(pattern, _)| pattern)
            .collect(),
        unpack: flags.bool_if_given("unpack"),
        json: node.json,
    })
}
