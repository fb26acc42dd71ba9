//! `bld push`: an image of the local store to its registry, with Docker's output.

use std::path::Path;

use bld_core::ImageReference;
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// Arguments of `bld push`.
#[derive(Args)]
pub(crate) struct PushArgs {
    /// The image: `[HOST[:PORT]/]REPOSITORY[:TAG]` as the local store tags it.
    #[arg(value_name = "NAME[:TAG]")]
    image: String,
    /// Push every tag of the repository that the local store has.
    #[arg(long = "all-tags", short = 'a')]
    all_tags: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// `bld push`.
pub(crate) fn push(args: PushArgs, store: &Path) -> Result<(), Failure> {
    let reference = ImageReference::parse_tag(&args.image)?;
    let store = Store::open(store)?;
    if !args.quiet {
        println!("The push refers to repository [{}]", reference.name);
    }
    if !args.all_tags {
        return push_one(&store, &reference, args.quiet);
    }
    if bld_core::split_tag(&args.image).1.is_some() {
        return Err(Failure::user(
            "tag can't be used with --all-tags/-a".to_owned(),
        ));
    }
    let prefix = format!("{}:", reference.name);
    let tagged: Vec<ImageReference> = store
        .tags()?
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .filter_map(|(name, _)| ImageReference::parse_tag(&name).ok())
        .collect();
    if tagged.is_empty() {
        return Err(Failure::user(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar_name()
        )));
    }
    for reference in &tagged {
        push_one(&store, reference, args.quiet)?;
    }
    Ok(())
}

/// Pushes the store's image `manifest` as `reference`, printing Docker's lines for it.
pub(crate) fn push_manifest_as(
    store: &Store,
    manifest: &bld_core::Digest,
    reference: &ImageReference,
) -> Result<(), Failure> {
    println!("The push refers to repository [{}]", reference.name);
    let layers = super::transfer::Layers::new(false, "Pushing");
    let pushed = bld_registry::push_manifest(store, manifest, reference, &layers)?;
    print_pushed(reference, &pushed);
    Ok(())
}

/// Docker's last line of a push.
fn print_pushed(reference: &ImageReference, pushed: &bld_registry::Pushed) {
    let tag = reference.tag.as_deref().unwrap_or("latest");
    println!("{tag}: digest: {} size: {}", pushed.digest, pushed.size);
}

/// Pushes one tag, printing Docker's lines for it.
pub(crate) fn push_one(
    store: &Store,
    reference: &ImageReference,
    quiet: bool,
) -> Result<(), Failure> {
    let layers = super::transfer::Layers::new(quiet, "Pushing");
    let pushed = bld_registry::push(store, reference, &layers)?;
    if !quiet {
        print_pushed(reference, &pushed);
    }
    Ok(())
}
