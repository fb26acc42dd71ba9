//! `bld pull`: an image (or, `-a`, every tag of a repository) from a registry into the local
//! store, with Docker's output.

use std::path::Path;

use bld_core::ImageReference;
use bld_registry::Platform;
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// Arguments of `bld pull`.
#[derive(Args)]
pub(crate) struct PullArgs {
    /// The image: `[HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]` (Docker Hub's when no registry is
    /// named).
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    image: String,
    /// Pull every tag of the repository.
    #[arg(long = "all-tags", short = 'a')]
    all_tags: bool,
    /// The platform to pull from a multi-platform image (`OS/ARCH[/VARIANT]`; this machine's
    /// by default).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Print only the image's full name.
    #[arg(long, short)]
    quiet: bool,
}

/// `bld pull`.
pub(crate) fn pull(args: PullArgs, store: &Path) -> Result<(), Failure> {
    let reference = ImageReference::parse(&args.image)?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let store = Store::open(store)?;
    if !args.all_tags {
        let newer = pull_one(&store, &reference, platform.as_ref(), args.quiet)?;
        if args.quiet {
            println!("{reference}");
            return Ok(());
        }
        let shown = reference.familiar();
        if newer {
            println!("Status: Downloaded newer image for {shown}");
        } else {
            println!("Status: Image is up to date for {shown}");
        }
        println!("{reference}");
        return Ok(());
    }
    if args.image.contains('@') || bld_core::split_tag(&args.image).1.is_some() {
        return Err(Failure::user(
            "tag can't be used with --all-tags/-a".to_owned(),
        ));
    }
    let tags = bld_registry::Endpoint::of(&reference)?.tags()?;
    let mut newer = false;
    for tag in tags {
        let mut tagged = reference.clone();
        tagged.tag = Some(tag);
        newer |= pull_one(&store, &tagged, platform.as_ref(), args.quiet)?;
    }
    if !args.quiet {
        let state = if newer {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        println!("Status: {state} {}", reference.familiar_name());
    }
    println!("{}", reference.name);
    Ok(())
}

/// Pulls one image, printing Docker's lines for it up to `Digest:`; returns whether the store
/// did not have it under its name before.
fn pull_one(
    store: &Store,
    reference: &ImageReference,
    platform: Option<&Platform>,
    quiet: bool,
) -> Result<bool, Failure> {
    if !quiet {
        let from = match (&reference.tag, &reference.digest) {
            (_, Some(digest)) => digest.to_string(),
            (Some(tag), None) => tag.clone(),
            (None, None) => {
                println!("Using default tag: latest");
                "latest".to_owned()
            }
        };
        // Docker names the repository within its registry.
        let path = reference
            .name
            .split_once('/')
            .map_or(reference.name.as_str(), |(_, path)| path);
        println!("{from}: Pulling from {path}");
    }
    let layers = super::transfer::Layers::new(quiet, "Downloading");
    let (pulled, newer) = bld_registry::pull_and_record(store, reference, platform, &layers)?;
    if !quiet {
        println!("Digest: {}", pulled.repo_digest);
    }
    Ok(newer)
}
