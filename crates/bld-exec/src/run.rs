//! Satisfying one action: compute its key, reuse a cached output that is intact, or run it.

use std::collections::HashMap;

use bld_core::{Classify, ErrorKind};
use bld_graph::{ActionGraph, ActionId, ActionKind, EntryContent, FileMode, Input, InputIdentity};
use bld_oci::{ItemKind, LayerBlob, LayerItem, assemble_image, pack_layer};

use crate::{ActionOutput, ExecContext, ExecError, Outcome};

pub(crate) fn satisfy(
    graph: &ActionGraph,
    id: ActionId,
    context: &ExecContext<'_>,
    output_of: &dyn Fn(ActionId) -> Option<ActionOutput>,
    observer: &dyn crate::Observer,
) -> Result<(ActionOutput, Outcome), ExecError> {
    let action = graph.get(id);
    let fail = |kind: ErrorKind, message: String| ExecError {
        owner: action.owner.to_string(),
        output: action.output_name.clone(),
        message,
        kind,
    };
    let dep_output = |dep: ActionId| {
        output_of(dep).ok_or_else(|| {
            fail(
                ErrorKind::Internal,
                format!("input action {dep:?} has no output"),
            )
        })
    };

    let mut identities: HashMap<&Input, InputIdentity> = HashMap::new();
    for input in action.inputs() {
        if identities.contains_key(input) {
            continue;
        }
        let identity = match input {
            Input::Source(path) => {
                let info = context
                    .file_digests
                    .get(&context.workspace_root.join(path))
                    .map_err(|e| {
                        fail(
                            ErrorKind::User,
                            format!("cannot read source file `{path}`: {e}"),
                        )
                    })?;
                InputIdentity {
                    digest: info.digest,
                    mode: info.mode,
                }
            }
            Input::Output(dep) => {
                let output = dep_output(*dep)?;
                let mode = match output {
                    ActionOutput::File {
                        executable: true, ..
                    } => 0o755,
                    ActionOutput::File { .. } => 0o644,
                    _ => 0,
                };
                InputIdentity {
                    digest: output.identity_digest(),
                    mode,
                }
            }
        };
        identities.insert(input, identity);
    }
    let key = action.key(&|input| identities[input]);
    let store = context.store;
    let internal = |e: &dyn std::fmt::Display| fail(ErrorKind::Internal, format!("{e}"));
    // The manifest of an input that must be another action's image.
    let image_of = |input: &Input, what: &str| match input {
        Input::Output(dep) => match dep_output(*dep)? {
            ActionOutput::Image { manifest, .. } => Ok(manifest),
            other => Err(internal(&format!("{what} is not an image: {other:?}"))),
        },
        Input::Source(path) => Err(internal(&format!("{what} is the source file `{path}`"))),
    };
    let step_failure = |failure: crate::step::StepFailure| match failure {
        crate::step::StepFailure::Command(message) => fail(ErrorKind::User, message),
        crate::step::StepFailure::Internal(message) => fail(ErrorKind::Internal, message),
    };

    if let Some(record) = store.get_action(&key.0).map_err(|e| internal(&e))? {
        match serde_json::from_slice::<ActionOutput>(&record) {
            Ok(output) if intact(context, &output) => return Ok((output, Outcome::Cached)),
            _ => store.remove_action(&key.0).map_err(|e| internal(&e))?,
        }
    }
    observer.started(graph, id);

    let output = match &action.kind {
        ActionKind::WriteFile {
            content,
            executable,
        } => {
            let (digest, size) = store.put_bytes(content).map_err(|e| internal(&e))?;
            ActionOutput::File {
                digest,
                size,
                executable: *executable,
            }
        }
        ActionKind::PackLayer(pack) => {
            let mut items = Vec::with_capacity(pack.entries.len());
            for entry in &pack.entries {
                let kind = match &entry.content {
                    EntryContent::File { input, mode } => {
                        let identity = identities[input];
                        let source = match input {
                            Input::Source(path) => context.workspace_root.join(path),
                            Input::Output(_) => store.blob_path(&identity.digest),
                        };
                        let mode = match mode {
                            FileMode::Exact(bits) => *bits,
                            FileMode::KeepExecutableBit if identity.mode & 0o100 != 0 => 0o755,
                            FileMode::KeepExecutableBit => 0o644,
                            FileMode::KeepPermissions => identity.mode & 0o7777,
                        };
                        ItemKind::File { source, mode }
                    }
                    EntryContent::Dir { mode } => ItemKind::Dir { mode: *mode },
                    EntryContent::Archive { input } => ItemKind::Archive {
                        source: match input {
                            Input::Source(path) => context.workspace_root.join(path),
                            Input::Output(_) => store.blob_path(&identities[input].digest),
                        },
                    },
                    EntryContent::Symlink { target } => ItemKind::Symlink {
                        target: target.clone(),
                    },
                };
                items.push(LayerItem {
                    path: entry.path.clone(),
                    kind,
                    uid: entry.uid,
                    gid: entry.gid,
                });
            }
            let blob = pack_layer(store, &items, pack.mtime)
                .map_err(|e| fail(e.kind(), error_chain(&e)))?;
            ActionOutput::from(blob)
        }
        ActionKind::CopyFromImage(copy) => {
            let manifest = image_of(&copy.image, "COPY --from")?;
            let blob =
                crate::copy_from::copy_from_image(store, &manifest, copy).map_err(step_failure)?;
            ActionOutput::from(blob)
        }
        ActionKind::FetchDebFile {
            package,
            version,
            sha256,
            path,
        } => crate::deb::fetch_deb_file(store, package, version, sha256, path)
            .map_err(step_failure)?,
        ActionKind::StoreImage { manifest } => {
            let (parsed, _) = bld_oci::read_image(store, manifest)
                .map_err(|e| fail(e.kind(), error_chain(&e)))?;
            let manifest_size = std::fs::metadata(store.blob_path(manifest))
                .map_err(|e| internal(&e))?
                .len();
            let config = parsed
                .config()
                .digest()
                .to_string()
                .parse()
                .map_err(|e| internal(&e))?;
            ActionOutput::Image {
                manifest: *manifest,
                manifest_size,
                config,
            }
        }
        ActionKind::RunStep(step) => {
            let manifest = image_of(&step.image, "the image RUN runs over")?;
            let mut images = Vec::new();
            for mount in &step.mounts {
                if let bld_graph::RunMount::BindImage { image, .. } = mount {
                    images.push(image_of(image, "a bind mount's image")?);
                }
            }
            let binds = crate::step::BindSources {
                images,
                exec_root: &context.workspace_root,
            };
            let blob = crate::step::run_step(
                store,
                &context.secrets,
                &manifest,
                step,
                &|line| observer.output(graph, id, line),
                &binds,
            )
            .map_err(step_failure)?;
            ActionOutput::from(blob)
        }
        ActionKind::AssembleImage(image) => {
            let base = image
                .base
                .as_ref()
                .map(|b| image_of(b, "the base"))
                .transpose()?;
            let mut layers = Vec::with_capacity(image.layers.len());
            for layer in &image.layers {
                match layer {
                    Input::Output(dep) => match dep_output(*dep)? {
                        ActionOutput::Layer {
                            digest,
                            size,
                            diff_id,
                        } => layers.push(LayerBlob {
                            digest,
                            size,
                            diff_id,
                        }),
                        other => return Err(internal(&format!("layer is not a layer: {other:?}"))),
                    },
                    Input::Source(path) => {
                        return Err(internal(&format!("layer `{path}` is a source file")));
                    }
                }
            }
            let blobs = assemble_image(store, base.as_ref(), &layers, &image.config, image.created)
                .map_err(|e| fail(e.kind(), error_chain(&e)))?;
            ActionOutput::Image {
                manifest: blobs.manifest,
                manifest_size: blobs.manifest_size,
                config: blobs.config,
            }
        }
    };
    for digest in output.owned_blobs() {
        context
            .file_digests
            .remember_blob(&store.blob_path(&digest), &digest);
    }
    let record = serde_json::to_vec(&output).expect("invariant: outputs serialize");
    store
        .put_action(&key.0, &record)
        .map_err(|e| internal(&e))?;
    Ok((output, Outcome::Ran))
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

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
