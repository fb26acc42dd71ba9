//! `RUN` (BuildKit's `dispatchRun`): a step over an image of the stage so far, whose changes
//! become the stage's next layer.

use bld_core::{ImageConfigSpec, host_platform};
use bld_dockerfile::instructions::NetworkMode;
use bld_dockerfile::{CommandLine, Heredoc, Instruction};
use bld_graph::{
    Action, ActionGraph, ActionId, ActionKind, AssembleImage, Input, RunMount, RunStep,
};

use crate::error::{LowerError, Problem, Site};
use crate::metadata::StageConfig;
use crate::stages::{Lowering, StageState};

impl Lowering<'_> {
    /// Lowers the `RUN` at `site` in `stage` to a step action and adds its layer.
    pub(crate) fn lower_run(
        &mut self,
        stage: usize,
        site: Site<'_>,
        state: &mut StageState<'_>,
        graph: &mut ActionGraph,
    ) -> Result<(), LowerError> {
        let Instruction::Run {
            command,
            heredocs,
            mounts,
            network,
            ..
        } = &site.located.instruction
        else {
            return Err(site.error(Problem::internal("not a RUN")));
        };
        let build = self.build;
        let mut mounts = self.run_mounts(stage, site, mounts, state.config, graph)?;
        let args = if heredocs.is_empty() {
            state.config.command(command)
        } else {
            let (args, script) =
                heredoc_command(command, heredocs, state.config).map_err(|p| site.error(p))?;
            mounts.extend(script);
            args
        };
        // The history shows what runs, as BuildKit's does (for heredocs too).
        let created_by = crate::history::run(&args, state.config);
        let line = site.located.start_line;
        let image = self.image_so_far(state, site, graph);
        let config = &*state.config;
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
            origin: Some(site.location()),
            kind: ActionKind::RunStep(Box::new(RunStep {
                image: Input::Output(image),
                args,
                env,
                cwd: config.workdir.clone(),
                user: config.user.clone(),
                host_network: build.host_network || matches!(network, Some(NetworkMode::Host)),
                mounts,
                volumes: config.volumes.clone(),
                mtime: build.source_date_epoch,
                extra_hosts: build.extra_hosts.clone(),
            })),
        });
        *state.fs_known = false;
        state.add_layer(step, created_by);
        Ok(())
    }

    /// The image the step at `site` runs over: the base and this stage's layers and
    /// configuration so far.
    pub(crate) fn image_so_far(
        &self,
        state: &StageState<'_>,
        site: Site<'_>,
        graph: &mut ActionGraph,
    ) -> ActionId {
        let build = self.build;
        let line = site.located.start_line;
        let (os, architecture) = host_platform();
        graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!("{}.steps/line-{line}", build.output_name),
            origin: Some(site.location()),
            kind: ActionKind::AssembleImage(Box::new(AssembleImage {
                base: state.base.clone(),
                layers: state.layers.clone(),
                config: ImageConfigSpec {
                    history: state.history.clone(),
                    os: os.to_owned(),
                    architecture: architecture.to_owned(),
                    ..state.config.overlay.clone()
                },
                created: build.source_date_epoch,
            })),
        })
    }
}

/// The command of a `RUN` with heredocs, as BuildKit runs it: a command that is a single
/// heredoc starting `#!` runs as a script mounted read-only at `/dev/pipes/<name>`; a single
/// heredoc without `#!` is the shell's command; otherwise the line and the heredoc bodies go to
/// the shell, which reads them as heredocs. The bodies are not expanded (the shell does that).
/// Returns the arguments and the script's mount, if any.
fn heredoc_command(
    command: &CommandLine,
    heredocs: &[Heredoc],
    config: &StageConfig,
) -> Result<(Vec<String>, Option<RunMount>), Problem> {
    let CommandLine::Shell(line) = command else {
        return Err(Problem::user(
            "a heredoc needs the shell form of RUN (`RUN <<EOF`), not the exec form",
        ));
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
            Ok((shell(target), Some(mount)))
        }
        [script] if single => Ok((shell(script.content.clone()), None)),
        _ => Ok((shell(full), None)),
    }
}
