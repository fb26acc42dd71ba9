//! Every Dockerfile error reads `Dockerfile:L:C: INSTRUCTION: message` and carries the place,
//! so the CLI shows the line with a marker under the offending text.

use bld_core::Classify;
use bld_dockerfile::context::{ContextEntry, ContextTree};
use bld_dockerfile_lower::{DirectFiles, DockerfileBuild, lower_dockerfile};
use bld_graph::ActionGraph;

/// The error lowering `text` over a context holding `a.txt` gives: its message and snippet.
fn error(text: &str) -> (String, String) {
    error_for_target(text, None)
}

/// The error lowering the stage `target` of `text` gives.
fn error_for_target(text: &str, target: Option<&str>) -> (String, String) {
    let context = ContextTree::from_entries([(
        "a.txt",
        ContextEntry::File {
            mode: 0o644,
            size: 2,
        },
    )])
    .expect("a context");
    let build = DockerfileBuild {
        text: text.to_owned(),
        display: "app/Dockerfile".to_owned(),
        context,
        context_dir: "app".into(),
        files: Box::new(DirectFiles),
        context_prefix: "app".to_owned(),
        target: target.map(str::to_owned),
        build_args: Vec::new(),
        source_date_epoch: 0,
        host_network: false,
        named_images: Default::default(),
        local_images: Box::new(bld_dockerfile_lower::NoLocalImages),
        owner: bld_core::Label::new("app", "image").expect("a label"),
        output_name: "image".to_owned(),
        labels: Vec::new(),
        extra_hosts: Vec::new(),
    };
    let error = lower_dockerfile(&build, &mut ActionGraph::new()).expect_err("an error");
    let snippet = error.location().map(|at| at.snippet()).unwrap_or_default();
    (error.to_string(), snippet)
}

#[track_caller]
fn assert_error(text: &str, message: &str, snippet: &str) {
    let (found, found_snippet) = error(text);
    assert_eq!(found, message);
    assert_eq!(found_snippet, snippet, "{found_snippet}");
}

#[test]
fn a_parse_error_points_at_its_place() {
    assert_error(
        "FROM scratch\nRUN cat <<EOF\n",
        "app/Dockerfile:2:9: RUN: unterminated heredoc `<<EOF`: expected a line `EOF` before the end of the file",
        "  |\n2 | RUN cat <<EOF\n  |         ^^^^^\n",
    );
}

#[test]
fn an_unknown_instruction_is_marked() {
    assert_error(
        "FROM scratch\nCOPY a.txt /\nFORM x\n",
        "app/Dockerfile:3:1: unknown instruction `FORM`: expected one of FROM, RUN, CMD, LABEL, \
         MAINTAINER, EXPOSE, ENV, ADD, COPY, ENTRYPOINT, VOLUME, USER, WORKDIR, ARG, ONBUILD, \
         STOPSIGNAL, HEALTHCHECK, SHELL (did you mean `FROM`?)",
        "  |\n3 | FORM x\n  | ^^^^\n",
    );
}

#[test]
fn a_bad_flag_is_marked() {
    assert_error(
        "FROM scratch\nCOPY --frm=x a.txt /\n",
        "app/Dockerfile:2:6: COPY: unknown flag `--frm`: expected one of `--from`, `--chown`, \
         `--chmod`, `--link`, `--parents`, `--exclude`",
        "  |\n2 | COPY --frm=x a.txt /\n  |      ^^^^^\n",
    );
}

#[test]
fn a_missing_copy_source_is_marked() {
    assert_error(
        "FROM scratch\nCOPY  a.txt missing.txt /x/\n",
        "app/Dockerfile:2:13: COPY: source `missing.txt` not found: lstat /missing.txt: no such \
         file or directory (expected an existing path relative to the context root that \
         .dockerignore does not exclude)",
        "  |\n2 | COPY  a.txt missing.txt /x/\n  |             ^^^^^^^^^^^\n",
    );
}

#[test]
fn a_missing_from_stage_marks_the_flag() {
    assert_error(
        "FROM scratch\nCOPY --from=nowhere /etc /etc\n",
        "app/Dockerfile:2:6: COPY: --from=nowhere: no earlier stage or image has that name or index",
        "  |\n2 | COPY --from=nowhere /etc /etc\n  |      ^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn a_bad_build_arg_expansion_marks_the_arg() {
    // A global ARG (before the first FROM) is placed on its own line, not the FROM's.
    assert_error(
        "ARG V=${MISSING:?required}\nFROM scratch\n",
        "app/Dockerfile:1:5: ARG: `${MISSING:?required}`: MISSING: required",
        "  |\n1 | ARG V=${MISSING:?required}\n  |     ^^^^^^^^^^^^^^^^^^^^^^\n",
    );
    assert_error(
        "FROM scratch\nENV A=1\nARG V=${MISSING:?required}\n",
        "app/Dockerfile:3:5: ARG: `${MISSING:?required}`: MISSING: required",
        "  |\n3 | ARG V=${MISSING:?required}\n  |     ^^^^^^^^^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn a_bind_mount_source_outside_the_context_marks_the_mount() {
    assert_error(
        "FROM scratch\nRUN --mount=type=bind,source=../nope,target=/x true\n",
        "app/Dockerfile:2:5: RUN: --mount source=../nope: `nope` does not exist in the build context",
        "  |\n2 | RUN --mount=type=bind,source=../nope,target=/x true\n  |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn a_word_on_a_continuation_line_is_found_there() {
    assert_error(
        "FROM scratch\nCOPY a.txt \\\n    missing.txt /x/\n",
        "app/Dockerfile:3:5: COPY: source `missing.txt` not found: lstat /missing.txt: no such \
         file or directory (expected an existing path relative to the context root that \
         .dockerignore does not exclude)",
        "  |\n3 |     missing.txt /x/\n  |     ^^^^^^^^^^^\n",
    );
}

#[test]
fn an_unknown_target_names_the_file_only() {
    let (message, snippet) = error_for_target("FROM scratch AS one\n", Some("nope"));
    assert_eq!(
        message,
        "app/Dockerfile: no stage named `nope` (--target): the stages are `one`"
    );
    assert_eq!(snippet, "", "no place in the file to show");
}

#[test]
fn exposed_ports_and_stop_signals_are_checked_after_expansion() {
    assert_error(
        "FROM scratch\nARG PORT=99999\nEXPOSE 80 $PORT\n",
        "app/Dockerfile:3:11: EXPOSE: invalid port `99999`: expected a port 0-65535 or a range \
         such as 8000-8010, optionally with /tcp, /udp or /sctp",
        "  |\n3 | EXPOSE 80 $PORT\n  |           ^^^^^\n",
    );
    assert_error(
        "FROM scratch\nEXPOSE 80/xyz\n",
        "app/Dockerfile:2:8: EXPOSE: invalid protocol in `80/xyz`: expected a port 0-65535 or a \
         range such as 8000-8010, optionally with /tcp, /udp or /sctp",
        "  |\n2 | EXPOSE 80/xyz\n  |        ^^^^^^\n",
    );
    assert_error(
        "FROM scratch\nSTOPSIGNAL SIGFOO\n",
        "app/Dockerfile:2:12: STOPSIGNAL: invalid signal `SIGFOO`: expected a signal name such \
         as SIGTERM or KILL, or a non-zero number",
        "  |\n2 | STOPSIGNAL SIGFOO\n  |            ^^^^^^\n",
    );
}

#[test]
fn a_missing_source_of_a_stage_is_not_called_a_context_path() {
    assert_error(
        "FROM scratch AS a\nCOPY a.txt /a.txt\nFROM scratch\nCOPY --from=a /missing /m\n",
        "app/Dockerfile:4:15: COPY: source `/missing` not found: lstat /missing: no such file \
         or directory (expected an existing path in the stage or image `--from` names)",
        "  |\n4 | COPY --from=a /missing /m\n  |               ^^^^^^^^\n",
    );
}
