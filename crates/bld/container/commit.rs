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
    /// Pause a running container while committing (its processes frozen, so that the layer is
    /// one moment's).
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
    let paused = args.pause
        && containers::runtime_status(&store, &container).as_deref() == Some("running")
        && containers::freeze(&store, &container, "pause");
    let layer = bld_exec::pack_upper(&store, &container.upper(&store), &work, now, &bound);
    if paused {
        containers::freeze(&store, &container, "resume");
    }
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
    keep_image(&store, &blobs, name.as_ref())
}

/// Keeps the new image `blobs` in the store, tagged `name`, and prints its ID.
fn keep_image(
    store: &Store,
    blobs: &bld_oci::ImageBlobs,
    name: Option<&ImageReference>,
) -> Result<(), Failure> {
    let _lock = store.lock_index()?;
    store.add_image(&blobs.manifest)?;
    if let Some(name) = name {
        store.put_tag(&name.to_string(), &blobs.manifest)?;
    }
    println!("{}", blobs.config);
    Ok(())
}

/// Arguments of `bld import`.
#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The commit message: the history row's comment (default `Imported from FILE`).
    #[arg(long, short, value_name = "MESSAGE")]
    message: Option<String>,
    /// A Dockerfile instruction applied to the image, as `commit -c`; repeatable.
    #[arg(long, short, value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// The platform the filesystem is for (`linux/amd64`; default: this machine's).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// A tar archive of a filesystem (plain or gzip), or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    file: String,
    /// The new image's name.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    name: Option<String>,
}

/// `bld import`: a filesystem archive (`bld export`'s, say) as an image of one layer; prints
/// its ID.
pub(crate) fn import(args: ImportArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let name = args
        .name
        .as_deref()
        .map(ImageReference::parse_tag)
        .transpose()?;
    let mut spec = changes(&args.change)?;
    let (os, architecture) = match args.platform.as_deref().map(|p| p.split_once('/')) {
        None => bld_core::host_platform(),
        Some(Some((os, architecture))) => (os, architecture),
        Some(None) => {
            return Err(Failure::user(format!(
                "invalid platform `{}`: expected OS/ARCH",
                args.platform.unwrap_or_default()
            )));
        }
    };
    spec.os = os.to_owned();
    spec.architecture = architecture.to_owned();
    let input: Box<dyn std::io::Read> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .map_err(|e| Failure::user(format!("open {}: {e}", args.file)))?,
        )
    };
    let mut input = std::io::BufReader::new(input);
    let gzipped = std::io::BufRead::fill_buf(&mut input)
        .map_err(|e| Failure::user(format!("read {}: {e}", args.file)))?
        .starts_with(&[0x1f, 0x8b]);
    let mut input: Box<dyn std::io::Read> = if gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let now = bld_exec::containers::now();
    let work = store.temp_path("import");
    let root = work.join("root");
    let layer = std::fs::create_dir_all(&root)
        .map_err(|e| Failure::internal(e.to_string()))
        .and_then(|()| {
            bld_sandbox::unpack_tar(&mut input, &root, Path::new(&args.file)).map_err(Failure::from)
        })
        .and_then(|()| Ok(bld_exec::pack_upper(&store, &root, &work, now, &[])?));
    let _ = std::fs::remove_dir_all(&work);
    spec.history = vec![HistoryStep {
        created_by: String::new(),
        empty_layer: false,
        comment: Some(
            args.message
                .unwrap_or_else(|| format!("Imported from {}", args.file)),
        ),
    }];
    let blobs = bld_oci::assemble_image(&store, None, &[layer?], &spec, now)?;
    keep_image(&store, &blobs, name.as_ref())
}
