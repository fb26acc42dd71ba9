//! `bld tag`, `bld rmi` (`bld image rm`), `bld image prune` and `bld gc`.

use bld_core::{Digest, ImageReference};
use bld_store::Store;
use clap::Args;

use super::{LocalImage, Named, find, human_size, local_images};
use crate::Failure;

/// Arguments of `bld tag`.
#[derive(Args)]
pub(crate) struct TagArgs {
    /// The image: `name[:tag]`, `name@sha256:…`, an IMAGE ID or a prefix of one.
    #[arg(value_name = "SOURCE")]
    source: String,
    /// The new name, `name[:tag]`.
    #[arg(value_name = "TARGET")]
    target: String,
}

/// Arguments of `bld rmi`.
#[derive(Args)]
pub(crate) struct RmiArgs {
    /// Images: `name[:tag]` untags; an IMAGE ID removes the image.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    /// Remove an image by ID even when several tags name it (all are removed).
    #[arg(long, short)]
    force: bool,
}

/// Arguments of `bld image prune`.
#[derive(Args)]
pub(crate) struct PruneArgs {
    /// Remove every image, tagged or not, not only the untagged ones nothing is built on.
    #[arg(long, short)]
    all: bool,
    /// Accepted for Docker compatibility: bld never asks.
    #[arg(long, short)]
    force: bool,
}

/// Arguments of `bld gc`.
#[derive(Args)]
pub(crate) struct GcArgs {}

/// `bld tag SOURCE TARGET`.
pub(crate) fn tag(args: TagArgs, store: &std::path::Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let target = ImageReference::parse_tag(&args.target)?;
    let _lock = store.lock_index()?;
    let images = local_images(&store)?;
    let (image, _) = find(&images, &args.source)?;
    store.put_tag(&target.to_string(), &image.manifest)?;
    Ok(())
}

/// Removes the image at `index` from the store's records (its tags already gone), then the
/// untagged images it was built on that nothing else is built on. Prints `Deleted:` lines.
fn delete(store: &Store, images: &mut Vec<LocalImage>, index: usize) -> Result<(), Failure> {
    let image = images.remove(index);
    untag_repo_digests(store, &image, "Untagged")?;
    store.remove_image(&image.manifest)?;
    println!("Deleted: {}", image.id);
    let parent = images
        .iter()
        .enumerate()
        .filter(|(_, other)| image.is_built_on(other))
        .max_by_key(|(_, other)| other.history().len())
        .map(|(i, _)| i);
    if let Some(parent) = parent {
        let unused = images[parent].tags.is_empty()
            && !images
                .iter()
                .any(|other| other.is_built_on(&images[parent]));
        if unused {
            delete(store, images, parent)?;
        }
    }
    Ok(())
}

/// Removes the records of what registries served for `image`, printing each with `verb`.
fn untag_repo_digests(store: &Store, image: &LocalImage, verb: &str) -> Result<(), Failure> {
    for reference in &image.repo_digests {
        store.remove_tag(&reference.to_string())?;
        println!("{verb}: {}", reference.familiar());
    }
    Ok(())
}

/// The container made from `image`, if any; unless `force`, removing what `named` names is
/// refused while one is (the image's last name, or the image itself), as Docker refuses it.
fn container_using(
    store: &Store,
    image: &LocalImage,
    named: &Named,
    text: &str,
    force: bool,
) -> Result<Option<bld_exec::containers::Container>, Failure> {
    let user = bld_exec::containers::list(store)?
        .into_iter()
        .find(|c| c.manifest == image.manifest);
    let Some(container) = user.as_ref().filter(|_| !force) else {
        return Ok(user);
    };
    let image_id = image.short_id();
    match named {
        Named::Tag(_) if image.tags.len() == 1 => Err(Failure::user(format!(
            "conflict: unable to remove repository reference \"{text}\" (must force) - container {} is using its referenced image {image_id}",
            container.short_id()
        ))),
        Named::Id => Err(Failure::user(format!(
            "conflict: unable to delete {image_id} (must be forced) - image is being used by {} container {}",
            if matches!(
                container.current_state(),
                bld_exec::containers::State::Running { .. }
            ) {
                "running"
            } else {
                "stopped"
            },
            container.short_id()
        ))),
        Named::Tag(_) => Ok(user),
    }
}

/// Removes one image or tag; returns an error message for this argument only.
fn remove_one(
    store: &Store,
    images: &mut Vec<LocalImage>,
    text: &str,
    force: bool,
) -> Result<(), Failure> {
    let (image, named) = match find(images, text) {
        Ok(found) => found,
        Err(e) => {
            // A tag whose record is damaged, or whose image is gone: untag it all the same.
            if let Ok(reference) = ImageReference::parse(text)
                && reference.digest.is_none()
                && store.has_tag_record(&reference.to_string())
            {
                store.remove_tag(&reference.to_string())?;
                println!("Untagged: {}", reference.familiar());
                return Ok(());
            }
            return Err(e);
        }
    };
    let manifest = image.manifest;
    let index = images
        .iter()
        .position(|i| i.manifest == manifest)
        .expect("invariant: find returned one of these images");
    let children = images.iter().any(|other| other.is_built_on(&images[index]));
    // A container made from it keeps it (and, unless forced, its last name), as with Docker.
    let user = container_using(store, &images[index], &named, text, force)?;
    match named {
        Named::Tag(reference) => {
            store.remove_tag(&reference.to_string())?;
            println!("Untagged: {}", reference.familiar());
            images[index].tags.retain(|t| *t != reference);
            if images[index].tags.is_empty() && !children && user.is_none() {
                delete(store, images, index)?;
            }
        }
        Named::Id => {
            let image = &images[index];
            if let Some(user) = user.filter(|u| {
                matches!(
                    u.current_state(),
                    bld_exec::containers::State::Running { .. }
                )
            }) {
                return Err(Failure::user(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    image.short_id(),
                    user.short_id()
                )));
            }
            if children {
                return Err(Failure::user(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    image.short_id()
                )));
            }
            if image.tags.len() > 1 && !force {
                let names: Vec<String> = image.tags.iter().map(|t| t.familiar()).collect();
                return Err(Failure::user(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories: {}",
                    image.short_id(),
                    names.join(", ")
                )));
            }
            for reference in std::mem::take(&mut images[index].tags) {
                store.remove_tag(&reference.to_string())?;
                println!("Untagged: {}", reference.familiar());
            }
            delete(store, images, index)?;
        }
    }
    Ok(())
}

/// `bld rmi`: each argument in turn; the ones that fail are reported and make the exit code 1.
pub(crate) fn rmi(args: RmiArgs, store: &std::path::Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let _lock = store.lock_index()?;
    let mut images = local_images(&store)?;
    let mut failures = Vec::new();
    for text in &args.images {
        if let Err(e) = remove_one(&store, &mut images, text, args.force) {
            failures.push(e);
        }
    }
    Failure::all(failures, "\nerror: ")
}

/// Frees the blobs no kept image refers to, with the store to ourselves; returns bytes freed.
fn collect_garbage(store: &Store) -> Result<bld_store::GcReport, Failure> {
    store.lock_exclusive(&|| {
        eprintln!("waiting for the other bld processes using the store to finish…");
    })?;
    let _lock = store.lock_index()?;
    let mut keep: Vec<Digest> = store.images()?;
    keep.extend(store.tags()?.into_iter().map(|(_, manifest)| manifest));
    // A container's image stays as long as the container.
    keep.extend(
        bld_exec::containers::list(store)?
            .into_iter()
            .map(|c| c.manifest),
    );
    Ok(store.collect_garbage(&keep)?)
}

/// `bld image prune`: untagged images nothing is built on (with `--all`, every image), then
/// the blobs nothing refers to any more.
pub(crate) fn prune(args: PruneArgs, store: &std::path::Path) -> Result<(), Failure> {
    let _ = args.force;
    let store = Store::open(store)?;
    {
        let _lock = store.lock_index()?;
        let mut images = local_images(&store)?;
        let mut header = false;
        loop {
            let next = images.iter().position(|image| {
                (args.all || (image.tags.is_empty() && image.repo_digests.is_empty()))
                    && !images.iter().any(|other| other.is_built_on(image))
            });
            let Some(index) = next else { break };
            if !header {
                println!("Deleted Images:");
                header = true;
            }
            for reference in std::mem::take(&mut images[index].tags) {
                store.remove_tag(&reference.to_string())?;
                println!("untagged: {}", reference.familiar());
            }
            let image = images.remove(index);
            untag_repo_digests(&store, &image, "untagged")?;
            store.remove_image(&image.manifest)?;
            println!("deleted: {}", image.id);
        }
        if header {
            println!();
        }
    }
    let report = collect_garbage(&store)?;
    println!("Total reclaimed space: {}", human_size(report.bytes));
    Ok(())
}

/// `bld gc`: frees the blobs, unpacked layers and cache entries no kept image refers to.
pub(crate) fn gc(_args: GcArgs, store: &std::path::Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let report = collect_garbage(&store)?;
    println!(
        "Removed {} blobs, {} unpacked layers and {} action cache entries. Total reclaimed space: {}",
        report.blobs,
        report.unpacked,
        report.actions,
        human_size(report.bytes)
    );
    Ok(())
}
