//! Parser tests: error positions and messages, lines, directives and heredocs.

use crate::ast::Keyword;
use crate::error::{DockerfileError, Position};
use crate::parse;

fn parse_error(text: &str) -> DockerfileError {
    parse(text).expect_err("the Dockerfile should be rejected")
}

#[test]
fn unknown_instruction_names_line_column_and_choices() {
    let error = parse_error("FROM alpine\n\nFORM x\n");
    assert_eq!(
        crate::error::rendered(&error),
        "3:1: unknown instruction `FORM`: expected one of FROM, RUN, CMD, LABEL, \
         MAINTAINER, EXPOSE, ENV, ADD, COPY, ENTRYPOINT, VOLUME, USER, WORKDIR, ARG, ONBUILD, \
         STOPSIGNAL, HEALTHCHECK, SHELL (did you mean `FROM`?)"
    );
    let error = parse_error("FROM alpine\n   bogus thing\n");
    assert_eq!(error.position(), Some(Position::new(2, 4)));
    assert!(
        crate::error::rendered(&error).contains("unknown instruction `bogus`"),
        "{error}"
    );
}

#[test]
fn unknown_instruction_inside_onbuild_points_at_it() {
    let error = parse_error("FROM a\nONBUILD  WHATEVER x\n");
    assert_eq!(error.position(), Some(Position::new(2, 10)));
}

#[test]
fn empty_and_comment_only_files_have_no_instructions() {
    for text in ["", "\n\n", "# only\n# comments\n", "# syntax=x\n"] {
        let error = parse_error(text);
        assert!(
            matches!(error, DockerfileError::NoInstructions { .. }),
            "{text:?}: {error}"
        );
        assert!(
            crate::error::rendered(&error).contains("expected at least one instruction"),
            "{error}"
        );
    }
}

#[test]
fn env_without_value_is_located() {
    let error = parse_error("FROM busybox\nENV  PATH\n");
    assert_eq!(
        crate::error::rendered(&error),
        "2:6: ENV: missing arguments: expected a name and a value: `NAME value` \
         or `NAME=value ...`"
    );
    let error = parse_error("FROM busybox\nLABEL a=1 b\n");
    assert!(crate::error::rendered(&error).starts_with("2:7: LABEL: invalid arguments `b`"));
}

#[test]
fn nested_json_is_rejected_with_position() {
    let error = parse_error("FROM a\nCMD [ \"echo\", [ \"nested\" ] ]\n");
    assert_eq!(error.position(), Some(Position::new(2, 5)));
    assert!(matches!(
        error,
        DockerfileError::NotStringArray {
            instruction: "CMD",
            ..
        }
    ));
}

#[test]
fn positions_follow_continuation_lines() {
    let parsed =
        parse("FROM a\nRUN \\\n  # comment\n    --mount=type=cache,target=/x \\\n  echo hi\n")
            .expect("parses");
    let run = &parsed.nodes[1];
    assert_eq!((run.start_line, run.end_line), (2, 5));
    assert_eq!(run.flag_position(0), Position::new(4, 5));
    assert_eq!(run.arguments_position(), Position::new(5, 3));
    assert_eq!(run.args, vec!["echo hi"]);
}

#[test]
fn directives_only_at_the_top() {
    let parsed = parse("# syntax=docker/dockerfile:1\n# check=error=true\n# escape=`\nFROM a\n")
        .expect("parses");
    assert_eq!(parsed.escape, '`');
    assert_eq!(parsed.directive("syntax"), Some("docker/dockerfile:1"));
    assert_eq!(parsed.directive("check"), Some("error=true"));

    let parsed = parse("\n# escape=`\nFROM a\n").expect("parses");
    assert_eq!(parsed.escape, '\\');
    assert!(parsed.directives.is_empty());

    let error = parse_error("# escape=`\n# escape=\\\nFROM a\n");
    assert!(matches!(error, DockerfileError::DuplicateDirective { .. }));
    assert_eq!(error.position(), Some(Position::new(2, 1)));

    let error = parse_error("# escape=x\nFROM a\n");
    assert!(crate::error::rendered(&error).starts_with("1:1: invalid escape character `x`"));
}

#[test]
fn backtick_escape_continues_lines_and_keeps_backslashes() {
    let parsed = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo done\n").expect("parses");
    assert_eq!(parsed.nodes[1].args, vec!["dir c:\\   && echo done"]);
    assert_eq!(parsed.nodes[1].end_line, 4);
}

#[test]
fn comments_before_an_instruction_are_kept() {
    // As in BuildKit, blank lines do not detach comments; an empty `#` line does.
    let parsed =
        parse("# syntax=x\n# the base\nFROM a\n# dropped\n#\n\n# kept\n\nRUN b\n").expect("parses");
    assert_eq!(parsed.nodes[0].comments, vec!["the base"]);
    assert_eq!(parsed.nodes[1].comments, vec!["kept"]);
}

#[test]
fn byte_order_mark_is_ignored() {
    let parsed = parse("\u{feff}FROM a\n").expect("parses");
    assert_eq!(parsed.nodes[0].keyword, Keyword::From);
}

#[test]
fn heredoc_body_is_attached_and_lines_counted() {
    let text = "FROM a\nRUN <<EOF\necho one\necho $two\nEOF\nRUN after\n";
    let parsed = parse(text).expect("parses");
    let run = &parsed.nodes[1];
    assert_eq!(run.args, vec!["<<EOF"]);
    assert_eq!((run.start_line, run.end_line), (2, 5));
    assert_eq!(run.heredocs.len(), 1);
    let heredoc = &run.heredocs[0];
    assert_eq!(heredoc.name, "EOF");
    assert_eq!(heredoc.content, "echo one\necho $two\n");
    assert!(heredoc.expand && !heredoc.chomp);
    assert_eq!(parsed.nodes[2].start_line, 6);
}

#[test]
fn chomped_quoted_and_several_heredocs() {
    let text = "FROM a\nCOPY <<-\"A\" <<'B' 3<<C /dest/\n\tfirst\n\tA\nsecond $X\nB\nthird\nC\n";
    let parsed = parse(text).expect("parses");
    let copy = &parsed.nodes[1];
    let summary: Vec<(&str, bool, bool, u32, &str)> = copy
        .heredocs
        .iter()
        .map(|h| {
            (
                h.name.as_str(),
                h.expand,
                h.chomp,
                h.file_descriptor,
                h.content.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("A", false, true, 0, "\tfirst\n"),
            ("B", false, false, 0, "second $X\n"),
            ("C", true, false, 3, "third\n"),
        ]
    );
    assert_eq!(copy.heredocs[0].chomped_content(), "first\n");
    assert_eq!(copy.end_line, 8);
}

#[test]
fn heredoc_markers_need_a_heredoc_instruction_and_shell_form() {
    let parsed = parse("FROM a\nRUN [\"cat\", \"<<EOF\"]\nCMD cat <<EOF\n").expect("parses");
    assert!(parsed.nodes.iter().all(|node| node.heredocs.is_empty()));
    assert_eq!(parsed.nodes.len(), 3);
}

#[test]
fn heredoc_in_onbuild_belongs_to_the_trigger() {
    let parsed = parse("FROM a\nONBUILD RUN <<EOF\nx\nEOF\n").expect("parses");
    let onbuild = &parsed.nodes[1];
    let trigger = onbuild.trigger.as_deref().expect("trigger");
    assert_eq!(trigger.heredocs[0].content, "x\n");
    assert_eq!(onbuild.end_line, 4);
}

#[test]
fn unterminated_heredoc_points_at_its_marker() {
    let error = parse_error("FROM a\nRUN cat <<EOF > /x\nline\n");
    assert_eq!(
        crate::error::rendered(&error),
        "2:9: RUN: unterminated heredoc `<<EOF`: expected a line `EOF` before the end \
         of the file"
    );
    let error = parse_error("FROM a\nRUN <<-END\n\tbody\n  END\n");
    assert!(
        matches!(error, DockerfileError::UnterminatedHeredoc { ref name, .. } if name == "END")
    );
}

#[test]
fn line_that_does_not_lex_names_no_heredoc() {
    // As in BuildKit, an unterminated quote on the line means no heredocs are looked for.
    let parsed = parse("FROM a\nRUN echo \"<<EOF\nEOF\n").expect_err("EOF is not an instruction");
    assert_eq!(parsed.position(), Some(Position::new(3, 1)));
}

#[test]
fn onbuild_thousands_deep_is_an_error_not_a_stack_overflow() {
    let text = format!("FROM a\n{}LABEL a=b\n", "ONBUILD ".repeat(50_000));
    let parsed = parse(&text).expect("parses");
    let error = parsed.instructions().expect_err("nested ONBUILD");
    assert!(
        crate::error::rendered(&error).contains("2:9: ONBUILD: ONBUILD cannot be a trigger"),
        "{error}"
    );
}
