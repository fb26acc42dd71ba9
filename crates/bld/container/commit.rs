//! `bld commit`: a container's changes (its upper directory, deletions as whiteouts) packed
//! as a RUN step's are, one new layer on its image, with Docker's history row (`CREATED BY`
//! the container's command, `COMMENT` the message) and `-c` changes in Dockerfile syntax.

use std::path::{Path, PathBuf};

use bld_core::{HistoryStep, ImageConfigSpec, ImageReference, Label};
use bld_dockerfile::context::ContextTree;
use bld_dockerfile_lower::{DirectFiles, DockerfileBuild, NoLocalImages, lower_dockerfile};
use bld_exec::containers;
use bld_graph::{ActionGraph, ActionKind};
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// The instructions `-c` may give, as Docker allows them.
const CHANGES: [&str; 10] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
    "STOPSIGNAL",
];

/// Arguments of `bld commit`.
#[derive(Args)]
pub(crate) struct CommitArgs {
    /// The commit message: the history row's comment.
    #[arg(long, short, value_name = "MESSAGE")]
    message: Option<String>,
    /// The author (`Name <email>`): the config's `author`.
    #[arg(long, short, value_name = "AUTHOR")]
    author: Option<String>,
    /// A Dockerfile instruction applied to the image (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`,
    /// `LABEL`, `ONBUILD`, `USER`, `VOLUME`, `WORKDIR`, `STOPSIGNAL`); repeatable.
    #[arg(long, short, value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Pause the container while committing (accepted for Docker's sake: a container bld
    /// commits has stopped).
    #[arg(long, short, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pause: bool,
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// The new image's name.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    name: Option<String>,
}

/// What `-c` sets: the configuration a Dockerfile of those instructions gives, read by
/// lowering `FROM scratch` and them (so that each means what it means in a Dockerfile), less
/// what `FROM scratch` alone gives (the default `PATH` BuildKit sets over an image without
/// one), which would otherwise replace the container image's own.
fn changes(instructions: &[String]) -> Result<ImageConfigSpec, Failure> {
    let defaults = lowered_config(&[])?;
    let mut spec = lowered_config(instructions)?;
    spec.env.retain(|pair| !defaults.env.contains(pair));
    spec.clear_on_build = false;
    spec.args_escaped = false;
    Ok(spec)
}

/// The configuration `FROM scratch` and `instructions` lower to.
fn lowered_config(instructions: &[String]) -> Result<ImageConfigSpec, Failure> {
    let mut text = String::from("FROM scratch\n");
    for instruction in instructions {
        let keyword = instruction
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if !CHANGES.contains(&keyword.as_str()) {
            return Err(Failure::user(format!(
                "--change `{instruction}`: {keyword} is not an instruction commit applies \
                 (expected one of {})",
                CHANGES.join(", ")
            )));
        }
        text.push_str(instruction.trim());
        text.push('\n');
    }
    let build = DockerfileBuild {
        text,
        display: "--change".to_owned(),
        context: ContextTree::new(),
        context_dir: PathBuf::from("/"),
        files: Box::new(DirectFiles),
        context_prefix: String::new(),
        target: None,
        build_args: Vec::new(),
        named_images: Default::default(),
        local_images: Box::new(NoLocalImages),
        source_date_epoch: 0,
        host_network: false,
        owner: Label::new("", "commit").map_err(|e| Failure::internal(e.to_string()))?,
        output_name: "image".to_owned(),
        labels: Vec::new(),
        extra_hosts: Vec::new(),
    };
    let mut graph = ActionGraph::new();
    let image = lower_dockerfile(&build, &mut graph)?;
    match &graph.get(image).kind {
        ActionKind::AssembleImage(assemble) => Ok(assemble.config.clone()),
        _ => Err(Failure::internal("--change lowered to no image".to_owned())),
    }
}

/// `bld commit`: prints the new image's ID.
pub(crate) fn commit(args: CommitArgs, store: &Path) -> Result<(), Failure> {
    let _ = args.pause;
    let store = Store::open(store)?;
    let container = containers::find(&store, &args.container)?;
    let name = args
        .name
        .as_deref()
        .map(ImageReference::parse_tag)
        .transpose()?;
    if !store.blob_path(&container.manifest).is_file() {
        return Err(Failure::user(format!(
            "cannot commit {}: its image {} is no longer in the store",
            container.name, container.manifest
        )));
    }
    let mut spec = changes(&args.change)?;
    let now = bld_exec::containers::now();
    let work = store.temp_path("commit");
    std::fs::create_dir_all(&work).map_err(|e| Failure::user(e.to_string()))?;
    let bound = containers::bound_files();
    let layer = bld_exec::pack_upper(&store, &container.upper(&store), &work, now, &bound);
    let _ = std::fs::remove_dir_all(&work);
    let layer = layer?;
    spec.history = vec![HistoryStep {
        created_by: container.args.join(" "),
        empty_layer: false,
        comment: args.message.clone(),
    }];
    if args.author.is_some() {
        spec.author = args.author.clone();
    }
    let (os, architecture) = bld_core::host_platform();
    spec.os = os.to_owned();
    spec.architecture = architecture.to_owned();
    let blobs = bld_oci::assemble_image(&store, Some(&container.manifest), &[layer], &spec, now)?;
    let _lock = store.lock_index()?;
    store.add_image(&blobs.manifest)?;
    if let Some(name) = &name {
        store.put_tag(&name.to_string(), &blobs.manifest)?;
    }
    println!("{}", blobs.config);
    Ok(())
}
