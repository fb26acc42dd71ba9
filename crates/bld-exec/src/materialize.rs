//! Blobs a remote hit left on the remote (`Asking::defer`), brought into the store when an
//! action that runs, or an image the build was asked for, needs them: fetched from the remote
//! (checked), or made here by running their actions when the remote no longer gives them.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use bld_graph::{Action, ActionGraph, ActionId, Input};

use crate::satisfy::{Asking, Step, satisfy};
use crate::{ActionOutput, ExecContext, Failure, Outcome};

type OutputOf<'a> = &'a (dyn Fn(ActionId) -> Option<ActionOutput> + Sync);

/// Makes sure the blobs of `action`'s inputs are in the store, and for an image input those of
/// the layers and images it is made of.
pub(crate) fn ensure_inputs(step: Step<'_>, action: &Action) -> Result<(), Failure> {
    ensure(step, output_deps(action))
}

/// For the image `output` of the action `id`: that the layers and images it is made of are in
/// the store too.
pub(crate) fn ensure_made_of(
    step: Step<'_>,
    id: ActionId,
    output: &ActionOutput,
) -> Result<(), Failure> {
    match output {
        ActionOutput::Image { .. } => {
            let parts = image_parts(step.graph, id, step.output_of);
            ensure(step, parts)?;
            step.asking.complete[id.index()].store(true, Ordering::Relaxed);
            Ok(())
        }
        ActionOutput::File { .. } | ActionOutput::Layer { .. } => Ok(()),
    }
}

/// What is known of an action's output blobs.
enum Found {
    /// In the store (or just fetched).
    Here(ActionOutput),
    /// Neither here nor on the remote: its action must run here.
    Gone(ActionOutput),
    /// The action has no output in this build.
    Nothing,
}

/// Walks from `roots` without recursion (an image chain may be thousands of stages deep),
/// each step's actions side by side: their blobs fetched, an image's parts visited in turn.
/// What cannot be fetched is then made here, dependencies first (action ids are in
/// dependency order).
fn ensure(step: Step<'_>, roots: Vec<ActionId>) -> Result<(), Failure> {
    let Step {
        graph,
        context,
        output_of,
        asking,
        ..
    } = step;
    use rayon::prelude::*;
    let mut seen: HashSet<ActionId> = HashSet::new();
    let mut remake = Vec::new();
    let mut frontier = roots;
    while !frontier.is_empty() {
        frontier.retain(|dep| {
            !asking.complete[dep.index()].load(Ordering::Relaxed) && seen.insert(*dep)
        });
        let found: Vec<(ActionId, Found)> = frontier
            .par_iter()
            .map(|dep| (*dep, look(*dep, context, output_of, asking)))
            .collect();
        frontier = Vec::new();
        for (dep, found) in found {
            match found {
                Found::Here(ActionOutput::Image { .. }) => {
                    frontier.extend(image_parts(graph, dep, output_of));
                }
                Found::Here(_) | Found::Nothing => {}
                Found::Gone(output) => {
                    // Everything it reads must be here before it runs.
                    frontier.extend(output_deps(graph.get(dep)));
                    remake.push((dep, output));
                }
            }
        }
    }
    remake.sort_by_key(|(dep, _)| *dep);
    for (dep, output) in remake {
        make_here(step, dep, &output)?;
    }
    for id in seen {
        asking.complete[id.index()].store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Whether the blobs of `dep`'s output are here, fetching each missing one the remote carries.
fn look(
    dep: ActionId,
    context: &ExecContext<'_>,
    output_of: OutputOf<'_>,
    asking: &Asking<'_>,
) -> Found {
    let Some(output) = output_of(dep) else {
        return Found::Nothing;
    };
    let store = context.store;
    for digest in output.owned_blobs() {
        if store.blob_path(&digest).is_file() {
            continue;
        }
        let fetched = context
            .remote
            .is_some_and(|remote| crate::remote::fetch_blob(store, remote, &digest, asking.warned));
        if !fetched {
            return Found::Gone(output);
        }
        context
            .file_digests
            .remember_blob(&store.blob_path(&digest), &digest);
    }
    Found::Here(output)
}

/// The actions whose outputs `action` reads.
fn output_deps(action: &Action) -> Vec<ActionId> {
    action
        .inputs()
        .into_iter()
        .filter_map(|input| match input {
            Input::Output(dep) => Some(*dep),
            Input::Source(_) => None,
        })
        .collect()
}

/// What the image of action `id` is made of: its inputs that are layers or images.
fn image_parts(graph: &ActionGraph, id: ActionId, output_of: OutputOf<'_>) -> Vec<ActionId> {
    output_deps(graph.get(id))
        .into_iter()
        .filter(|dep| {
            matches!(
                output_of(*dep),
                Some(ActionOutput::Layer { .. } | ActionOutput::Image { .. })
            )
        })
        .collect()
}

/// Runs `dep` here, past both caches, because the remote no longer gives the blobs of its
/// recorded `output`; what it makes must be that output.
pub(crate) fn make_here(
    step: Step<'_>,
    dep: ActionId,
    output: &ActionOutput,
) -> Result<(), Failure> {
    let Step {
        graph,
        context,
        observer,
        asking,
        ..
    } = step;
    let this = graph.get(dep);
    let ignore = |action: &Action| std::ptr::eq(action, this) || (context.ignore_cache)(action);
    let here = ExecContext {
        workspace_root: context.workspace_root.clone(),
        store: context.store,
        file_digests: context.file_digests,
        secrets: context.secrets.clone(),
        ssh_agents: context.ssh_agents.clone(),
        ignore_cache: &ignore,
        remote: context.remote,
        keep_going: false,
    };
    let asking = Asking {
        defer: false,
        ..*asking
    };
    let here = Step {
        context: &here,
        asking: &asking,
        ..step
    };
    let (made, _, _) = satisfy(here, dep).map_err(|e| Failure::user(e.to_string()))?;
    if made != *output {
        return Err(Failure::user(format!(
            "the remote cache's output of `{}` is not what it makes here ({} against {}): build without the remote cache",
            this.output_name,
            output.identity_digest(),
            made.identity_digest()
        )));
    }
    asking.remade[dep.index()].store(true, std::sync::atomic::Ordering::Relaxed);
    observer.finished(graph, dep, Outcome::Ran);
    Ok(())
}
