//! `bld pull`: an image from a registry into the local store, with Docker's output.

use std::path::Path;

use bld_core::ImageReference;
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// Arguments of `bld pull`.
#[derive(Args)]
pub(crate) struct PullArgs {
    /// The image: `HOST:PORT/REPOSITORY[:TAG|@DIGEST]` (a registry on this machine, over plain
    /// HTTP, so far).
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    image: String,
    /// Print only the image's full name.
    #[arg(long, short)]
    quiet: bool,
}

/// `bld pull`.
pub(crate) fn pull(args: PullArgs, store: &Path) -> Result<(), Failure> {
    let reference = ImageReference::parse(&args.image)?;
    let store = Store::open(store)?;
    let shown = reference.familiar();
    if !args.quiet {
        let from = match (&reference.tag, &reference.digest) {
            (_, Some(digest)) => digest.to_string(),
            (Some(tag), None) => tag.clone(),
            (None, None) => "latest".to_owned(),
        };
        println!("{from}: Pulling from {}", reference.familiar_name());
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
    let (pulled, newer) = bld_registry::pull_and_record(&store, &reference, &on_layer)?;
    if args.quiet {
        println!("{shown}");
        return Ok(());
    }
    println!("Digest: {}", pulled.repo_digest);
    if newer {
        println!("Status: Downloaded newer image for {shown}");
    } else {
        println!("Status: Image is up to date for {shown}");
    }
    println!("{shown}");
    Ok(())
}
