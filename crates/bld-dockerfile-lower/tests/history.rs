//! The history `created_by` lowering writes for `COPY`, as BuildKit writes it (checked against
//! Docker 20.10's BuildKit: `COPY --from=build /app /app` is `COPY /app /app # buildkit`).

use bld_dockerfile_lower::{DirectFiles, DockerfileBuild, lower_dockerfile};
use bld_graph::{ActionGraph, ActionKind};

/// The history of the image `text` builds.
fn history(text: &str) -> Vec<String> {
    let build = DockerfileBuild {
        text: text.to_owned(),
        display: "Dockerfile".to_owned(),
        context: Default::default(),
        context_dir: ".".into(),
        files: Box::new(DirectFiles),
        context_prefix: String::new(),
        target: None,
        build_args: Vec::new(),
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
    image
        .config
        .history
        .iter()
        .map(|step| step.created_by.clone())
        .collect()
}

#[test]
fn copy_from_a_built_stage_is_written_as_buildkit_writes_it() {
    // After a RUN, the stage's files are known only once built: COPY --from is an executor
    // action, and its history reads as the planned one would, without `--from`.
    let text = "FROM scratch AS build\nRUN make\nFROM scratch\nCOPY --from=build /app /app\n\
                COPY --from=build --chown=1:2 --chmod=755 /app/a /b\n";
    assert_eq!(
        history(text),
        ["COPY /app /app", "COPY --chown=1:2 --chmod=755 /app/a /b"]
    );
}
