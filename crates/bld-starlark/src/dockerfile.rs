//! Lowering a Dockerfile to actions: each needed stage becomes a chain of layer actions and an
//! image action; `FROM <stage>` and `COPY --from=<stage>` are edges to that stage's image.
//! Only the stages the target needs are lowered, so a broken unused stage does not fail.

mod config;
mod copy;

use std::collections::HashMap;

use bld_core::{HistoryStep, ImageConfigSpec, Label, host_platform};
use bld_dockerfile::context::ContextTree;
use bld_dockerfile::instructions::{Mount, NetworkMode};
use bld_dockerfile::{CommandLine, Heredoc};
use bld_dockerfile::{Instruction, LocatedInstruction, ShellLex, Stage};
use bld_graph::{
    Action, ActionGraph, ActionId, ActionKind, AssembleImage, Input, RunMount, RunStep, ViewEntry,
};

use crate::FrontendError;
use config::StageConfig;
use copy::StageFs;

/// A lowered stage: its image action, its configuration and its filesystem.
#[derive(Clone)]
struct LoweredStage {
    image: ActionId,
    config: StageConfig,
    fs: StageFs,
    /// Whether `fs` is all the stage holds (false after a `RUN`, or on a bld image target).
    fs_known: bool,
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
    pub context_dir: std::path::PathBuf,
    /// Where reads of the context are recorded, inside a workspace (for the analysis cache).
    pub sources: Option<crate::sources::Sources>,
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
    /// The target owning the actions.
    pub owner: Label,
    /// The final image's output name; intermediate outputs are named after it.
    pub output_name: String,
}

/// The error for a Dockerfile problem at `line`.
fn at_line(build: &DockerfileBuild, line: usize, message: impl std::fmt::Display) -> FrontendError {
    FrontendError::user(format!("{}:{line}: {message}", build.display))
}

/// Where the instruction starting at `line` is, marking the whole line.
fn instruction_at(build: &DockerfileBuild, line: usize) -> bld_core::Location {
    let text = build
        .text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default();
    let column = text.chars().take_while(|c| c.is_whitespace()).count() + 1;
    bld_core::Location::to_line_end(&build.display, &build.text, line, column)
}

/// The command of a `RUN` with heredocs, as BuildKit runs it: a command that is a single
/// heredoc starting `#!` runs as a script mounted read-only at `/dev/pipes/<name>`; a single
/// heredoc without `#!` is the shell's command; otherwise the line and the heredoc bodies go to
/// the shell, which reads them as heredocs. The bodies are not expanded (the shell does that).
/// Returns the arguments, the full text (for history) and the script's mount, if any.
fn heredoc_command(
    command: &CommandLine,
    heredocs: &[Heredoc],
    config: &StageConfig,
) -> Result<(Vec<String>, String, Option<RunMount>), String> {
    let CommandLine::Shell(line) = command else {
        return Err(
            "a heredoc needs the shell form of RUN (`RUN <<EOF`), not the exec form".into(),
        );
    };
    let full = heredocs.iter().fold(line.clone(), |text, heredoc| {
        format!("{text}\n{}{}", heredoc.content, heredoc.name)
    });
    let shell = |text: String| config.command(&CommandLine::Shell(text));
    let single = matches!(
        bld_dockerfile::parse_heredoc_marker(line.trim()),
        Ok(Some(_))
    );
    match heredocs {
        [script] if single && script.content.starts_with("#!") => {
            let target = format!("/dev/pipes/{}", script.name);
            let mount = RunMount::Inline {
                target: target.clone(),
                content: script.content.clone(),
                mode: 0o755,
            };
            Ok((shell(target), full, Some(mount)))
        }
        [script] if single => Ok((shell(script.content.clone()), full, None)),
        _ => Ok((shell(full.clone()), full, None)),
    }
}

/// `RUN --mount`s as actions carry them: targets made absolute, defaults filled in as BuildKit
/// does.
fn run_mounts(mounts: &[Mount], config: &StageConfig) -> Result<Vec<RunMount>, String> {
    let absolute = |target: &str| config::absolute(&config.workdir, target);
    mounts
        .iter()
        .map(|mount| match mount {
            Mount::Cache(cache) => {
                if cache.from.is_some() || cache.source.is_some() {
                    return Err("RUN --mount=type=cache,from=… is not supported yet".to_owned());
                }
                let target = absolute(&cache.target);
                Ok(RunMount::Cache {
                    id: cache.id.clone().unwrap_or_else(|| target.clone()),
                    target,
                    mode: cache.mode.unwrap_or(0o755),
                    uid: cache.uid.unwrap_or(0),
                    gid: cache.gid.unwrap_or(0),
                })
            }
            Mount::Tmpfs(tmpfs) => Ok(RunMount::Tmpfs {
                target: absolute(&tmpfs.target),
                size: tmpfs.size,
            }),
            Mount::Secret(secret) => {
                if secret.env.is_some() {
                    return Err("RUN --mount=type=secret,env=… is not supported yet".to_owned());
                }
                let id = match (&secret.id, &secret.target) {
                    (Some(id), _) => id.clone(),
                    (None, Some(target)) => {
                        target.rsplit('/').next().unwrap_or_default().to_owned()
                    }
                    (None, None) => {
                        return Err("RUN --mount=type=secret needs an id or a target".to_owned());
                    }
                };
                let target = secret
                    .target
                    .as_deref()
                    .map_or_else(|| format!("/run/secrets/{id}"), absolute);
                Ok(RunMount::Secret {
                    id,
                    target,
                    required: secret.required,
                    mode: secret.mode.unwrap_or(0o400),
                    uid: secret.uid.unwrap_or(0),
                    gid: secret.gid.unwrap_or(0),
                })
            }
            Mount::Bind(_) => Err("RUN --mount=type=bind is not supported yet".to_owned()),
            Mount::Ssh(_) => {
                Err("RUN --mount=type=ssh is not supported: builds have no SSH agent".to_owned())
            }
        })
        .collect()
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

/// What lowering a stage's instructions builds up.
struct StageState<'s> {
    config: &'s mut StageConfig,
    fs: &'s mut StageFs,
    fs_known: &'s mut bool,
    base: &'s Option<Input>,
    layers: &'s mut Vec<Input>,
    history: &'s mut Vec<HistoryStep>,
}

impl StageState<'_> {
    fn add_layer(&mut self, layer: ActionId, created_by: String) {
        self.layers.push(Input::Output(layer));
        self.history.push(HistoryStep {
            created_by,
            empty_layer: false,
        });
    }
}

struct Lowering<'a> {
    build: &'a DockerfileBuild,
    stages: Vec<Stage>,
    lex: ShellLex,
    global_args: HashMap<String, String>,
    /// Each lowered stage's image action and final config.
    lowered: HashMap<usize, LoweredStage>,
    in_progress: Vec<usize>,
    /// The stage being built.
    target: usize,
}

/// Lowers `build` into `graph`; returns the target stage's image action.
pub fn lower_dockerfile(
    build: &DockerfileBuild,
    graph: &mut ActionGraph,
) -> Result<ActionId, FrontendError> {
    let parsed = bld_dockerfile::parse(&build.text)
        .map_err(|e| FrontendError::user(format!("{}:{e}", build.display)))?;
    let stages = bld_dockerfile::stages(&parsed)
        .map_err(|e| FrontendError::user(format!("{}:{e}", build.display)))?;
    let lex = ShellLex::new(parsed.escape);
    let overrides: HashMap<&str, &str> = build
        .build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut global_args: HashMap<String, String> = platform_args().into_iter().collect();
    if let Some(first) = stages.first() {
        for arg in first.global_args.iter() {
            let value = match overrides.get(arg.name.as_str()) {
                Some(v) => Some((*v).to_owned()),
                None => match &arg.default {
                    Some(default) => {
                        Some(lex.process_word(default, &global_args).map_err(|e| {
                            at_line(build, first.start_line, format!("ARG {}: {e}", arg.name))
                        })?)
                    }
                    None => None,
                },
            };
            if let Some(value) = value {
                global_args.insert(arg.name.clone(), value);
            } else {
                global_args.remove(&arg.name);
            }
        }
    }
    let target = match &build.target {
        Some(name) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(name.to_lowercase().as_str()))
            .ok_or_else(|| {
                let names: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
                FrontendError::user(format!(
                    "{}: no stage named `{name}` (--target): the stages are {}",
                    build.display,
                    if names.is_empty() {
                        "unnamed".to_owned()
                    } else {
                        format!("`{}`", names.join("`, `"))
                    }
                ))
            })?,
        None => stages
            .len()
            .checked_sub(1)
            .ok_or_else(|| FrontendError::user(format!("{}: no FROM", build.display)))?,
    };
    let mut lowering = Lowering {
        build,
        target,
        stages,
        lex,
        global_args,
        lowered: HashMap::new(),
        in_progress: Vec::new(),
    };
    // Stages only refer to earlier ones, so lowering what the target needs in ascending order
    // finds each stage's dependencies lowered: no recursion as deep as the chain of stages.
    for needed in lowering.static_dependencies(target)? {
        lowering.lower_stage(needed, graph)?;
    }
    Ok(lowering.lower_stage(target, graph)?.image)
}

/// What a `RUN --mount=type=bind` of the build context shows: the entries of the context under
/// `source` (resolved inside the context, as if its root were `/`), relative to it.
fn context_view(build: &DockerfileBuild, source: &str) -> Result<Vec<ViewEntry>, String> {
    use bld_dockerfile::context::ContextEntry;
    let resolved = build
        .context
        .resolve_in_root(source, true)
        .map_err(|e| format!("--mount source={source}: {e} in the build context"))?;
    let in_context = |path: &str| {
        Input::Source(if build.context_prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", build.context_prefix)
        })
    };
    let entry = |path: String, full: &str, entry: &ContextEntry| match entry {
        ContextEntry::Dir { mode } => ViewEntry::Dir { path, mode: *mode },
        ContextEntry::File { mode, .. } => ViewEntry::File {
            path,
            input: in_context(full),
            mode: *mode,
        },
        ContextEntry::Symlink { target } => ViewEntry::Symlink {
            path,
            target: target.clone(),
        },
    };
    match build.context.get(&resolved) {
        Some(file @ ContextEntry::File { .. }) => Ok(vec![entry(String::new(), &resolved, file)]),
        _ => Ok(build
            .context
            .descendants(&resolved)
            .map(|(full, e)| {
                let below = if resolved.is_empty() {
                    full
                } else {
                    &full[resolved.len() + 1..]
                };
                entry(below.to_owned(), full, e)
            })
            .collect()),
    }
}

/// How deep stage lowering may recurse: only `--from` names with variables, which
/// [`Lowering::static_dependencies`] cannot resolve ahead, still lower a stage from within
/// another.
const MAX_NESTED_STAGES: usize = 64;

/// Why a `type=bind` mount could not be lowered.
enum BindError {
    /// Lowering the stage it names failed.
    Lowering(FrontendError),
    /// Something about the mount itself.
    Message(String),
}

impl Lowering<'_> {
    /// A `RUN --mount=type=bind`: a directory of an earlier stage or image (`from=`), or of the
    /// build context, read-only.
    fn bind_mount(
        &mut self,
        stage: usize,
        bind: &bld_dockerfile::instructions::BindMount,
        config: &StageConfig,
        graph: &mut ActionGraph,
    ) -> Result<RunMount, BindError> {
        let build = self.build;
        let writable = !bind.read_only;
        let target = config::absolute(&config.workdir, &bind.target);
        match &bind.from {
            Some(name) => {
                let name = config.expand(&self.lex, name).map_err(BindError::Message)?;
                let image = match self.stage_named(&name, stage) {
                    Some(earlier) => Input::Output(
                        self.lower_stage(earlier, graph)
                            .map_err(BindError::Lowering)?
                            .image,
                    ),
                    None => build.named_images.get(&name).cloned().ok_or_else(|| {
                        BindError::Message(format!(
                            "--mount from={name}: no earlier stage or local image has that name"
                        ))
                    })?,
                };
                let source = bind.source.clone().unwrap_or_else(|| "/".to_owned());
                Ok(RunMount::BindImage {
                    target,
                    image,
                    source,
                    writable,
                })
            }
            None => {
                let source = bind.source.as_deref().unwrap_or(".");
                Ok(RunMount::BindContext {
                    target,
                    source: source.to_owned(),
                    entries: context_view(build, source).map_err(BindError::Message)?,
                    writable,
                })
            }
        }
    }

    /// The stages `target` needs, directly or not, through its `FROM` and through `--from`
    /// names without variables (those mean the same in any environment), in ascending order.
    /// Found with a work list, not recursion, so a chain of thousands of stages is fine.
    fn static_dependencies(&self, target: usize) -> Result<Vec<usize>, FrontendError> {
        let mut needed = vec![false; self.stages.len()];
        let mut pending = vec![target];
        while let Some(index) = pending.pop() {
            let stage = &self.stages[index];
            let base = self
                .lex
                .process_word(&stage.base, &self.global_args)
                .map_err(|e| {
                    at_line(
                        self.build,
                        stage.start_line,
                        format!("FROM {}: {e}", stage.base),
                    )
                })?;
            let mut names = vec![base];
            for located in &stage.instructions {
                let from = match &located.instruction {
                    Instruction::Copy {
                        from: Some(from), ..
                    } => vec![from],
                    Instruction::Run { mounts, .. } => mounts
                        .iter()
                        .filter_map(|mount| match mount {
                            Mount::Bind(bind) => bind.from.as_ref(),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                for name in from.into_iter().filter(|name| !name.contains('$')) {
                    if let Ok(name) = self
                        .lex
                        .process_word(name, &bld_dockerfile::shell::EmptyEnvironment)
                    {
                        names.push(name);
                    }
                }
            }
            for name in names {
                if let Some(earlier) = self.stage_named(&name, index)
                    && !std::mem::replace(&mut needed[earlier], true)
                {
                    pending.push(earlier);
                }
            }
        }
        Ok((0..target).filter(|&index| needed[index]).collect())
    }

    /// The stage a `FROM` or `--from` names: a stage name or index, else `None` (an image).
    fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_lowercase();
        if let Some(i) = self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < before)
    }

    fn lower_stage(
        &mut self,
        index: usize,
        graph: &mut ActionGraph,
    ) -> Result<LoweredStage, FrontendError> {
        if let Some(done) = self.lowered.get(&index) {
            return Ok(done.clone());
        }
        let build = self.build;
        if self.in_progress.contains(&index) {
            return Err(at_line(
                build,
                self.stages[index].start_line,
                "stage depends on itself",
            ));
        }
        if self.in_progress.len() >= MAX_NESTED_STAGES {
            return Err(at_line(
                build,
                self.stages[index].start_line,
                format!(
                    "stages refer to one another more than {MAX_NESTED_STAGES} deep through `--from` names that use variables: expected fewer, or names written out"
                ),
            ));
        }
        self.in_progress.push(index);
        let stage = self.stages[index].clone();
        let base_name = self
            .lex
            .process_word(&stage.base, &self.global_args)
            .map_err(|e| at_line(build, stage.start_line, format!("FROM {}: {e}", stage.base)))?;
        let (base, mut config, mut fs) = if base_name == "scratch" {
            (None, StageConfig::scratch(), StageFs::new())
        } else if let Some(earlier) = self.stage_named(&base_name, index) {
            let parent = self.lower_stage(earlier, graph)?;
            (
                Some(Input::Output(parent.image)),
                parent.config.inherited(),
                parent.fs,
            )
        } else if let Some(image) = build.named_images.get(&base_name) {
            // A bld image target: its configuration and files are known only once built.
            (Some(image.clone()), StageConfig::default(), StageFs::new())
        } else {
            return Err(at_line(
                build,
                stage.start_line,
                format!(
                    "FROM {base_name}: bld cannot pull images yet; build on `scratch`, an earlier stage, an image tagged in the local store (`bld build -t`), or a bld image target (the `dockerfile` rule's `stages`)"
                ),
            ));
        };
        config.args = HashMap::new();
        let mut fs_known = match self.stage_named(&base_name, index) {
            Some(earlier) if base.is_some() => self.lowered[&earlier].fs_known,
            _ => base.is_none(),
        };
        let mut layers = Vec::new();
        let mut history = Vec::new();
        // A stage built on an earlier one first runs that image's ONBUILD triggers.
        let triggers: Vec<LocatedInstruction> = match self.stage_named(&base_name, index) {
            Some(earlier) if base.is_some() => self.lowered[&earlier]
                .config
                .triggers
                .iter()
                .map(|instruction| LocatedInstruction {
                    instruction: instruction.clone(),
                    start_line: stage.start_line,
                    end_line: stage.start_line,
                })
                .collect(),
            _ => Vec::new(),
        };
        for located in triggers.iter().chain(&stage.instructions) {
            let mut state = StageState {
                config: &mut config,
                fs: &mut fs,
                fs_known: &mut fs_known,
                base: &base,
                layers: &mut layers,
                history: &mut history,
            };
            self.lower_instruction(index, located, &mut state, graph)?;
        }
        let (os, architecture) = host_platform();
        let spec = ImageConfigSpec {
            history,
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            ..config.overlay.clone()
        };
        let output_name = if index == self.target {
            build.output_name.clone()
        } else {
            format!("{}.stages/{index}", build.output_name)
        };
        let image = graph.add(Action {
            owner: build.owner.clone(),
            output_name,
            origin: None,
            kind: ActionKind::AssembleImage(Box::new(AssembleImage {
                base,
                layers,
                config: spec,
                created: build.source_date_epoch,
            })),
        });
        self.in_progress.pop();
        let lowered = LoweredStage {
            image,
            config,
            fs,
            fs_known,
        };
        self.lowered.insert(index, lowered.clone());
        Ok(lowered)
    }

    fn lower_instruction(
        &mut self,
        stage: usize,
        located: &LocatedInstruction,
        state: &mut StageState<'_>,
        graph: &mut ActionGraph,
    ) -> Result<(), FrontendError> {
        let build = self.build;
        let line = located.start_line;
        let fail = |message: String| at_line(build, line, message);
        let config = &mut *state.config;
        match &located.instruction {
            Instruction::Run {
                command,
                heredocs,
                mounts,
                network,
                ..
            } => {
                let (binds, others): (Vec<&Mount>, Vec<&Mount>) =
                    mounts.iter().partition(|m| matches!(m, Mount::Bind(_)));
                let others: Vec<Mount> = others.into_iter().cloned().collect();
                let mut mounts = run_mounts(&others, config).map_err(&fail)?;
                for bind in binds {
                    let Mount::Bind(bind) = bind else { continue };
                    mounts.push(self.bind_mount(stage, bind, config, graph).map_err(
                        |e| match e {
                            BindError::Lowering(e) => e,
                            BindError::Message(m) => fail(m),
                        },
                    )?);
                }
                let (args, text) = if heredocs.is_empty() {
                    let args = config.command(command);
                    let text = match command {
                        CommandLine::Shell(text) => text.clone(),
                        CommandLine::Exec(_) => format!("{args:?}"),
                    };
                    (args, text)
                } else {
                    let (args, text, script) =
                        heredoc_command(command, heredocs, config).map_err(&fail)?;
                    mounts.extend(script);
                    (args, text)
                };
                let (os, architecture) = host_platform();
                // The step runs over the stage so far: an image of the base and this stage's
                // layers and configuration.
                let image = graph.add(Action {
                    owner: build.owner.clone(),
                    output_name: format!("{}.steps/line-{line}", build.output_name),
                    origin: None,
                    kind: ActionKind::AssembleImage(Box::new(AssembleImage {
                        base: state.base.clone(),
                        layers: state.layers.clone(),
                        config: ImageConfigSpec {
                            history: state.history.clone(),
                            os: os.to_owned(),
                            architecture: architecture.to_owned(),
                            ..config.overlay.clone()
                        },
                        created: build.source_date_epoch,
                    })),
                });
                // ARGs are in the step's environment, under the image's ENV.
                let mut env: Vec<String> = config
                    .args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                env.sort();
                let step = graph.add(Action {
                    owner: build.owner.clone(),
                    output_name: format!("{}.layers/line-{line}.tar.gz", build.output_name),
                    origin: Some(instruction_at(build, line)),
                    kind: ActionKind::RunStep(Box::new(RunStep {
                        image: Input::Output(image),
                        args: args.clone(),
                        env,
                        cwd: config.workdir.clone(),
                        user: config.user.clone(),
                        host_network: build.host_network
                            || matches!(network, Some(NetworkMode::Host)),
                        mounts,
                        volumes: config.volumes.clone(),
                        mtime: build.source_date_epoch,
                    })),
                });
                *state.fs_known = false;

                state.add_layer(step, format!("RUN {text}"));
            }
            Instruction::Copy {
                sources,
                heredocs,
                dest,
                from,
                chown,
                chmod,
                parents,
                exclude,
                ..
            } => {
                let mut from_image = None;
                let from_stage = match from {
                    Some(name) => {
                        let name = config
                            .expand(&self.lex, name)
                            .map_err(|e| fail(format!("COPY --from: {e}")))?;
                        match self.stage_named(&name, stage) {
                            Some(earlier) => {
                                let lowered = self.lower_stage(earlier, graph)?;
                                if lowered.fs_known {
                                    Some(lowered.fs)
                                } else {
                                    // Its files are known once it is built: copy at execution.
                                    from_image = Some(Input::Output(lowered.image));
                                    None
                                }
                            }
                            None => match build.named_images.get(&name) {
                                Some(image) => {
                                    from_image = Some(image.clone());
                                    None
                                }
                                None => {
                                    return Err(fail(format!(
                                        "COPY --from={name}: no earlier stage or local image has that name or index, and bld cannot pull images yet"
                                    )));
                                }
                            },
                        }
                    }
                    None => None,
                };
                let request = copy::CopyRequest {
                    keyword: "COPY",
                    sources,
                    dest,
                    chown: chown.as_deref(),
                    chmod: chmod.as_deref(),
                    parents: *parents,
                    exclude,
                    from_stage: from_stage.as_ref(),
                    from_image,
                    heredocs,
                };
                let layers =
                    copy::lower_copy(build, &self.lex, config, state.fs, &request, line, graph)?;
                if request.from_image.is_some() {
                    *state.fs_known = false;
                }
                for (layer, created_by) in layers {
                    state.add_layer(layer, created_by);
                }
            }
            Instruction::Add {
                sources,
                heredocs,
                dest,
                chown,
                chmod,
                exclude,
                ..
            } => {
                if let Some(url) = sources
                    .iter()
                    .find(|s| s.contains("://") || s.starts_with("git@"))
                {
                    return Err(fail(format!(
                        "ADD {url}: builds are hermetic, so ADD cannot download; fetch it beforehand and ADD the file"
                    )));
                }
                let request = copy::CopyRequest {
                    keyword: "ADD",
                    sources,
                    dest,
                    chown: chown.as_deref(),
                    chmod: chmod.as_deref(),
                    parents: false,
                    exclude,
                    from_stage: None,
                    from_image: None,
                    heredocs,
                };
                let layers =
                    copy::lower_copy(build, &self.lex, config, state.fs, &request, line, graph)?;
                for (layer, created_by) in layers {
                    state.add_layer(layer, created_by);
                }
            }
            other => {
                let created_by = config
                    .apply_metadata(&self.lex, other, &self.global_args, &build.build_args)
                    .map_err(fail)?;
                if let Some(created_by) = created_by {
                    state.history.push(HistoryStep {
                        created_by,
                        empty_layer: true,
                    });
                }
            }
        }
        Ok(())
    }
}
