//! `bld pull`: an image from a registry into the local store, with Docker's output.

use std::path::Path;

use bld_core::ImageReference;
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
    let platform = args
        .platform
        .as_deref()
        .map(bld_registry::Platform::parse)
        .transpose()?;
    let store = Store::open(store)?;
    let shown = reference.familiar();
    if !args.quiet {
        let from = match (&reference.tag, &reference.digest) {
            (_, Some(digest)) => digest.to_string(),
            (Some(tag), None) => tag.clone(),
            (None, None) => "latest".to_owned(),
        };
        if reference.tag.is_none() && reference.digest.is_none() {
            println!("Using default tag: latest");
        }
        // Docker names the repository within its registry.
        let path = reference
            .name
            .split_once('/')
            .map_or(reference.name.as_str(), |(_, path)| path);
        println!("{from}: Pulling from {path}");
    }
    let quiet = args.quiet;
    let on_layer = move |digest: &bld_core::Digest, held: bool| {
        if !quiet {
            let state = if held {
                "Already exists"
            } else {
                "Pull complete"
            };
            println!("{}: {state}", &digest.hex()[..12]);
        }
    };
    let (pulled, newer) =
        bld_registry::pull_and_record(&store, &reference, platform.as_ref(), &on_layer)?;
    if args.quiet {
        println!("{reference}");
        return Ok(());
    }
    println!("Digest: {}", pulled.repo_digest);
    if newer {
        println!("Status: Downloaded newer image for {shown}");
    } else {
        println!("Status: Image is up to date for {shown}");
    }
    println!("{reference}");
    Ok(())
}
