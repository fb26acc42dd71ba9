//! Stages and `FROM` (BuildKit's `toDispatchState` and `dispatch`): which stages the target
//! needs, each lowered once into a chain of layer actions and an image action, and every
//! instruction handed to the module of its family.

use std::collections::HashMap;

use bld_core::{HistoryStep, ImageConfigSpec, host_platform};
use bld_dockerfile::instructions::Mount;
use bld_dockerfile::{Instruction, LocatedInstruction, ShellLex, Stage};
use bld_graph::{Action, ActionGraph, ActionId, ActionKind, AssembleImage, Input};

use crate::DockerfileBuild;
use crate::copy::StageFs;
use crate::error::{LowerError, Problem, Site};
use crate::metadata::{ArgValues, StageConfig};

/// How deep stage lowering may recurse: only `--from` names with variables, which
/// [`Lowering::static_dependencies`] cannot resolve ahead, still lower a stage from within
/// another.
const MAX_NESTED_STAGES: usize = 64;

/// A lowered stage: its image action, its configuration and its filesystem.
#[derive(Clone)]
pub(crate) struct LoweredStage {
    pub(crate) image: ActionId,
    pub(crate) config: StageConfig,
    pub(crate) fs: StageFs,
    /// Whether `fs` is all the stage holds (false after a `RUN`, or on a bld image target).
    pub(crate) fs_known: bool,
}

/// What lowering a stage's instructions builds up.
pub(crate) struct StageState<'s> {
    pub(crate) config: &'s mut StageConfig,
    pub(crate) fs: &'s mut StageFs,
    pub(crate) fs_known: &'s mut bool,
    pub(crate) base: &'s Option<Input>,
    pub(crate) layers: &'s mut Vec<Input>,
    pub(crate) history: &'s mut Vec<HistoryStep>,
}

impl StageState<'_> {
    /// Adds a layer and its history entry.
    pub(crate) fn add_layer(&mut self, layer: ActionId, created_by: String) {
        self.layers.push(Input::Output(layer));
        self.history.push(crate::history::entry(created_by, false));
    }

    /// Adds a history entry without a layer.
    pub(crate) fn add_empty(&mut self, created_by: String) {
        self.history.push(crate::history::entry(created_by, true));
    }
}

/// A stage's base, as its `FROM` names it.
struct Base {
    image: Option<Input>,
    config: StageConfig,
    fs: StageFs,
    fs_known: bool,
    /// The `ONBUILD` triggers of an earlier stage built on.
    triggers: Vec<Instruction>,
}

/// The lowering of one Dockerfile.
pub(crate) struct Lowering<'a> {
    pub(crate) build: &'a DockerfileBuild,
    pub(crate) stages: Vec<Stage>,
    pub(crate) lex: ShellLex,
    pub(crate) global_args: HashMap<String, String>,
    /// Each lowered stage's image action and final config.
    lowered: HashMap<usize, LoweredStage>,
    /// The action of each local image used so far, by name.
    local: HashMap<String, Input>,
    in_progress: Vec<usize>,
    /// The stage being built.
    target: usize,
}

impl<'a> Lowering<'a> {
    /// A lowering of `stages` (parsed with `lex`) that builds `target`.
    pub(crate) fn new(
        build: &'a DockerfileBuild,
        stages: Vec<Stage>,
        lex: ShellLex,
        global_args: HashMap<String, String>,
        target: usize,
    ) -> Lowering<'a> {
        Lowering {
            build,
            stages,
            lex,
            global_args,
            local: HashMap::new(),
            lowered: HashMap::new(),
            in_progress: Vec::new(),
            target,
        }
    }

    /// Lowers what the target needs into `graph`; returns the target's image action.
    pub(crate) fn lower_target(&mut self, graph: &mut ActionGraph) -> Result<ActionId, LowerError> {
        // Stages only refer to earlier ones, so lowering what the target needs in ascending
        // order finds each stage's dependencies lowered: no recursion as deep as the chain of
        // stages.
        for needed in self.static_dependencies(self.target)? {
            self.lower_stage(needed, graph)?;
        }
        Ok(self.lower_stage(self.target, graph)?.image)
    }

    /// The base name of stage `index`, its global ARGs expanded.
    fn base_name(&self, index: usize) -> Result<String, LowerError> {
        let stage = &self.stages[index];
        self.lex
            .process_word(&stage.base, &self.global_args)
            .map_err(|e| {
                self.site_of_from(index)
                    .error(Problem::user(e.to_string()).at_argument(&stage.base))
            })
    }

    /// The `FROM` of stage `index`, as a site for errors.
    fn site_of_from(&self, index: usize) -> Site<'_> {
        Site {
            file: &self.build.display,
            text: &self.build.text,
            located: &self.stages[index].from,
        }
    }

    /// The stages `target` needs, directly or not, through its `FROM` and through `--from`
    /// names without variables (those mean the same in any environment), in ascending order.
    /// Found with a work list, not recursion, so a chain of thousands of stages is fine.
    fn static_dependencies(&self, target: usize) -> Result<Vec<usize>, LowerError> {
        let mut needed = vec![false; self.stages.len()];
        let mut pending = vec![target];
        while let Some(index) = pending.pop() {
            let mut names = vec![self.base_name(index)?];
            names.extend(self.static_from_names(&self.stages[index]));
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

    /// The names `COPY --from` and `RUN --mount=…,from=` give in `stage` without variables.
    fn static_from_names(&self, stage: &Stage) -> Vec<String> {
        let mut names = Vec::new();
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
        names
    }

    /// The stage a `FROM` or `--from` names: a stage name or index, else `None` (an image).
    /// The image `name` names when it is no stage: a bld image target (`named_images`), else
    /// a local image, given by an action made the first time it is used.
    pub(crate) fn image_named(
        &mut self,
        name: &str,
        graph: &mut ActionGraph,
    ) -> Result<Option<Input>, Problem> {
        if let Some(image) = self.build.named_images.get(name) {
            return Ok(Some(image.clone()));
        }
        if let Some(image) = self.local.get(name) {
            return Ok(Some(image.clone()));
        }
        let Some(manifest) = self
            .build
            .local_images
            .manifest(name)
            .map_err(|e| match e.kind {
                bld_core::ErrorKind::User => {
                    Problem::user(format!("cannot pull `{name}`: {}", e.message))
                }
                bld_core::ErrorKind::Internal => Problem::internal(e.message),
            })?
        else {
            return Ok(None);
        };
        let image = Input::Output(graph.add(Action {
            owner: self.build.owner.clone(),
            output_name: format!("from/{name}"),
            origin: None,
            kind: ActionKind::StoreImage(bld_graph::StoreImage { manifest }),
        }));
        self.local.insert(name.to_owned(), image.clone());
        Ok(Some(image))
    }

    pub(crate) fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_lowercase();
        if let Some(i) = self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < before)
    }

    /// Lowers stage `index` (once): its base, its base's `ONBUILD` triggers, its
    /// instructions, then its image.
    pub(crate) fn lower_stage(
        &mut self,
        index: usize,
        graph: &mut ActionGraph,
    ) -> Result<LoweredStage, LowerError> {
        if let Some(done) = self.lowered.get(&index) {
            return Ok(done.clone());
        }
        self.enter_stage(index)?;
        let stage = self.stages[index].clone();
        let Base {
            image: base,
            mut config,
            mut fs,
            mut fs_known,
            triggers,
        } = self.lower_base(index, graph)?;
        let mut layers = Vec::new();
        let mut history = Vec::new();
        // A stage built on an earlier one first runs that image's ONBUILD triggers.
        let triggers: Vec<LocatedInstruction> = triggers
            .into_iter()
            .map(|trigger| LocatedInstruction::placed_at(trigger, stage.from.position))
            .collect();
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
        let image = self.stage_image(index, base, layers, history, &config, graph);
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

    /// Marks stage `index` as being lowered; a stage that needs itself, or stages nested too
    /// deep, are errors.
    fn enter_stage(&mut self, index: usize) -> Result<(), LowerError> {
        if self.in_progress.contains(&index) {
            return Err(self.site_of_from(index).fail("stage depends on itself"));
        }
        if self.in_progress.len() >= MAX_NESTED_STAGES {
            return Err(self.site_of_from(index).fail(format!(
                "stages refer to one another more than {MAX_NESTED_STAGES} deep through `--from` names that use variables: expected fewer, or names written out"
            )));
        }
        self.in_progress.push(index);
        Ok(())
    }

    /// The base stage `index` builds on: `scratch`, an earlier stage (lowered now), or an
    /// image from outside the Dockerfile.
    fn lower_base(&mut self, index: usize, graph: &mut ActionGraph) -> Result<Base, LowerError> {
        let base_name = self.base_name(index)?;
        let mut base = if base_name == "scratch" {
            Base {
                image: None,
                config: StageConfig::scratch(),
                fs: StageFs::new(),
                fs_known: true,
                triggers: Vec::new(),
            }
        } else if let Some(earlier) = self.stage_named(&base_name, index) {
            let parent = self.lower_stage(earlier, graph)?;
            Base {
                image: Some(Input::Output(parent.image)),
                config: parent.config.inherited(),
                triggers: parent.config.triggers.clone(),
                fs: parent.fs,
                fs_known: parent.fs_known,
            }
        } else if let Some(image) = self.image_named(&base_name, graph).map_err(|problem| {
            let at = self.stages[index].base.clone();
            self.site_of_from(index).error(problem.at_argument(&at))
        })? {
            // A bld image target or a local image: its configuration and files are known only
            // once built.
            Base {
                image: Some(image),
                config: StageConfig::default(),
                fs: StageFs::new(),
                fs_known: false,
                triggers: Vec::new(),
            }
        } else {
            let stage = &self.stages[index];
            return Err(self.site_of_from(index).error(
                Problem::user(format!(
                    "`{base_name}` is not a stage or an image bld can find: build on `scratch`, an earlier stage, an image of a registry or of the local store (`bld build -t`, `bld pull`), or in a workspace a bld image target or `oci_pull` target (the `dockerfile` rule's `stages`)"
                ))
                .at_argument(&stage.base),
            ));
        };
        base.config.args = HashMap::new();
        base.config.declared_args = Vec::new();
        Ok(base)
    }

    /// The image action of a lowered stage.
    fn stage_image(
        &self,
        index: usize,
        base: Option<Input>,
        layers: Vec<Input>,
        history: Vec<HistoryStep>,
        config: &StageConfig,
        graph: &mut ActionGraph,
    ) -> ActionId {
        let build = self.build;
        let (os, architecture) = host_platform();
        let mut spec = ImageConfigSpec {
            history,
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            ..config.overlay.clone()
        };
        if index == self.target {
            // BuildKit sets `--label`s on the target's config after its instructions, with
            // no history entry.
            for (key, value) in &build.labels {
                crate::metadata::set_in_place(&mut spec.labels, key, value);
            }
        }
        let output_name = if index == self.target {
            build.output_name.clone()
        } else {
            format!("{}.stages/{index}", build.output_name)
        };
        graph.add(Action {
            owner: build.owner.clone(),
            output_name,
            origin: Some(self.site_of_from(index).location()),
            kind: ActionKind::AssembleImage(Box::new(AssembleImage {
                base,
                layers,
                config: spec,
                created: build.source_date_epoch,
            })),
        })
    }

    /// Lowers one instruction of `stage`: the family's module does the work.
    fn lower_instruction(
        &mut self,
        stage: usize,
        located: &LocatedInstruction,
        state: &mut StageState<'_>,
        graph: &mut ActionGraph,
    ) -> Result<(), LowerError> {
        let site = Site {
            file: &self.build.display,
            text: &self.build.text,
            located,
        };
        match &located.instruction {
            Instruction::Run { .. } => self.lower_run(stage, site, state, graph),
            Instruction::Copy { .. } => self.lower_copy(stage, site, state, graph),
            Instruction::Add { .. } => self.lower_add(site, state, graph),
            other => {
                let args = ArgValues {
                    global: &self.global_args,
                    given: &self.build.build_args,
                };
                let created_by = state
                    .config
                    .apply_metadata(&self.lex, other, &args)
                    .map_err(|p| site.error(p))?;
                match created_by {
                    Some(created_by) if matches!(other, Instruction::Workdir { .. }) => {
                        self.lower_workdir(site, state, graph, created_by)
                    }
                    Some(created_by) => {
                        state.add_empty(created_by);
                        Ok(())
                    }
                    None => Ok(()),
                }
            }
        }
    }
}
