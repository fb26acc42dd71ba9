//! Satisfying one action: compute its key, reuse a cached output that is intact, or run it.

use std::collections::HashMap;

use bld_graph::{Action, ActionGraph, ActionId, Input, InputIdentity};

use crate::kind::{Run, executor};
use crate::{ActionOutput, ExecContext, ExecError, Failure, Observer, Outcome};

/// How an action may take a remote hit.
pub(crate) struct Asking<'a> {
    /// Says once that the remote failed.
    pub(crate) warned: &'a crate::remote::Warned<'a>,
    /// Leave a remote hit's blobs on the remote until an action that runs needs them (not
    /// for the wanted actions, whose outputs are written out).
    pub(crate) defer: bool,
    /// Set for each action that was a remote hit and then ran here after all (`make_here`).
    pub(crate) remade: &'a [std::sync::atomic::AtomicBool],
}

pub(crate) fn satisfy(
    graph: &ActionGraph,
    id: ActionId,
    context: &ExecContext<'_>,
    output_of: &(dyn Fn(ActionId) -> Option<ActionOutput> + Sync),
    observer: &dyn Observer,
    asking: &Asking<'_>,
) -> Result<(ActionOutput, Outcome, bld_core::Digest), ExecError> {
    let action = graph.get(id);
    let fail = |failure: Failure| ExecError::new(action, failure);
    let identities = identities(action, context, output_of).map_err(fail)?;
    let key = action.key(&|input| identities[input]);
    let store = context.store;
    let lookup = !(context.ignore_cache)(action);
    if let Some(record) = lookup
        .then(|| store.get_action(&key.0))
        .transpose()
        .map_err(|e| fail(Failure::of(e)))?
        .flatten()
    {
        match serde_json::from_slice::<ActionOutput>(&record) {
            Ok(output) if intact(context, &output) => {
                if !asking.defer {
                    ensure_made_of(graph, action, &output, context, output_of, observer, asking)
                        .map_err(fail)?;
                }
                return Ok((output, Outcome::Cached, key.0));
            }
            _ => store
                .remove_action(&key.0)
                .map_err(|e| fail(Failure::of(e)))?,
        }
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
            ensure_made_of(graph, action, &output, context, output_of, observer, asking)
                .map_err(fail)?;
        }
        let record = serde_json::to_vec(&output).expect("invariant: outputs serialize");
        store
            .put_action(&key.0, &record)
            .map_err(|e| fail(Failure::of(e)))?;
        return Ok((output, Outcome::RemoteCached, key.0));
    }
    ensure_inputs(graph, action, context, output_of, observer, asking).map_err(fail)?;
    observer.started(graph, id);
    let run = Run {
        context,
        identities: &identities,
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
        .put_action(&key.0, &record)
        .map_err(|e| fail(Failure::of(e)))?;
    if let Some(remote) = context.remote {
        remote.store_result(&key.0, &output, store);
    }
    Ok((output, Outcome::Ran, key.0))
}

/// Makes sure the blobs of `action`'s inputs are in the store: remote hits leave them on the
/// remote (`Asking::defer`) until an action that runs needs them. One missing is fetched from
/// the remote (checked); one the remote no longer gives is made here by running its action.
/// An image input's layers come with it.
fn ensure_inputs(
    graph: &ActionGraph,
    action: &Action,
    context: &ExecContext<'_>,
    output_of: &(dyn Fn(ActionId) -> Option<ActionOutput> + Sync),
    observer: &dyn Observer,
    asking: &Asking<'_>,
) -> Result<(), Failure> {
    use rayon::prelude::*;
    let deps: Vec<ActionId> = action
        .inputs()
        .into_iter()
        .filter_map(|input| match input {
            Input::Output(dep) => Some(*dep),
            Input::Source(_) => None,
        })
        .collect();
    // An image's layers are fetched side by side.
    deps.par_iter().try_for_each(|dep| {
        let Some(output) = output_of(*dep) else {
            return Ok(());
        };
        let missing = output
            .owned_blobs()
            .into_iter()
            .filter(|digest| !context.store.blob_path(digest).is_file());
        let mut fetched = true;
        for digest in missing {
            fetched = fetched
                && context.remote.is_some_and(|remote| {
                    crate::remote::fetch_blob(context.store, remote, &digest, asking.warned)
                });
            if !fetched {
                break;
            }
            context
                .file_digests
                .remember_blob(&context.store.blob_path(&digest), &digest);
        }
        if fetched {
            ensure_made_of(
                graph,
                graph.get(*dep),
                &output,
                context,
                output_of,
                observer,
                asking,
            )
        } else {
            make_here(graph, *dep, &output, context, output_of, observer, asking)
        }
    })
}

/// For an image `output` of `action`: that the layers (and base images) it is made of, its
/// inputs, are in the store too.
fn ensure_made_of(
    graph: &ActionGraph,
    action: &Action,
    output: &ActionOutput,
    context: &ExecContext<'_>,
    output_of: &(dyn Fn(ActionId) -> Option<ActionOutput> + Sync),
    observer: &dyn Observer,
    asking: &Asking<'_>,
) -> Result<(), Failure> {
    match output {
        ActionOutput::Image { .. } => {
            ensure_inputs(graph, action, context, output_of, observer, asking)
        }
        ActionOutput::File { .. } | ActionOutput::Layer { .. } => Ok(()),
    }
}

/// Runs `dep` here, past both caches, because the remote no longer gives the blobs of its
/// recorded `output`; what it makes must be that output.
fn make_here(
    graph: &ActionGraph,
    dep: ActionId,
    output: &ActionOutput,
    context: &ExecContext<'_>,
    output_of: &(dyn Fn(ActionId) -> Option<ActionOutput> + Sync),
    observer: &dyn Observer,
    asking: &Asking<'_>,
) -> Result<(), Failure> {
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
    };
    let asking = Asking {
        defer: false,
        ..*asking
    };
    let (made, _, _) = satisfy(graph, dep, &here, output_of, observer, &asking)
        .map_err(|e| Failure::user(e.to_string()))?;
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

/// What the action sees of each input: a source's digest and mode (through the file-digest
/// cache), another action's output digest.
fn identities<'a>(
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
