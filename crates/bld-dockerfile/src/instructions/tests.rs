//! Typed instruction and stage tests.

use std::time::Duration;

use super::*;
use crate::error::Position;
use crate::{parse, stages};

fn instructions(text: &str) -> Vec<Instruction> {
    parse(text)
        .expect("parses")
        .instructions()
        .expect("instructions check")
        .into_iter()
        .map(|located| located.instruction)
        .collect()
}

fn instruction_error(text: &str) -> DockerfileError {
    parse(text)
        .expect("parses")
        .instructions()
        .expect_err("instructions should be rejected")
}

#[test]
fn from_with_platform_and_name() {
    let parsed = instructions("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n");
    assert_eq!(
        parsed,
        vec![Instruction::From {
            image: "golang:1.22".into(),
            name: Some("build".into()),
            platform: Some("$BUILDPLATFORM".into()),
        }]
    );
    let error = instruction_error("FROM a AS 1st\n");
    assert!(
        matches!(error, DockerfileError::InvalidStageName { .. }),
        "{error}"
    );
    let error = instruction_error("FROM a b\n");
    assert_eq!(
        crate::error::rendered(&error),
        "1:6: FROM: invalid arguments `a b`: expected `FROM image` or `FROM image AS name`"
    );
}

#[test]
fn run_flags_are_typed() {
    let parsed = instructions(
        "FROM a\nRUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok \
         --network=none --security=insecure [\"make\", \"all\"]\n",
    );
    let Instruction::Run {
        command,
        mounts,
        network,
        security,
        heredocs,
    } = &parsed[1]
    else {
        panic!("expected RUN, got {:?}", parsed[1]);
    };
    assert_eq!(
        command,
        &CommandLine::Exec(vec!["make".into(), "all".into()])
    );
    assert!(matches!(&mounts[0], Mount::Cache(cache) if cache.target == "/root/.cache"));
    assert!(matches!(&mounts[1], Mount::Secret(secret) if secret.id.as_deref() == Some("tok")));
    assert_eq!(
        (*network, *security),
        (Some(NetworkMode::None), Some(SecurityMode::Insecure))
    );
    assert!(heredocs.is_empty());
}

#[test]
fn run_flag_errors_are_located() {
    let error = instruction_error("FROM a\nRUN --netwrk=none true\n");
    assert_eq!(
        crate::error::rendered(&error),
        "2:5: RUN: unknown flag `--netwrk`: expected one of `--mount`, \
         `--network`, `--security`"
    );
    let error = instruction_error("FROM a\nRUN --network=none \\\n    --mount=type=bind true\n");
    assert_eq!(error.position(), Some(Position::new(3, 5)));
    assert!(
        crate::error::rendered(&error).contains("a bind mount needs a target"),
        "{error}"
    );
    let error = instruction_error("FROM a\nRUN --network=fast true\n");
    assert!(
        crate::error::rendered(&error).contains("expected default, none or host"),
        "{error}"
    );
    let error = instruction_error("FROM a\nRUN --network=none --network=host true\n");
    assert!(
        matches!(error, DockerfileError::DuplicateFlag { .. }),
        "{error}"
    );
}

#[test]
fn copy_and_add_flags() {
    let parsed = instructions(
        "FROM a\nCOPY --from=build --chown=1:1 --chmod=644 --link --parents --exclude=*.md \
         --exclude=x a b /dst/\nADD --checksum=sha256:abc --keep-git-dir=true --unpack=false \
         https://example.com/x.tgz /x\n",
    );
    assert_eq!(
        parsed[1],
        Instruction::Copy {
            sources: vec!["a".into(), "b".into()],
            heredocs: vec![],
            dest: "/dst/".into(),
            from: Some("build".into()),
            chown: Some("1:1".into()),
            chmod: Some("644".into()),
            link: true,
            parents: true,
            exclude: vec!["*.md".into(), "x".into()],
            json: false,
        }
    );
    let Instruction::Add {
        checksum,
        keep_git_dir,
        unpack,
        link,
        ..
    } = &parsed[2]
    else {
        panic!("expected ADD");
    };
    assert_eq!(checksum.as_deref(), Some("sha256:abc"));
    assert!(*keep_git_dir && !*link);
    assert_eq!(*unpack, Some(false));

    let error = instruction_error("FROM a\nADD --from=x a b\n");
    assert!(crate::error::rendered(&error).starts_with("2:5: ADD: unknown flag `--from`"));
    let error = instruction_error("FROM a\nCOPY onlyone\n");
    assert!(matches!(
        error,
        DockerfileError::MissingArguments {
            instruction: "COPY",
            ..
        }
    ));
    let error = instruction_error("FROM a\nCOPY --link=maybe a b\n");
    assert!(
        crate::error::rendered(&error).contains("expected `true` or `false`"),
        "{error}"
    );
}

#[test]
fn copy_heredoc_sources() {
    let parsed = instructions("FROM a\nCOPY <<-EOF /etc/motd\n\thello\nEOF\n");
    let Instruction::Copy {
        sources,
        heredocs,
        dest,
        ..
    } = &parsed[1]
    else {
        panic!("expected COPY");
    };
    assert!(sources.is_empty());
    assert_eq!(dest, "/etc/motd");
    assert_eq!(heredocs[0].content, "hello\n");
    let error = instruction_error("FROM a\nCOPY a <<EOF\nx\nEOF\n");
    assert!(
        matches!(error, DockerfileError::MisplacedHeredoc { .. }),
        "{error}"
    );
}

#[test]
fn run_heredoc_script() {
    let parsed = instructions("FROM a\nRUN <<EOF bash\nset -e\necho hi\nEOF\n");
    let Instruction::Run {
        command, heredocs, ..
    } = &parsed[1]
    else {
        panic!("expected RUN");
    };
    assert_eq!(command, &CommandLine::Shell("<<EOF bash".into()));
    assert_eq!(heredocs[0].content, "set -e\necho hi\n");
}

#[test]
fn env_label_arg_values_stay_raw() {
    let parsed = instructions(
        "ARG VERSION=1.0 OTHER\nFROM a\nENV A=\"x y\" B=$A\nENV OLD legacy form\nLABEL k=v\n",
    );
    assert_eq!(
        parsed[0],
        Instruction::Arg {
            args: vec![
                ArgDefinition {
                    name: "VERSION".into(),
                    default: Some("1.0".into())
                },
                ArgDefinition {
                    name: "OTHER".into(),
                    default: None
                },
            ]
        }
    );
    let Instruction::Env { variables } = &parsed[2] else {
        panic!("expected ENV")
    };
    assert_eq!(
        variables[0],
        KeyValue {
            key: "A".into(),
            value: "\"x y\"".into()
        }
    );
    assert_eq!(variables[1].value, "$A");
    let Instruction::Env { variables } = &parsed[3] else {
        panic!("expected ENV")
    };
    assert_eq!(
        variables[0],
        KeyValue {
            key: "OLD".into(),
            value: "legacy form".into()
        }
    );
    let error = instruction_error("FROM a\nENV A=\"open B=2\n");
    assert_eq!(
        crate::error::rendered(&error),
        "2:5: ENV: column 1 of `\"open B=2`: unterminated double quote: expected a \
         closing \""
    );
    let error = instruction_error("FROM a\nARG V=${X\n");
    assert!(
        crate::error::rendered(&error).contains("expected `}`"),
        "{error}"
    );
    let error = instruction_error("FROM a\nARG =x\n");
    assert!(
        crate::error::rendered(&error).contains("ARG names to not be blank"),
        "{error}"
    );
}

#[test]
fn commands_in_both_forms() {
    let parsed =
        instructions("FROM a\nCMD echo $HOME\nENTRYPOINT []\nSHELL [\"/bin/bash\", \"-c\"]\nCMD\n");
    assert_eq!(
        parsed[1],
        Instruction::Cmd {
            command: CommandLine::Shell("echo $HOME".into())
        }
    );
    assert_eq!(
        parsed[2],
        Instruction::Entrypoint {
            command: CommandLine::Exec(vec![])
        }
    );
    assert_eq!(
        parsed[3],
        Instruction::Shell {
            shell: vec!["/bin/bash".into(), "-c".into()]
        }
    );
    assert_eq!(
        parsed[4],
        Instruction::Cmd {
            command: CommandLine::Shell(String::new())
        }
    );
    let error = instruction_error("FROM a\nSHELL /bin/sh -c\n");
    assert!(
        matches!(error, DockerfileError::JsonFormRequired { .. }),
        "{error}"
    );
    let error = instruction_error("FROM a\nCMD --doit [\"a\"]\n");
    assert!(
        crate::error::rendered(&error).contains("expected no flags"),
        "{error}"
    );
}

#[test]
fn healthchecks() {
    let parsed = instructions(
        "FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s --timeout=3s --start-period=1m \
         --start-interval=500ms --retries=3 CMD curl -f http://localhost/\n",
    );
    assert_eq!(parsed[1], Instruction::Healthcheck(Healthcheck::Disabled));
    assert_eq!(
        parsed[2],
        Instruction::Healthcheck(Healthcheck::Check {
            command: CommandLine::Shell("curl -f http://localhost/".into()),
            interval: Some(Duration::from_secs(5)),
            timeout: Some(Duration::from_secs(3)),
            start_period: Some(Duration::from_secs(60)),
            start_interval: Some(Duration::from_millis(500)),
            retries: Some(3),
        })
    );
    let error = instruction_error("FROM a\nHEALTHCHECK CONNECT TCP 7000\n");
    assert!(
        crate::error::rendered(&error).contains("expected HEALTHCHECK CMD ... or HEALTHCHECK NONE")
    );
    let error = instruction_error("FROM a\nHEALTHCHECK --interval=5 CMD true\n");
    assert!(
        crate::error::rendered(&error)
            .starts_with("2:13: HEALTHCHECK: invalid value `5` for `--interval`")
    );
    let error = instruction_error("FROM a\nHEALTHCHECK CMD\n");
    assert!(
        matches!(error, DockerfileError::MissingArguments { .. }),
        "{error}"
    );
}

#[test]
fn onbuild_triggers() {
    let parsed = instructions("FROM a\nONBUILD COPY --from=b . /app\n");
    let Instruction::Onbuild {
        trigger,
        expression,
    } = &parsed[1]
    else {
        panic!("expected ONBUILD");
    };
    assert_eq!(expression, "COPY --from=b . /app");
    assert!(
        matches!(**trigger, Instruction::Copy { ref from, .. } if from.as_deref() == Some("b"))
    );
    let error = instruction_error("FROM a\nONBUILD   FROM b\n");
    assert_eq!(
        crate::error::rendered(&error),
        "2:11: ONBUILD: FROM cannot be a trigger: expected any instruction but \
         ONBUILD, FROM or MAINTAINER"
    );
}

#[test]
fn simple_single_argument_instructions() {
    let parsed = instructions(
        "FROM a\nUSER app:app\nWORKDIR /srv/app\nSTOPSIGNAL SIGKILL\nMAINTAINER Jo <jo@x>\n\
         EXPOSE 80 53/udp\nVOLUME [\"/data\", \"/logs\"]\n",
    );
    assert_eq!(
        parsed[1],
        Instruction::User {
            user: "app:app".into()
        }
    );
    assert_eq!(
        parsed[2],
        Instruction::Workdir {
            path: "/srv/app".into()
        }
    );
    assert_eq!(
        parsed[3],
        Instruction::StopSignal {
            signal: "SIGKILL".into()
        }
    );
    assert_eq!(
        parsed[4],
        Instruction::Maintainer {
            name: "Jo <jo@x>".into()
        }
    );
    assert_eq!(
        parsed[5],
        Instruction::Expose {
            ports: vec!["80".into(), "53/udp".into()]
        }
    );
    assert_eq!(
        parsed[6],
        Instruction::Volume {
            paths: vec!["/data".into(), "/logs".into()]
        }
    );
    let error = instruction_error("FROM a\nWORKDIR\n");
    assert_eq!(
        crate::error::rendered(&error),
        "2:8: WORKDIR: missing arguments: expected a path"
    );
}

#[test]
fn stages_group_instructions() {
    let dockerfile = parse(
        "# syntax=docker/dockerfile:1\nARG BASE=alpine\nARG TAG\nFROM $BASE:$TAG AS build\n\
         RUN make\n\nFROM --platform=linux/arm64 scratch\nCOPY --from=build /out /\n",
    )
    .expect("parses");
    let stages = stages(&dockerfile).expect("stages");
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].name.as_deref(), Some("build"));
    assert_eq!(stages[0].base, "$BASE:$TAG");
    assert_eq!(stages[0].start_line, 4);
    assert_eq!(stages[0].instructions.len(), 1);
    assert_eq!(stages[0].instructions[0].start_line, 5);
    assert_eq!(stages[1].index, 1);
    assert_eq!(stages[1].platform.as_deref(), Some("linux/arm64"));
    assert_eq!(stages[1].base, "scratch");
    let global: Vec<&str> = stages[1]
        .global_args
        .iter()
        .map(|arg| arg.name.as_str())
        .collect();
    assert_eq!(global, vec!["BASE", "TAG"]);
}

/// Thousands of global ARGs and stages: one list, not a copy per stage (3,000 of each took
/// 1 GB).
#[test]
fn stages_share_the_global_args() {
    let mut text: String = (0..3_000).map(|i| format!("ARG G{i}=v{i}\n")).collect();
    text.push_str("FROM scratch AS s0\n");
    for i in 1..3_000 {
        text.push_str(&format!("FROM s{} AS s{i}\n", i - 1));
    }
    let stages = parse(&text).expect("parses").stages().expect("stages");
    assert_eq!(stages.len(), 3_000);
    assert_eq!(stages[0].global_args.len(), 3_000);
    assert!(
        stages
            .iter()
            .all(|stage| std::sync::Arc::ptr_eq(&stage.global_args, &stages[0].global_args))
    );
}

#[test]
fn stage_errors() {
    let error = parse("ARG A\nRUN x\nFROM a\n")
        .expect("parses")
        .stages()
        .expect_err("RUN first");
    assert_eq!(
        crate::error::rendered(&error),
        "2:1: RUN: before the first FROM: expected FROM first (only ARG may precede it)"
    );
    let error = parse("ARG A\n")
        .expect("parses")
        .stages()
        .expect_err("no FROM");
    assert!(matches!(error, DockerfileError::NoStages { .. }), "{error}");
}

#[test]
fn located_instructions_know_where_their_words_are() {
    let parsed =
        parse("FROM a\n  COPY --from=b --chown=1 \\\n   x.txt  \"y\" /d/\n").expect("parses");
    let copy = LocatedInstruction::from_node(&parsed.nodes[1]).expect("checks");
    assert_eq!(copy.position, Position::new(2, 3));
    assert_eq!(copy.flag("from"), Some(("--from=b", Position::new(2, 8))));
    assert_eq!(
        copy.flag("chown"),
        Some(("--chown=1", Position::new(2, 17)))
    );
    assert_eq!(copy.flag("chmod"), None);
    assert_eq!(copy.argument_position("x.txt"), Some(Position::new(3, 4)));
    assert_eq!(copy.argument_position("\"y\""), Some(Position::new(3, 11)));
    assert_eq!(copy.argument_position("/d/"), Some(Position::new(3, 15)));
    assert_eq!(copy.argument_position("nope"), None);
}
