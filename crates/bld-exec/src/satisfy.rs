//! Satisfying one action: compute its key, reuse a cached output that is intact, or run it.

use std::collections::HashMap;

use bld_graph::{Action, ActionGraph, ActionId, Input, InputIdentity};

use crate::kind::{Run, executor};
use crate::{ActionOutput, ExecContext, ExecError, Failure, Observer, Outcome};

/// How an action may take a remote hit.
/// What satisfying an action works with: the build's graph and context, what each action
/// made so far, who hears of it, and how remote hits are taken.
#[derive(Clone, Copy)]
pub(crate) struct Step<'a> {
    pub(crate) graph: &'a ActionGraph,
    pub(crate) context: &'a ExecContext<'a>,
    pub(crate) output_of: &'a (dyn Fn(ActionId) -> Option<ActionOutput> + Sync),
    pub(crate) observer: &'a dyn Observer,
    pub(crate) asking: &'a Asking<'a>,
}

pub(crate) struct Asking<'a> {
    /// Says once that the remote failed.
    pub(crate) warned: &'a crate::remote::Warned<'a>,
    /// Leave a remote hit's blobs on the remote until an action that runs needs them (not
    /// for the wanted actions, whose outputs are written out).
    pub(crate) defer: bool,
    /// Set for each action that was a remote hit and then ran here after all (`make_here`).
    pub(crate) remade: &'a [std::sync::atomic::AtomicBool],
    /// Set for each action whose output's blobs, and for an image those of the layers and
    /// images it is made of, are known to be in the store.
    pub(crate) complete: &'a [std::sync::atomic::AtomicBool],
    /// Why each action that ran did (`explain`).
    pub(crate) reasons: &'a [std::sync::Mutex<Vec<String>>],
}

pub(crate) fn satisfy(
    step: Step<'_>,
    id: ActionId,
) -> Result<(ActionOutput, Outcome, bld_core::Digest), ExecError> {
    let Step {
        graph,
        context,
        output_of,
        asking,
        ..
    } = step;
    let action = graph.get(id);
    let fail = |failure: Failure| ExecError::new(action, failure);
    let identities = identities(action, context, output_of).map_err(fail)?;
    let key = action.key(&|input| identities[input]);
    let store = context.store;
    let lookup = !(context.ignore_cache)(action);
    if lookup && let Some(output) = local_hit(context, &key.0).map_err(fail)? {
        if !asking.defer {
            crate::materialize::ensure_made_of(step, id, &output).map_err(fail)?;
        }
        return Ok((output, Outcome::Cached, key.0));
    }
    if lookup
        && let Some(remote) = context.remote
        && let Some(output) = crate::remote::remote_hit(
            store,
            remote,
            &key.0,
            asking.warned,
            asking.defer,
            &|digest| {
                // Checked as it arrived: known intact without reading it again.
                context
                    .file_digests
                    .remember_blob(&store.blob_path(digest), digest);
            },
        )
        && (asking.defer || intact(context, &output))
    {
        if !asking.defer {
            crate::materialize::ensure_made_of(step, id, &output).map_err(fail)?;
        }
        let record = serde_json::to_vec(&output).expect("invariant: outputs serialize");
        store
            .put_action(&key.0, &record)
            .map_err(|e| fail(Failure::of(e)))?;
        return Ok((output, Outcome::RemoteCached, key.0));
    }
    let output = run_here(step, id, &identities, lookup)?;
    Ok((output, Outcome::Ran, key.0))
}

/// The action cache's intact output for `key`; a record that is not one, or whose blobs are
/// not intact, is removed.
fn local_hit(
    context: &ExecContext<'_>,
    key: &bld_core::Digest,
) -> Result<Option<ActionOutput>, Failure> {
    let Some(record) = context.store.get_action(key).map_err(Failure::of)? else {
        return Ok(None);
    };
    match serde_json::from_slice::<ActionOutput>(&record) {
        Ok(output) if intact(context, &output) => Ok(Some(output)),
        _ => {
            context.store.remove_action(key).map_err(Failure::of)?;
            Ok(None)
        }
    }
}

/// Runs the action `id` of key `key` (neither cache had it; `lookup`: they were asked), its
/// inputs brought in first; records its output and why it ran.
fn run_here(
    step: Step<'_>,
    id: ActionId,
    identities: &HashMap<&Input, InputIdentity>,
    lookup: bool,
) -> Result<ActionOutput, ExecError> {
    let Step {
        graph,
        context,
        output_of,
        observer,
        asking,
    } = step;
    let action = graph.get(id);
    let fail = |failure: Failure| ExecError::new(action, failure);
    let store = context.store;
    let key = action.key(&|input| identities[input]).0;
    crate::materialize::ensure_inputs(step, action).map_err(fail)?;
    let parts = crate::explain::parts(graph, action, &|input| identities[input]);
    *asking.reasons[id.index()]
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = crate::explain::reasons(
        store,
        &context.workspace_root,
        graph,
        action,
        &key,
        &parts,
        !lookup,
    );
    observer.started(graph, id);
    let run = Run {
        context,
        identities,
        output_of,
        on_output: &|line| observer.output(graph, id, line),
    };
    let output = executor(&action.kind).execute(&run).map_err(fail)?;
    for digest in output.owned_blobs() {
        context
            .file_digests
            .remember_blob(&store.blob_path(&digest), &digest);
    }
    let record = serde_json::to_vec(&output).expect("invariant: outputs serialize");
    store
        .put_action(&key, &record)
        .map_err(|e| fail(Failure::of(e)))?;
    crate::explain::remember(store, &context.workspace_root, action, &key, parts);
    if let Some(remote) = context.remote {
        remote.store_result(&key, &output, store);
    }
    // Made of inputs that were all here.
    asking.complete[id.index()].store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(output)
}

/// What the action sees of each input: a source's digest and mode (through the file-digest
/// cache), another action's output digest.
pub(crate) fn identities<'a>(
    action: &'a Action,
    context: &ExecContext<'_>,
    output_of: &(dyn Fn(ActionId) -> Option<ActionOutput> + Sync),
) -> Result<HashMap<&'a Input, InputIdentity>, Failure> {
    use rayon::prelude::*;
    let inputs = action.inputs();
    // Sources are hashed (or found unchanged, one `stat` each) in parallel: a `COPY .` names
    // every file of the context.
    let sources: Vec<(&'a Input, InputIdentity)> = inputs
        .par_iter()
        .filter_map(|input| match input {
            Input::Source(path) => Some((*input, path)),
            Input::Output(_) => None,
        })
        .map(|(input, path)| {
            let info = context
                .file_digests
                .get(&context.workspace_root.join(path))
                .map_err(|e| Failure::user(format!("cannot read source file `{path}`: {e}")))?;
            let identity = InputIdentity {
                digest: info.digest,
                mode: info.mode,
            };
            Ok((input, identity))
        })
        .collect::<Result<_, Failure>>()?;
    let mut identities: HashMap<&'a Input, InputIdentity> = sources.into_iter().collect();
    for input in inputs {
        let Input::Output(dep) = input else {
            continue;
        };
        let output = output_of(*dep)
            .ok_or_else(|| Failure::internal(format!("input action {dep:?} has no output")))?;
        let mode = match output {
            ActionOutput::File {
                executable: true, ..
            } => 0o755,
            ActionOutput::File { .. } => 0o644,
            ActionOutput::Layer { .. } | ActionOutput::Image { .. } => 0,
        };
        let identity = InputIdentity {
            digest: output.identity_digest(),
            mode,
        };
        identities.insert(input, identity);
    }
    Ok(identities)
}

/// Whether every blob `output` owns is present with the right content. A corrupt blob is
/// removed so that running the action again replaces it.
fn intact(context: &ExecContext<'_>, output: &ActionOutput) -> bool {
    output.owned_blobs().iter().all(|digest| {
        let path = context.store.blob_path(digest);
        let intact = context.file_digests.blob_is_intact(&path, digest);
        if !intact {
            let _ = context.store.remove_blob(digest);
        }
        intact
    })
}
