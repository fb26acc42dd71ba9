//! What a Dockerfile build writes about its image besides the image: `--iidfile` (as
//! `docker build --iidfile`) and `--metadata-file` (as `docker buildx build --metadata-file`).

use std::path::Path;

use bld_core::{Digest, ImageReference};
use bld_store::Store;

use super::BuildArgs;
use crate::{Classified, Failure};

/// Writes the files `--iidfile` and `--metadata-file` ask for.
pub(super) fn write(
    args: &BuildArgs,
    store: &Store,
    manifest: &Digest,
    config: &Digest,
    tags: &[ImageReference],
) -> Result<(), Failure> {
    if let Some(path) = &args.iidfile {
        // Docker writes the ID with no newline.
        write_file(path, "--iidfile", config.to_string().as_bytes())?;
    }
    if let Some(path) = &args.metadata_file {
        let text = metadata(store, manifest, config, tags)?;
        write_file(path, "--metadata-file", text.as_bytes())?;
    }
    Ok(())
}

/// buildx's metadata: the manifest's digest and descriptor, the config's digest, and the
/// names (comma-joined, in full as buildx gives them) when the image is tagged. Keys sorted,
/// indented by two spaces, as buildx writes it.
fn metadata(
    store: &Store,
    manifest: &Digest,
    config: &Digest,
    tags: &[ImageReference],
) -> Result<String, Failure> {
    let size = std::fs::metadata(store.blob_path(manifest))
        .internal_fault()?
        .len();
    let mut json = serde_json::json!({
        "containerimage.config.digest": config.to_string(),
        "containerimage.descriptor": {
            "digest": manifest.to_string(),
            "mediaType": bld_oci::MANIFEST_MEDIA_TYPE,
            "size": size,
        },
        "containerimage.digest": manifest.to_string(),
    });
    if !tags.is_empty() {
        let names: Vec<String> = tags.iter().map(ToString::to_string).collect();
        json["image.name"] = names.join(",").into();
    }
    Ok(serde_json::to_string_pretty(&json).expect("invariant: JSON values serialize"))
}

fn write_file(path: &Path, flag: &str, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::user(format!("{flag} `{}`: {e}", path.display())))
}
