//! `bld push`: an image of the local store to its registry, with Docker's output.

use std::path::Path;

use bld_core::ImageReference;
use bld_registry::LayerPushed;
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// Arguments of `bld push`.
#[derive(Args)]
pub(crate) struct PushArgs {
    /// The image: `[HOST[:PORT]/]REPOSITORY[:TAG]` as the local store tags it.
    #[arg(value_name = "NAME[:TAG]")]
    image: String,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// `bld push`.
pub(crate) fn push(args: PushArgs, store: &Path) -> Result<(), Failure> {
    let reference = ImageReference::parse_tag(&args.image)?;
    let store = Store::open(store)?;
    if !args.quiet {
        println!(
            "The push refers to repository [{}]",
            reference.familiar_name()
        );
    }
    let quiet = args.quiet;
    let on_layer = move |digest: &bld_core::Digest, pushed: &LayerPushed| {
        if !quiet {
            let state = match pushed {
                LayerPushed::AlreadyExists => "Layer already exists".to_owned(),
                LayerPushed::Pushed => "Pushed".to_owned(),
                LayerPushed::MountedFrom(from) => format!("Mounted from {from}"),
            };
            println!("{}: {state}", &digest.hex()[..12]);
        }
    };
    let pushed = bld_registry::push(&store, &reference, &on_layer)?;
    if !args.quiet {
        let tag = reference.tag.as_deref().unwrap_or("latest");
        println!("{tag}: digest: {} size: {}", pushed.digest, pushed.size);
    }
    Ok(())
}
