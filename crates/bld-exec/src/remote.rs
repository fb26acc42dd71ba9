//! Caches past this machine: what a remote cache (a registry's or a directory's cache
//! artifact, `--cache-from`) must answer, how a hit is taken from it (every blob checked
//! against its digest before the store keeps it), and which entries a build exports
//! (`--cache-to`, `mode=min|max`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Observer;

use bld_core::Digest;
use bld_graph::{ActionGraph, ActionId, ActionKind};
use bld_store::Store;

use crate::{ActionOutput, ExecReport};

/// A cache another machine filled: action records by key, and the blobs they name.
pub trait RemoteCache: Sync {
    /// The record of the action `key` (an [`ActionOutput`] as JSON), if the cache has one.
    fn lookup(&self, key: &Digest) -> Option<Vec<u8>>;
    /// Writes the blob `digest` to `out`; why not, when it cannot.
    fn fetch(&self, digest: &Digest, out: &mut dyn Write) -> Result<(), String>;
    /// Whether the cache says it carries the blob `digest` (a `mode=min` cache carries records
    /// of actions whose blobs it does not: not fetching one of those is no failure).
    fn carries(&self, _digest: &Digest) -> bool {
        true
    }
    /// The action `key` ran here and made `output` (its blobs in `store`): a cache that takes
    /// results as they come (REAPI's) sends it, in the background.
    fn store_result(&self, _key: &Digest, _output: &ActionOutput, _store: &Store) {}
    /// Waits for what [`RemoteCache::store_result`] started.
    fn finish(&self) {}
}

/// Tells the build's observer once that a remote cache failed (the build goes on locally).
pub(crate) struct Warned<'o> {
    said: AtomicBool,
    observer: &'o dyn Observer,
}

impl<'o> Warned<'o> {
    pub(crate) fn new(observer: &'o dyn Observer) -> Warned<'o> {
        Warned {
            said: AtomicBool::new(false),
            observer,
        }
    }

    fn warn(&self, message: &str) {
        if !self.said.swap(true, Ordering::SeqCst) {
            self.observer.warning(&format!(
                "remote cache: {message}; building locally instead"
            ));
        }
    }
}

/// The output of the action `key` from `remote`: with `defer`, as the record says, its blobs
/// left on the remote until a step that runs needs them (see `satisfy::ensure_inputs`); else
/// its blobs fetched into `store` and checked against their digests (`fetched` hears of each).
/// `None` (the action then runs here) when the cache has no entry or any of it is missing or
/// does not match.
pub(crate) fn remote_hit(
    store: &Store,
    remote: &dyn RemoteCache,
    key: &Digest,
    warned: &Warned<'_>,
    defer: bool,
    fetched: &dyn Fn(&Digest),
) -> Option<ActionOutput> {
    let record = remote.lookup(key)?;
    let Ok(output) = serde_json::from_slice::<ActionOutput>(&record) else {
        warned.warn(&format!("the entry of {key} is not an action record"));
        return None;
    };
    if defer {
        return Some(output);
    }
    for digest in output.owned_blobs() {
        // One the store has is checked with the rest of the hit (`intact`).
        if store.blob_path(&digest).is_file() {
            continue;
        }
        if !fetch_blob(store, remote, &digest, warned) {
            return None;
        }
        fetched(&digest);
    }
    Some(output)
}

/// Fetches the blob `digest` from `remote` into `store`; whether it arrived as itself (bytes
/// that are not the blob are dropped, never kept as it).
pub(crate) fn fetch_blob(
    store: &Store,
    remote: &dyn RemoteCache,
    digest: &Digest,
    warned: &Warned<'_>,
) -> bool {
    remote.carries(digest)
        && fetch_checked(store, remote, digest)
            .map_err(|why| warned.warn(&why))
            .is_ok()
}

/// Fetches the blob `digest` from `remote` into `store`, checked: bytes that are not the blob
/// are dropped, never kept as it; why it did not arrive, when it did not.
pub fn fetch_checked(
    store: &Store,
    remote: &dyn RemoteCache,
    digest: &Digest,
) -> Result<(), String> {
    let mut writer = store.blob_writer().map_err(|e| e.to_string())?;
    remote
        .fetch(digest, &mut writer)
        .map_err(|why| format!("cannot fetch {digest}: {why}"))?;
    match writer.commit() {
        Ok((arrived, _)) if arrived == *digest => Ok(()),
        Ok((arrived, _)) => {
            let _ = store.remove_blob(&arrived);
            Err(format!("the blob {digest} arrived as {arrived}"))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What `--cache-to` exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Every action's record, and the blobs of what the build was asked for only: the wanted
    /// images' layers, configs and manifests, the wanted files (BuildKit's `mode=min`). A
    /// store that imports it hits every action that led to them, and makes here what a
    /// changed step needs of the rest.
    Min,
    /// Every action's record and blobs (`mode=max`).
    Max,
}

/// One action of a build as a cache holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheEntry {
    /// The action's key.
    pub key: Digest,
    /// Its record.
    pub output: ActionOutput,
    /// Whether the cache carries the blobs `output` names (else only the record).
    pub with_blobs: bool,
}

/// The cache entries of a build: one for each action `report` holds a key and output of, with
/// blobs as `mode` selects them, for the actions `wanted` of `graph`, whose blobs are in
/// `store`; sorted by key.
pub fn cache_entries(
    store: &Store,
    graph: &ActionGraph,
    report: &ExecReport,
    wanted: &[ActionId],
    mode: CacheMode,
) -> Vec<CacheEntry> {
    let needed: std::collections::HashSet<Digest> = wanted
        .iter()
        .filter_map(|id| Some((&graph.get(*id).kind, report.outputs[id.index()]?)))
        .flat_map(|(kind, output)| match kind {
            ActionKind::AssembleImage(_) => image_blobs(store, &output),
            _ => output.owned_blobs(),
        })
        .collect();
    let mut entries: Vec<CacheEntry> = report
        .keys
        .iter()
        .zip(&report.outputs)
        .filter_map(|(key, output)| Some(((*key)?, (*output)?)))
        .map(|(key, output)| CacheEntry {
            key,
            output,
            with_blobs: mode == CacheMode::Max
                || output
                    .owned_blobs()
                    .iter()
                    .all(|blob| needed.contains(blob)),
        })
        .collect();
    entries.sort_by_key(|entry| entry.key);
    entries.dedup_by_key(|entry| entry.key);
    entries
}

/// The blobs the image `output` is made of: its manifest, config and the layers its manifest
/// lists.
fn image_blobs(store: &Store, output: &ActionOutput) -> Vec<Digest> {
    let ActionOutput::Image {
        manifest, config, ..
    } = output
    else {
        return Vec::new();
    };
    let mut blobs = vec![*manifest, *config];
    if let Ok((parsed, _)) = bld_oci::read_image(store, manifest) {
        blobs.extend(
            parsed
                .layers()
                .iter()
                .filter_map(|layer| layer.digest().to_string().parse::<Digest>().ok()),
        );
    }
    blobs
}
