//! `bld save` (a `docker save` archive, or an OCI archive) and `bld load`.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use bld_core::ImageReference;
use bld_oci::{ArchiveFormat, SavedImage, load_archive, save_archive};
use bld_store::Store;
use clap::{Args, ValueEnum};

use super::{Named, find, local_images};
use crate::UserError;

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

/// `bld save`.
pub(crate) fn save(args: SaveArgs, store: &Path) -> anyhow::Result<()> {
    let store = Store::open(store)?;
    let images = local_images(&store)?;
    let mut saved: Vec<SavedImage> = Vec::new();
    for text in &args.images {
        // `name` without a tag means every tag of the repository, as with `docker save`.
        let repository_tags: Vec<(&super::LocalImage, ImageReference)> =
            match ImageReference::parse(text) {
                Ok(reference) if !text.contains('@') && bld_core::split_tag(text).1.is_none() => {
                    images
                        .iter()
                        .flat_map(|image| {
                            image
                                .tags
                                .iter()
                                .filter(|t| t.name == reference.name)
                                .map(move |t| (image, t.clone()))
                        })
                        .collect()
                }
                _ => Vec::new(),
            };
        let picked: Vec<(&super::LocalImage, Option<ImageReference>)> =
            if repository_tags.is_empty() {
                let (image, named) = find(&images, text)?;
                let name = match named {
                    Named::Tag(reference) => Some(reference),
                    Named::Id => None,
                };
                vec![(image, name)]
            } else {
                repository_tags
                    .into_iter()
                    .map(|(image, tag)| (image, Some(tag)))
                    .collect()
            };
        for (image, name) in picked {
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
    let format = match args.format {
        SaveFormat::Docker => ArchiveFormat::Docker,
        SaveFormat::Oci => ArchiveFormat::Oci,
    };
    match &args.output {
        Some(path) => {
            // Written beside the destination and renamed into place: never half-written.
            let file_name = path
                .file_name()
                .ok_or_else(|| UserError(format!("`{}` is not a file name", path.display())))?;
            let temp = path.with_file_name(format!(
                ".{}.bld-{}",
                file_name.to_string_lossy(),
                std::process::id()
            ));
            let written = (|| -> anyhow::Result<()> {
                let mut out =
                    std::io::BufWriter::new(std::fs::File::create(&temp).map_err(|e| {
                        UserError(format!("cannot write `{}`: {e}", path.display()))
                    })?);
                save_archive(&store, &saved, format, &mut out)?;
                out.flush()?;
                std::fs::rename(&temp, path)?;
                Ok(())
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            written
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(UserError(
                    "refusing to write an image archive to a terminal: give `-o FILE` or redirect stdout".into(),
                )
                .into());
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            save_archive(&store, &saved, format, &mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// `bld load`.
pub(crate) fn load(args: LoadArgs, store: &Path) -> anyhow::Result<()> {
    let store = Store::open(store)?;
    let mut input: Box<dyn Read> = match &args.input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .map_err(|e| UserError(format!("cannot read `{}`: {e}", path.display())))?,
        )),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(
                    UserError("no archive on stdin: give `-i FILE` or pipe one in".into()).into(),
                );
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let loaded = load_archive(&store, &mut input)?;
    // Names are checked before anything is recorded.
    let mut named = Vec::with_capacity(loaded.len());
    for image in &loaded {
        let mut references = Vec::new();
        for name in &image.names {
            let reference = ImageReference::parse_tag(name)
                .map_err(|e| UserError(format!("the archive names an image badly: {e}")))?;
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
