//! A workspace build's outputs under `bld-out/`: image layouts, files and layers, each linked
//! from the store through the file-digest cache.

use std::path::Path;

use bld_core::Digest;
use bld_exec::ActionOutput;
use bld_store::{FileDigests, Store};

use super::place_file;
use crate::{Failure, bail_internal};

/// Where a workspace build's outputs go: the store they come from, the file-digest cache
/// that links them, `bld-out/`.
pub(super) struct Placing<'a> {
    pub(super) store: &'a Store,
    pub(super) file_digests: &'a FileDigests,
    pub(super) out_dir: &'a Path,
    /// Skip the outputs the build did not make (it went on past a failure, `--keep-going`).
    pub(super) partial: bool,
}

/// Writes each target's outputs under `bld-out/`; collects the images (label, manifest, path)
/// and the `oci_push` targets' pushes.
pub(super) fn write(
    analysis: &bld_starlark::Analysis,
    report: &bld_exec::ExecReport,
    placing: &Placing<'_>,
    images: &mut Vec<(bld_core::Label, Digest, String)>,
    pushes: &mut Vec<(Digest, Vec<bld_core::ImageReference>)>,
) -> Result<(), Failure> {
    for target in &analysis.targets {
        for output in &target.outputs {
            let Some(action) = output.action else {
                continue;
            };
            let destination = placing.out_dir.join(&output.short_path);
            let made = report.outputs[action.index()];
            let unchanged = made.is_some_and(|m| placed_before(&destination, &m.identity_digest()));
            match made {
                Some(ActionOutput::Image { manifest, .. }) if unchanged => {
                    if let bld_graph::ActionKind::PushImage(push) = &analysis.graph.get(action).kind
                    {
                        pushes.push((manifest, push_references(push)?));
                    }
                    images.push((target.label.clone(), manifest, output.short_path.clone()));
                    continue;
                }
                Some(_) if unchanged => continue,
                _ => {}
            }
            match made {
                Some(ActionOutput::Image { manifest, .. }) => {
                    if let bld_graph::ActionKind::PushImage(push) = &analysis.graph.get(action).kind
                    {
                        pushes.push((manifest, push_references(push)?));
                    }
                    bld_oci::write_layout(
                        placing.store,
                        placing.file_digests,
                        &manifest,
                        &destination,
                        "latest",
                    )?;
                    images.push((target.label.clone(), manifest, output.short_path.clone()));
                }
                Some(ActionOutput::File {
                    digest, executable, ..
                }) => {
                    place_file(
                        placing.store,
                        placing.file_digests,
                        &digest,
                        &destination,
                        executable,
                    )?;
                }
                Some(ActionOutput::Layer { digest, .. }) => place_file(
                    placing.store,
                    placing.file_digests,
                    &digest,
                    &destination,
                    false,
                )?,
                None if placing.partial => {}
                None => bail_internal!("internal: {} produced no output", target.label),
            }
            if let Some(made) = made {
                placed(&destination, made.identity_digest());
            }
        }
    }
    Ok(())
}

/// What this process placed where (a `bld watch` builds again and again: an output it placed
/// and that is still there need not be checked again).
static PLACED: std::sync::Mutex<Option<std::collections::HashMap<std::path::PathBuf, Digest>>> =
    std::sync::Mutex::new(None);

fn placed(destination: &Path, digest: Digest) {
    PLACED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_default()
        .insert(destination.to_owned(), digest);
}

/// Whether this process placed `digest` at `destination`, and it is still there.
fn placed_before(destination: &Path, digest: &Digest) -> bool {
    let known = PLACED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|placed| placed.get(destination) == Some(digest));
    known && destination.exists()
}

/// Where an `oci_push` pushes: `repository:tag` for each of its tags.
fn push_references(push: &bld_graph::PushImage) -> Result<Vec<bld_core::ImageReference>, Failure> {
    push.tags
        .iter()
        .map(|tag| {
            Ok(bld_core::ImageReference::parse_tag(&format!(
                "{}:{tag}",
                push.repository
            ))?)
        })
        .collect()
}
