//! `bld save` (a `docker save` archive, or an OCI archive) and `bld load`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use bld_core::ImageReference;
use bld_oci::{ArchiveFormat, SavedImage, load_archive, save_archive};
use bld_store::Store;
use clap::{Args, ValueEnum};

use super::{LocalImage, Named, find, local_images};
use crate::destination::{Destination, write_to};
use crate::{Classified, Failure, FailureContext};

/// The archive formats `bld save` writes.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SaveFormat {
    /// `docker save`'s: `manifest.json` and `repositories` beside an OCI layout.
    Docker,
    /// An OCI image-layout archive.
    Oci,
}

/// Arguments of `bld save`.
#[derive(Args)]
pub(crate) struct SaveArgs {
    /// Images: `name:tag` (that tag), `name` (every tag of the repository), an IMAGE ID.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The archive format.
    #[arg(long, value_enum, default_value = "docker")]
    format: SaveFormat,
}

/// Arguments of `bld load`.
#[derive(Args)]
pub(crate) struct LoadArgs {
    /// Read from FILE instead of stdin (a tar, or a gzip-compressed tar).
    #[arg(long, short, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Print nothing.
    #[arg(long, short)]
    quiet: bool,
}

/// The images `texts` name, as `docker save` takes them: `name:tag` (that tag), `name` (every
/// tag of the repository), an IMAGE ID (no name); each image once, with every name it is given.
fn images_to_save(images: &[LocalImage], texts: &[String]) -> Result<Vec<SavedImage>, Failure> {
    let mut saved: Vec<SavedImage> = Vec::new();
    for text in texts {
        for (image, name) in named_images(images, text)? {
            let entry = match saved.iter_mut().find(|s| s.manifest == image.manifest) {
                Some(entry) => entry,
                None => {
                    saved.push(SavedImage {
                        manifest: image.manifest,
                        names: Vec::new(),
                    });
                    saved.last_mut().expect("invariant: just pushed")
                }
            };
            // Full names (`docker.io/library/app:1`), as skopeo writes them: podman reads a
            // short one as `localhost/…`; Docker reads either.
            if let Some(name) = name.map(|n| n.to_string())
                && !entry.names.contains(&name)
            {
                entry.names.push(name);
            }
        }
    }
    Ok(saved)
}

/// The images one argument of `bld save` names, each with the name it is saved under.
fn named_images<'a>(
    images: &'a [LocalImage],
    text: &str,
) -> Result<Vec<(&'a LocalImage, Option<ImageReference>)>, Failure> {
    // `name` without a tag means every tag of the repository, as with `docker save`.
    let repository_tags: Vec<(&LocalImage, Option<ImageReference>)> =
        match ImageReference::parse(text) {
            Ok(reference) if !text.contains('@') && bld_core::split_tag(text).1.is_none() => images
                .iter()
                .flat_map(|image| {
                    image
                        .tags
                        .iter()
                        .filter(|t| t.name == reference.name)
                        .map(move |t| (image, Some(t.clone())))
                })
                .collect(),
            _ => Vec::new(),
        };
    if !repository_tags.is_empty() {
        return Ok(repository_tags);
    }
    let (image, named) = find(images, text)?;
    let name = match named {
        Named::Tag(reference) => Some(reference),
        Named::Id => None,
    };
    Ok(vec![(image, name)])
}

/// `bld save`.
pub(crate) fn save(args: SaveArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let images = local_images(&store)?;
    let saved = images_to_save(&images, &args.images)?;
    let format = match args.format {
        SaveFormat::Docker => ArchiveFormat::Docker,
        SaveFormat::Oci => ArchiveFormat::Oci,
    };
    let dest = match &args.output {
        Some(path) => Destination::File(path.clone()),
        None => Destination::Stdout,
    };
    write_to(&dest, "-o FILE", &|out| {
        Ok(save_archive(&store, &saved, format, out)?)
    })
}

/// The archive `bld load` reads: `-i FILE`, else stdin (which must not be a terminal).
fn load_input(input: Option<&Path>) -> Result<Box<dyn Read>, Failure> {
    let Some(path) = input else {
        if std::io::stdin().is_terminal() {
            return Err(Failure::user(
                "no archive on stdin: give `-i FILE` or pipe one in",
            ));
        }
        return Ok(Box::new(std::io::stdin().lock()));
    };
    let cannot_read = || format!("cannot read `{}`", path.display());
    if path.is_dir() {
        return Err(Failure::user(format!(
            "{}: it is a directory, not an archive",
            cannot_read()
        )));
    }
    let file = std::fs::File::open(path)
        .user_error()
        .with_context(cannot_read)?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

/// `bld load`.
pub(crate) fn load(args: LoadArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let mut input = load_input(args.input.as_deref())?;
    let loaded = load_archive(&store, &mut input)?;
    // Names are checked before anything is recorded.
    let mut named = Vec::with_capacity(loaded.len());
    for image in &loaded {
        let mut references = Vec::new();
        for name in &image.names {
            let reference = ImageReference::parse_tag(name)
                .map_err(|e| Failure::user(format!("the archive names an image badly: {e}")))?;
            references.push(reference);
        }
        named.push((image, references));
    }
    let _lock = store.lock_index()?;
    for (image, references) in named {
        store.add_image(&image.manifest)?;
        for reference in &references {
            store.put_tag(&reference.to_string(), &image.manifest)?;
            if !args.quiet {
                println!("Loaded image: {}", reference.familiar());
            }
        }
        if references.is_empty() && !args.quiet {
            println!("Loaded image ID: {}", image.config);
        }
    }
    Ok(())
}
