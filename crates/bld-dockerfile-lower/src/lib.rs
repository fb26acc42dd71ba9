//! Lowering a Dockerfile to bld actions, as BuildKit's `dockerfile2llb` turns one into LLB:
//! each stage the target needs becomes a chain of layer actions and an image action; `FROM
//! <stage>` and `COPY --from=<stage>` are edges to that stage's image. Only the stages the
//! target needs are lowered, so a broken unused stage does not fail.
//!
//! One module per instruction family, as BuildKit's `convert_*.go`: [`stages`] (`FROM`, the
//! order of stages, the dispatch), [`run_step`] (`RUN`), [`run_mounts`] (`RUN --mount`),
//! [`copy`] (`COPY`, `ADD`) and [`metadata`] (`ENV`, `LABEL`, `CMD`, … and `ARG`); [`history`]
//! words the image history as BuildKit does.
//!
//! Every error is a [`LowerError`]: ``Dockerfile:3:6: COPY: source `missing.txt` not found``,
//! with the [`bld_core::Location`] of the offending word.

mod copy;
mod destination;
mod error;
mod history;
mod metadata;
mod run_mounts;
mod run_step;
mod stages;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use bld_core::{Label, host_platform};
use bld_dockerfile::context::ContextTree;
use bld_dockerfile::{Instruction, LocatedInstruction, ShellLex, Stage};
use bld_graph::{ActionGraph, ActionId, Input};

pub use error::LowerError;

use error::{Problem, Site};
use stages::Lowering;

/// The questions lowering asks of the build context's files on disk. The Starlark front-end
/// answers them through its record of what analysis observed (so a cached analysis is reused
/// only while every answer holds); `bld build .` asks the files directly ([`DirectFiles`]).
pub trait ContextFiles {
    /// Whether the file at `path` is a tar archive `ADD` unpacks (it reads the first block).
    fn is_tar_archive(&self, path: &Path) -> io::Result<bool>;
}

/// [`ContextFiles`] answered from the files themselves, recording nothing.
pub struct DirectFiles;

impl ContextFiles for DirectFiles {
    fn is_tar_archive(&self, path: &Path) -> io::Result<bool> {
        bld_core::is_tar_archive(path)
    }
}

/// Images outside the Dockerfile that a name which is no stage may refer to (`FROM debian:12`,
/// `COPY --from=ghcr.io/org/tool:1`): the local store's tagged images for `bld build DIR`, as
/// with Docker; none in a workspace, whose images are targets (given as `named_images`), so
/// that its builds do not depend on what happens to be tagged.
pub trait LocalImages {
    /// The manifest of the local image `name` (as the Dockerfile spells it, after expansion),
    /// if there is one (or can be fetched).
    fn manifest(&self, name: &str) -> Result<Option<bld_core::Digest>, ImageLookupError>;
}

/// Why [`LocalImages::manifest`] failed: what happened, and whose it is to fix (a registry
/// that refused an image is the user's; a broken store is not).
#[derive(Debug, Clone)]
pub struct ImageLookupError {
    /// What happened.
    pub message: String,
    /// Whose it is.
    pub kind: bld_core::ErrorKind,
}

/// No local images.
pub struct NoLocalImages;

impl LocalImages for NoLocalImages {
    fn manifest(&self, _: &str) -> Result<Option<bld_core::Digest>, ImageLookupError> {
        Ok(None)
    }
}

/// Everything a Dockerfile build depends on besides the graph it adds to.
pub struct DockerfileBuild {
    /// The Dockerfile's text.
    pub text: String,
    /// How messages name the Dockerfile (`app/Dockerfile`).
    pub display: String,
    /// The build context (after `.dockerignore`).
    pub context: ContextTree,
    /// The build context's directory (`ADD` looks inside files to find archives).
    pub context_dir: PathBuf,
    /// How the context's files on disk are read.
    pub files: Box<dyn ContextFiles>,
    /// Prefix of context paths as the executor resolves sources (`""` when it runs in the
    /// context directory, the context's path in the workspace otherwise).
    pub context_prefix: String,
    /// The stage to build (`--target`); the last one by default.
    pub target: Option<String>,
    /// `--build-arg` values.
    pub build_args: Vec<(String, String)>,
    /// `SOURCE_DATE_EPOCH`: layer mtimes and `created`.
    pub source_date_epoch: u64,
    /// Give every `RUN` step the host's network (`--network host`), not only those asking.
    pub host_network: bool,
    /// Images from outside the Dockerfile that `FROM <name>` may use (the `dockerfile` rule's
    /// `stages`).
    pub named_images: HashMap<String, Input>,
    /// Images of the local store that other names may refer to.
    pub local_images: Box<dyn LocalImages>,
    /// The target owning the actions.
    pub owner: Label,
    /// The final image's output name; intermediate outputs are named after it.
    pub output_name: String,
    /// Labels set on the target stage's image over its own (`docker build --label`), in order.
    pub labels: Vec<(String, String)>,
    /// Extra `/etc/hosts` entries every `RUN` step sees, `(name, address)` (`--add-host`).
    pub extra_hosts: Vec<(String, String)>,
}

impl DockerfileBuild {
    /// The context path `path` as the executor resolves sources.
    pub(crate) fn context_path(&self, path: &str) -> String {
        if self.context_prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.context_prefix)
        }
    }
}

/// Lowers `build` into `graph`; returns the target stage's image action.
///
/// ```
/// use bld_dockerfile_lower::{DirectFiles, DockerfileBuild, lower_dockerfile};
///
/// let build = DockerfileBuild {
///     text: "FROM scratch\nCOPY missing.txt /\n".into(),
///     display: "app/Dockerfile".into(),
///     context: Default::default(),
///     context_dir: "app".into(),
///     files: Box::new(DirectFiles),
///     context_prefix: "app".into(),
///     target: None,
///     build_args: Vec::new(),
///     source_date_epoch: 0,
///     host_network: false,
///     named_images: Default::default(),
///     local_images: Box::new(bld_dockerfile_lower::NoLocalImages),
///     owner: bld_core::Label::new("app", "image").expect("a label"),
///     output_name: "image".into(),
///     labels: Vec::new(),
///     extra_hosts: Vec::new(),
/// };
/// let error = lower_dockerfile(&build, &mut bld_graph::ActionGraph::new()).unwrap_err();
/// assert!(error.to_string().starts_with("app/Dockerfile:2:6: COPY: source `missing.txt` not found"));
/// ```
pub fn lower_dockerfile(
    build: &DockerfileBuild,
    graph: &mut ActionGraph,
) -> Result<ActionId, LowerError> {
    let parse_error = |e| LowerError::parse(&build.display, &build.text, &e);
    let parsed = bld_dockerfile::parse(&build.text).map_err(parse_error)?;
    let stages = bld_dockerfile::stages(&parsed).map_err(parse_error)?;
    let lex = ShellLex::new(parsed.escape);
    // The global ARGs, with where they are: the instructions before the first FROM.
    let global_arg_instructions: Vec<LocatedInstruction> = parsed
        .nodes
        .iter()
        .take_while(|node| node.keyword != bld_dockerfile::Keyword::From)
        .map(LocatedInstruction::from_node)
        .collect::<Result<_, _>>()
        .map_err(parse_error)?;
    let global_args = global_args(build, &lex, &global_arg_instructions)?;
    let target = target_stage(build, &stages)?;
    Lowering::new(build, stages, lex, global_args, target).lower_target(graph)
}

/// The predefined platform ARGs, as BuildKit defines them for the host.
fn platform_args() -> Vec<(String, String)> {
    let (os, arch) = host_platform();
    let platform = format!("{os}/{arch}");
    let mut args = Vec::new();
    for prefix in ["BUILD", "TARGET"] {
        args.push((format!("{prefix}PLATFORM"), platform.clone()));
        args.push((format!("{prefix}OS"), os.to_owned()));
        args.push((format!("{prefix}ARCH"), arch.to_owned()));
        args.push((format!("{prefix}VARIANT"), String::new()));
    }
    args
}

/// The values of the global ARGs (those before the first `FROM`), over the platform ARGs:
/// `--build-arg`'s, else the default expanded with the ARGs before it.
fn global_args(
    build: &DockerfileBuild,
    lex: &ShellLex,
    instructions: &[LocatedInstruction],
) -> Result<HashMap<String, String>, LowerError> {
    let overrides: HashMap<&str, &str> = build
        .build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut values: HashMap<String, String> = platform_args().into_iter().collect();
    for located in instructions {
        let Instruction::Arg { args } = &located.instruction else {
            continue;
        };
        for arg in args {
            let value = match (overrides.get(arg.name.as_str()), &arg.default) {
                (Some(given), _) => Some((*given).to_owned()),
                (None, Some(default)) => Some(lex.process_word(default, &values).map_err(|e| {
                    let site = Site {
                        file: &build.display,
                        text: &build.text,
                        located,
                    };
                    site.error(
                        Problem::user(e.to_string())
                            .at_argument(&format!("{}={default}", arg.name)),
                    )
                })?),
                (None, None) => None,
            };
            match value {
                Some(value) => values.insert(arg.name.clone(), value),
                None => values.remove(&arg.name),
            };
        }
    }
    Ok(values)
}

/// The stage to build: `--target`'s, else the last.
fn target_stage(build: &DockerfileBuild, stages: &[Stage]) -> Result<usize, LowerError> {
    let Some(name) = &build.target else {
        return stages
            .len()
            .checked_sub(1)
            .ok_or_else(|| LowerError::whole_file(&build.display, "no FROM".to_owned()));
    };
    stages
        .iter()
        .position(|s| s.name.as_deref() == Some(name.to_lowercase().as_str()))
        .ok_or_else(|| {
            let names: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
            let names = if names.is_empty() {
                "unnamed".to_owned()
            } else {
                format!("`{}`", names.join("`, `"))
            };
            LowerError::whole_file(
                &build.display,
                format!("no stage named `{name}` (--target): the stages are {names}"),
            )
        })
}
