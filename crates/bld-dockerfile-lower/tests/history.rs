//! The image history and the config flags lowering writes, as Docker 20.10.24's BuildKit
//! writes them: each expected text below is what `docker history --no-trunc` showed for the
//! same Dockerfile (`tests/it/docker_peer.rs` compares whole images with it).

use bld_core::{HistoryStep, ImageConfigSpec};
use bld_dockerfile::context::{ContextEntry, ContextTree};
use bld_dockerfile_lower::{ContextFiles, DockerfileBuild, lower_dockerfile};
use bld_graph::{ActionGraph, ActionKind};

/// A context whose files are no archives (`ADD` copies them).
struct NoArchives;

impl ContextFiles for NoArchives {
    fn is_tar_archive(&self, _: &std::path::Path) -> std::io::Result<bool> {
        Ok(false)
    }
}

/// The config of the image `text` builds with `build_args`, over a context of `a.txt`,
/// `b.txt` and `dir/`.
fn config_with(text: &str, build_args: &[(&str, &str)]) -> ImageConfigSpec {
    let file = ContextEntry::File {
        mode: 0o644,
        size: 2,
    };
    let context = ContextTree::from_entries([
        ("a.txt", file.clone()),
        ("b.txt", file.clone()),
        ("dir", ContextEntry::Dir { mode: 0o755 }),
        ("dir/g", file),
    ])
    .expect("a context");
    let build = DockerfileBuild {
        text: text.to_owned(),
        display: "Dockerfile".to_owned(),
        context,
        context_dir: ".".into(),
        files: Box::new(NoArchives),
        context_prefix: String::new(),
        target: None,
        build_args: build_args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        source_date_epoch: 0,
        host_network: false,
        named_images: Default::default(),
        local_images: Box::new(bld_dockerfile_lower::NoLocalImages),
        owner: bld_core::Label::new("", "Dockerfile").expect("a label"),
        output_name: "image".to_owned(),
        labels: Vec::new(),
        extra_hosts: Vec::new(),
    };
    let mut graph = ActionGraph::new();
    let image = lower_dockerfile(&build, &mut graph).expect("lowers");
    let ActionKind::AssembleImage(image) = &graph.get(image).kind else {
        panic!("the target is an image");
    };
    image.config.clone()
}

/// The history `created_by` of the image `text` builds with `build_args`.
fn history_with(text: &str, build_args: &[(&str, &str)]) -> Vec<String> {
    config_with(text, build_args)
        .history
        .iter()
        .map(|step| step.created_by.clone())
        .collect()
}

fn history(text: &str) -> Vec<String> {
    history_with(text, &[])
}

#[test]
fn copy_is_written_without_its_flags() {
    // After a RUN, the stage's files are known only once built: COPY --from is an executor
    // action, and its history reads as the planned one would.
    let text = "FROM scratch AS build\nRUN make\nFROM scratch\nCOPY --from=build /app /app\n\
                COPY --from=build --chown=1:2 --chmod=755 /app/a /b\n\
                COPY --from=0 /app /idx\n";
    assert_eq!(
        history(text),
        [
            "COPY /app /app # buildkit",
            "COPY /app/a /b # buildkit",
            "COPY /app /idx # buildkit"
        ]
    );
    let text = "FROM scratch\nARG X=dir\nCOPY --chmod=0600 a.txt b.txt /ab/\nCOPY $X /viaarg\n\
                COPY [\"a.txt\", \"/json\"]\nADD --chown=5:5 *.txt /glob/\nCOPY <<EOF <<TWO /h/\nx\nEOF\ny\nTWO\n";
    assert_eq!(
        history(text),
        [
            "ARG X=dir",
            "COPY a.txt b.txt /ab/ # buildkit",
            "COPY dir /viaarg # buildkit",
            "COPY a.txt /json # buildkit",
            "ADD *.txt /glob/ # buildkit",
            "COPY <<EOF <<TWO /h/ # buildkit",
        ]
    );
}

#[test]
fn run_lists_the_args_in_scope_and_what_it_runs() {
    let text = "ARG G=g\nFROM scratch\nARG A=1\nARG B\nRUN echo $A\nARG C=3 D\nENV E=5\n\
                RUN [\"echo\", \"x y\"]\nARG A=9\nARG G TARGETARCH\nENV G=override\n\
                SHELL [\"/bin/sh\", \"-ec\"]\nRUN echo again\n";
    let arch = bld_core::host_platform().1;
    assert_eq!(
        history_with(text, &[("B", "2")]),
        [
            "ARG A=1".to_owned(),
            "ARG B".to_owned(),
            "RUN |2 A=1 B=2 /bin/sh -c echo $A # buildkit".to_owned(),
            "ARG C=3 D".to_owned(),
            "ENV E=5".to_owned(),
            "RUN |4 A=1 B=2 C=3 D= echo x y # buildkit".to_owned(),
            "ARG A=9".to_owned(),
            "ARG G TARGETARCH".to_owned(),
            "ENV G=override".to_owned(),
            "SHELL [/bin/sh -ec]".to_owned(),
            format!(
                "RUN |7 A=9 B=2 C=3 D= A=9 G=override TARGETARCH={arch} /bin/sh -ec echo again # buildkit"
            ),
        ]
    );
    // A default is shown expanded, and as written when `--build-arg` overrides it.
    assert_eq!(
        history_with(
            "FROM scratch\nARG A=1\nARG Z=$A D=dflt\nRUN true\n",
            &[("D", "given")]
        ),
        [
            "ARG A=1",
            "ARG Z=1 D=dflt",
            "RUN |3 A=1 Z=1 D=given /bin/sh -c true # buildkit"
        ]
    );
}

#[test]
fn a_stage_built_on_another_lists_only_its_own_args() {
    // (The image's config lists the entries it adds; the base's are in the base image.)
    let text = "FROM scratch AS base\nARG X=1\nRUN true\nFROM base\nRUN true\n";
    assert_eq!(history(text), ["RUN /bin/sh -c true # buildkit"]);
}

#[test]
fn metadata_instructions_are_written_with_gos_formatting() {
    let text = "FROM scratch\nENV A=1 B=\"two words\"\nENV C $A\nLABEL l=v \"k 2\"=\"v 2\"\n\
                EXPOSE 80 8080/TCP 53/udp 1-3/sctp 127.0.0.1:90:9000 443/\nEXPOSE 9 10 100\n\
                USER 1000:1000\nWORKDIR /w\nWORKDIR sub\nVOLUME /data\nVOLUME [\"/a\", \"/b\"]\n\
                STOPSIGNAL SIGINT\nHEALTHCHECK --interval=90s --timeout=1500ms --start-period=1h --retries=39 CMD [\"wget\", \"-q\", \"x\"]\n\
                HEALTHCHECK NONE\nSHELL [\"/bin/sh\", \"-ec\"]\nONBUILD RUN echo hi\nMAINTAINER me <me@x>\n\
                ENTRYPOINT echo c\nCMD [\"a\\\"b\", \"c\\\\d\", \"é\"]\n";
    assert_eq!(
        history(text),
        [
            "ENV A=1 B=two words",
            "ENV C=1",
            "LABEL l=v k 2=v 2",
            "EXPOSE map[1/sctp:{} 2/sctp:{} 3/sctp:{} 443/tcp:{} 53/udp:{} 80/tcp:{} 8080/tcp:{} 9000/tcp:{}]",
            "EXPOSE map[10/tcp:{} 100/tcp:{} 9/tcp:{}]",
            "USER 1000:1000",
            "WORKDIR /w",
            "WORKDIR /w/sub",
            "VOLUME [/data]",
            "VOLUME [/a /b]",
            "STOPSIGNAL SIGINT",
            r#"HEALTHCHECK &{["CMD" "wget" "-q" "x"] "1m30s" "1.5s" "1h0m0s" '\''}"#,
            r#"HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\x00'}"#,
            "SHELL [/bin/sh -ec]",
            "MAINTAINER me <me@x>",
            r#"ENTRYPOINT ["/bin/sh" "-ec" "echo c"]"#,
            r#"CMD ["a\"b" "c\\d" "é"]"#,
        ]
    );
}

#[test]
fn every_entry_carries_blds_comment_and_its_layer_flag() {
    let config = config_with("FROM scratch\nARG A\nCOPY a.txt /a\nCMD x\n", &[]);
    let comment = Some("bld.dockerfile.v0".to_owned());
    let entry = |created_by: &str, empty_layer| HistoryStep {
        created_by: created_by.to_owned(),
        empty_layer,
        comment: comment.clone(),
    };
    assert_eq!(
        config.history,
        [
            entry("ARG A", true),
            entry("COPY a.txt /a # buildkit", false),
            entry(r#"CMD ["/bin/sh" "-c" "x"]"#, true),
        ]
    );
}

#[test]
fn cmd_sets_args_escaped_and_entrypoint_does_not() {
    let escaped = |text: &str| config_with(text, &[]).args_escaped;
    assert!(escaped("FROM scratch\nCMD echo hi\n"));
    assert!(escaped("FROM scratch\nCMD [\"echo\", \"hi\"]\n"));
    assert!(escaped(
        "FROM scratch\nSHELL [\"/bin/sh\", \"-ec\"]\nCMD echo\n"
    ));
    assert!(!escaped("FROM scratch\nENTRYPOINT [\"echo\"]\n"));
    assert!(!escaped("FROM scratch\nENTRYPOINT echo\n"));
    // Set over a base, not again: the base's image already has it.
    assert!(!escaped(
        "FROM scratch AS base\nCMD [\"sh\"]\nFROM base\nENTRYPOINT [\"x\"]\n"
    ));
}

#[test]
fn scratch_sets_the_working_directory_and_a_stage_on_a_base_keeps_the_bases() {
    let workdir = |text: &str| config_with(text, &[]).workdir;
    assert_eq!(
        workdir("FROM scratch\nCOPY a.txt /a\n").as_deref(),
        Some("/")
    );
    assert_eq!(workdir("FROM scratch\nWORKDIR /w\n").as_deref(), Some("/w"));
    assert_eq!(
        workdir("FROM scratch AS base\nWORKDIR /w\nFROM base\n"),
        None
    );
}
