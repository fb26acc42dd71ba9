//! Loading an archive: extract, verify everything into a [`Plan`], then add the plan's blobs
//! to the store.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use bld_core::{Digest, Sha256Writer};
use bld_store::{Store, StoreError};
use serde_json::{Map, Value};

use super::extract;
use super::{
    GZIP_LEVEL, LoadedImage, bad_archive, load_docker, load_layout, unsupported_compression,
    work_read_error,
};
use crate::OciError;
use crate::gzip::GzipWriter;

pub(super) fn load_archive(
    store: &Store,
    input: &mut dyn Read,
) -> Result<Vec<LoadedImage>, OciError> {
    let work = WorkDir::create(store.temp_path("load"))?;
    let tree_dir = work.0.join("archive");
    let new_dir = work.0.join("new");
    for dir in [&tree_dir, &new_dir] {
        fs::create_dir(dir).map_err(|source| OciError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    let tree = extract::extract(input, &tree_dir)?;
    load_tree(store, &tree, new_dir, &[])
}

/// Adds the images of the OCI layout bld wrote at `dir` (blobs it fetched) to the store,
/// checked as an archive's are.
pub(super) fn load_layout_dir(
    store: &Store,
    dir: &Path,
    known: &[crate::LayerBlob],
) -> Result<Vec<LoadedImage>, OciError> {
    let work = WorkDir::create(store.temp_path("load"))?;
    load_tree(store, &extract::written_dir(dir), work.0.clone(), known)
}

/// Plans the images of `tree`, checks everything, then adds them to the store; `new_dir` takes
/// the files written while checking.
fn load_tree(
    store: &Store,
    tree: &extract::Extracted,
    new_dir: PathBuf,
    known: &[crate::LayerBlob],
) -> Result<Vec<LoadedImage>, OciError> {
    let mut plan = Plan {
        new_dir,
        files_made: 0,
        blobs: Vec::new(),
        planned: HashSet::new(),
        layers: HashMap::new(),
        known: known
            .iter()
            .map(|l| {
                let verified = VerifiedLayer {
                    digest: l.digest,
                    size: l.size,
                    diff_id: l.diff_id,
                };
                (l.digest, verified)
            })
            .collect(),
    };
    let images = if tree.has_file("index.json") {
        load_layout::plan_images(tree, &mut plan)?
    } else if tree.has_file("manifest.json") {
        load_docker::plan_images(tree, &mut plan)?
    } else {
        return Err(bad_archive(
            "it has neither `index.json` (an OCI layout) nor `manifest.json` (a docker-archive)",
        ));
    };
    if images.is_empty() {
        return Err(bad_archive("it holds no image"));
    }
    // Everything is checked before anything reaches the store: a refused archive leaves it
    // as it was.
    for name in images.iter().flat_map(|image| &image.names) {
        bld_core::ImageReference::parse_tag(name)
            .map_err(|e| bad_archive(format!("it names an image badly: {e}")))?;
    }
    plan.commit(store)?;
    Ok(images)
}

/// A private directory, removed with everything in it when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(path: PathBuf) -> Result<WorkDir, OciError> {
        fs::create_dir(&path).map_err(|source| OciError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Where a verified blob's bytes are.
enum BlobSource {
    /// A file of the extracted archive or one written while verifying.
    File(PathBuf),
    /// Bytes made while verifying (a manifest).
    Bytes(Vec<u8>),
}

/// A verified layer: its blob and the digest of its uncompressed tar.
#[derive(Debug, Clone, Copy)]
pub(super) struct VerifiedLayer {
    pub(super) digest: Digest,
    pub(super) size: u64,
    pub(super) diff_id: Digest,
}

/// Blobs verified and ready to be added to the store, in an order where nothing comes before
/// what it refers to.
pub(super) struct Plan {
    new_dir: PathBuf,
    files_made: usize,
    blobs: Vec<(Digest, BlobSource)>,
    planned: HashSet<Digest>,
    /// Layers verified so far, by blob digest (a layer shared by images is read once).
    pub(super) layers: HashMap<Digest, VerifiedLayer>,
    /// Layers the caller verified as it wrote them (a pull hashes each blob while it
    /// streams), with the diff IDs it gives: not read again.
    pub(super) known: HashMap<Digest, VerifiedLayer>,
}

impl Plan {
    /// Adds the verified file `path`, whose content is `digest`.
    pub(super) fn add_file(&mut self, digest: Digest, path: PathBuf) {
        if self.planned.insert(digest) {
            self.blobs.push((digest, BlobSource::File(path)));
        }
    }

    /// Adds `bytes` (a document bld wrote); returns their digest and size.
    pub(super) fn add_bytes(&mut self, bytes: Vec<u8>) -> (Digest, u64) {
        let digest = Digest::of(&bytes);
        let size = bytes.len() as u64;
        if self.planned.insert(digest) {
            self.blobs.push((digest, BlobSource::Bytes(bytes)));
        }
        (digest, size)
    }

    /// A new, unique path for a file written while verifying.
    pub(super) fn new_file(&mut self) -> PathBuf {
        self.files_made += 1;
        self.new_dir.join(self.files_made.to_string())
    }

    /// Adds every planned blob to the store: moved there (the work directory is on the
    /// store's filesystem), or copied when a move is not possible.
    fn commit(self, store: &Store) -> Result<(), OciError> {
        for (digest, source) in self.blobs {
            match source {
                BlobSource::Bytes(bytes) => {
                    store.put_bytes(&bytes)?;
                }
                BlobSource::File(path) => {
                    let dest = store.blob_path(&digest);
                    if fs::rename(&path, &dest).is_err() {
                        copy_into_store(store, &path, &digest)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn copy_into_store(store: &Store, path: &Path, digest: &Digest) -> Result<(), OciError> {
    let mut file = File::open(path).map_err(work_read_error(path))?;
    let mut writer = store.blob_writer()?;
    io::copy(&mut file, &mut writer).map_err(work_read_error(path))?;
    let (actual, _) = writer.commit()?;
    if actual != *digest {
        return Err(StoreError::CorruptBlob {
            expected: *digest,
            actual,
        }
        .into());
    }
    Ok(())
}

/// How a layer blob is compressed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    /// gzip (one or more members).
    Gzip,
    /// None: a plain tar.
    None,
}

/// The compression of the layer file at `physical` (the archive's `path`); zstd, xz and
/// bzip2 are refused.
pub(super) fn sniff_compression(physical: &Path, path: &str) -> Result<Compression, OciError> {
    let mut head = Vec::with_capacity(6);
    File::open(physical)
        .and_then(|file| file.take(6).read_to_end(&mut head))
        .map_err(work_read_error(physical))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Compression::Gzip);
    }
    match unsupported_compression(&head) {
        Some(name) => Err(unsupported_layer_compression(path, name)),
        None => Ok(Compression::None),
    }
}

/// Refuses the layer `path`, compressed with `name`.
pub(super) fn unsupported_layer_compression(path: &str, name: &str) -> OciError {
    bad_archive(format!(
        "layer `{path}` is {name}-compressed, which is not supported (only gzip and \
         uncompressed layers are)"
    ))
}

/// Reads the layer file at `physical` (the archive's `path`): its digest and size, and the
/// digest of its uncompressed tar. When `expected` gives the digest `referrer` says the file
/// has, a file with other content is refused as such (before any complaint about its
/// compression).
pub(super) fn hash_layer(
    physical: &Path,
    path: &str,
    compression: Compression,
    expected: Option<(&Digest, &str)>,
) -> Result<VerifiedLayer, OciError> {
    let read_error = |e| work_read_error(physical)(e);
    let mut file = bld_core::Sha256Reader::new(File::open(physical).map_err(read_error)?);
    let mut uncompressed = Sha256Writer::new(io::sink());
    let decoded = match compression {
        Compression::Gzip => {
            let mut decoder = flate2::read::MultiGzDecoder::new(&mut file);
            io::copy(&mut decoder, &mut uncompressed).map(drop)
        }
        Compression::None => io::copy(&mut file, &mut uncompressed).map(drop),
    };
    io::copy(&mut file, &mut io::sink()).map_err(read_error)?;
    let (_, digest, size) = file.finish();
    if let Some((expected, referrer)) = expected
        && digest != *expected
    {
        return Err(digest_mismatch(path, &digest, expected, referrer));
    }
    decoded.map_err(|e| match compression {
        Compression::Gzip => bad_archive(format!("layer `{path}` is not a valid gzip stream: {e}")),
        Compression::None => read_error(e),
    })?;
    let (_, diff_id, _) = uncompressed.finish();
    Ok(VerifiedLayer {
        digest,
        size,
        diff_id,
    })
}

/// Gzips the uncompressed layer at `physical` into `dest`, as bld compresses layers.
pub(super) fn gzip_layer(physical: &Path, dest: &Path) -> Result<VerifiedLayer, OciError> {
    let write_error = |source| OciError::Write {
        path: dest.to_owned(),
        source,
    };
    let mut source = File::open(physical).map_err(work_read_error(physical))?;
    let out = File::create(dest).map_err(write_error)?;
    let compressed = Sha256Writer::new(BufWriter::with_capacity(256 * 1024, out));
    let mut uncompressed =
        Sha256Writer::new(GzipWriter::new(compressed, GZIP_LEVEL).map_err(write_error)?);
    io::copy(&mut source, &mut uncompressed).map_err(write_error)?;
    let (gzip, diff_id, _) = uncompressed.finish();
    let (buffered, digest, size) = gzip.finish().map_err(write_error)?.finish();
    buffered
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    Ok(VerifiedLayer {
        digest,
        size,
        diff_id,
    })
}

/// Checks that the file at `physical` (the archive's `path`) is `size` bytes with content
/// `digest`, as `referrer` says.
pub(super) fn verify_blob(
    physical: &Path,
    path: &str,
    digest: &Digest,
    size: u64,
    referrer: &str,
) -> Result<(), OciError> {
    let actual_size = fs::metadata(physical)
        .map_err(work_read_error(physical))?
        .len();
    if actual_size != size {
        return Err(size_mismatch(path, actual_size, size, referrer));
    }
    let (actual, _) = bld_store::digest_file(physical).map_err(work_read_error(physical))?;
    if actual != *digest {
        return Err(digest_mismatch(path, &actual, digest, referrer));
    }
    Ok(())
}

pub(super) fn size_mismatch(path: &str, actual: u64, expected: u64, referrer: &str) -> OciError {
    bad_archive(format!(
        "blob `{path}` is {actual} bytes, but {referrer} says {expected}"
    ))
}

pub(super) fn digest_mismatch(
    path: &str,
    actual: &Digest,
    expected: &Digest,
    referrer: &str,
) -> OciError {
    bad_archive(format!(
        "blob `{path}` has sha256 `{actual}`, but {referrer} says `{expected}`"
    ))
}

/// The config at `path` as a JSON object, and its `rootfs.diff_ids`.
pub(super) fn parse_config(
    bytes: &[u8],
    path: &str,
) -> Result<(Map<String, Value>, Vec<Digest>), OciError> {
    let bad = |what: &str| bad_archive(format!("config `{path}` {what}"));
    let Ok(Value::Object(config)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(bad("is not a JSON object"));
    };
    let ids = config
        .get("rootfs")
        .and_then(|rootfs| rootfs.get("diff_ids"))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("has no `rootfs.diff_ids` list"))?;
    let diff_ids = ids
        .iter()
        .map(|id| id.as_str().and_then(|id| id.parse().ok()))
        .collect::<Option<Vec<Digest>>>()
        .ok_or_else(|| bad("has a `rootfs.diff_ids` entry that is not a sha256 digest"))?;
    Ok((config, diff_ids))
}

/// Refuses a layer whose uncompressed content is not the config's diff ID.
pub(super) fn check_diff_id(
    layer: &VerifiedLayer,
    expected: &Digest,
    path: &str,
    config_path: &str,
) -> Result<(), OciError> {
    if layer.diff_id != *expected {
        return Err(bad_archive(format!(
            "layer `{path}` uncompressed has sha256 `{}`, but config `{config_path}` lists \
             diff ID `{expected}`",
            layer.diff_id
        )));
    }
    Ok(())
}

/// Appends `names` to `into`, each once.
pub(super) fn add_names(into: &mut Vec<String>, names: impl IntoIterator<Item = String>) {
    for name in names {
        if !into.contains(&name) {
            into.push(name);
        }
    }
}
