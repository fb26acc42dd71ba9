//! The images a Dockerfile build names that are not its stages (`FROM debian:12`,
//! `COPY --from=ghcr.io/org/tool:1`): the local store's, as with Docker, else pulled; each tag
//! that came from a registry pinned in the lock file beside the Dockerfile
//! (`Dockerfile.lock`), so that a later build uses the same manifest without the network.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bld_core::{Digest, ErrorKind, ImageReference};
use bld_dockerfile_lower::{ImageLookupError, LocalImages};
use bld_registry::{Change, Lock, Locked, Platform};
use bld_store::Store;

use crate::Failure;

/// The resolution of a build's image names, shared between the lowering (which asks) and the
/// build (which writes the lock when it changed).
pub(super) struct Resolver {
    store: Arc<Store>,
    /// Where the lock lives (none for a Dockerfile from stdin), and what it holds.
    lock_path: Option<PathBuf>,
    lock: Lock,
    /// `--pull`: ask the registry for every tag.
    pull: bool,
    /// `--locked`: refuse any change to the lock.
    locked: bool,
    platform: String,
    /// The names resolved so far in this build, so that each resolves once.
    resolved: HashMap<String, Option<Digest>>,
    changes: Vec<Change>,
}

/// A library's error as the lowering reports a lookup's.
fn failed(error: impl std::fmt::Display + bld_core::Classify) -> ImageLookupError {
    ImageLookupError {
        message: error.to_string(),
        kind: error.kind(),
    }
}

/// The [`LocalImages`] of a Dockerfile build.
pub(super) struct StoreImages(pub(super) Arc<Mutex<Resolver>>);

impl Resolver {
    /// The resolver of a build whose Dockerfile is at `dockerfile` (none from stdin).
    pub(super) fn new(
        store: &Arc<Store>,
        dockerfile: Option<PathBuf>,
        pull: bool,
        locked: bool,
    ) -> Result<Resolver, Failure> {
        let lock_path = dockerfile.map(|path| {
            let mut name = path.into_os_string();
            name.push(".lock");
            PathBuf::from(name)
        });
        if locked && lock_path.is_none() {
            return Err(Failure::user(
                "--locked needs a Dockerfile on disk, beside which its lock file lives".to_owned(),
            ));
        }
        let lock = match &lock_path {
            Some(path) => Lock::read(path)?,
            None => Lock::default(),
        };
        Ok(Resolver {
            store: Arc::clone(store),
            lock_path,
            lock,
            pull,
            locked,
            platform: Platform::host().to_string(),
            resolved: HashMap::new(),
            changes: Vec::new(),
        })
    }

    /// Writes the lock file when the build changed it, saying what changed on stderr.
    pub(super) fn write_lock(&self) -> Result<(), Failure> {
        let Some(path) = &self.lock_path else {
            return Ok(());
        };
        if self.changes.is_empty() {
            return Ok(());
        }
        self.lock.write(path)?;
        for change in &self.changes {
            eprintln!("{}: {change}", path.display());
        }
        Ok(())
    }

    fn resolve(&mut self, reference: &ImageReference) -> Result<Option<Digest>, ImageLookupError> {
        let store = Arc::clone(&self.store);
        if let Some(digest) = reference.digest {
            if store.blob_path(&digest).is_file() {
                return Ok(Some(digest));
            }
            return self.pull(reference).map(Some);
        }
        let name = reference.to_string();
        if !self.pull {
            if let Some(locked) = self.lock.get(&name, &self.platform) {
                if store.blob_path(&locked.digest).is_file() {
                    return Ok(Some(locked.digest));
                }
                // The locked manifest, by its digest: the tag may have moved since.
                let mut pinned = reference.clone();
                pinned.tag = None;
                pinned.digest = Some(locked.digest);
                return self.pull(&pinned).map(Some);
            }
            let local = store.get_tag(&name).map_err(failed)?;
            if let Some(local) = local {
                // An image this store pulled is locked as it is; one built here is not a
                // registry's and stays out of the lock.
                let served =
                    bld_registry::repo_digest(&store, &reference.name, &local).map_err(failed)?;
                if let Some(served) = served {
                    self.note(reference, local, Some(served))?;
                }
                return Ok(Some(local));
            }
        }
        let (pulled, _) =
            bld_registry::pull_and_record(&store, reference, None, &()).map_err(failed)?;
        eprintln!("Pulled {} ({})", reference.familiar(), pulled.repo_digest);
        self.note(reference, pulled.manifest, Some(pulled.repo_digest))?;
        Ok(Some(pulled.manifest))
    }

    /// Pulls `reference` (which names a digest); returns the image's manifest.
    fn pull(&self, reference: &ImageReference) -> Result<Digest, ImageLookupError> {
        let (pulled, _) =
            bld_registry::pull_and_record(&self.store, reference, None, &()).map_err(failed)?;
        eprintln!("Pulled {}", reference.familiar());
        Ok(pulled.manifest)
    }

    /// Locks `reference` to `manifest`; with `--locked`, a change is refused.
    fn note(
        &mut self,
        reference: &ImageReference,
        manifest: Digest,
        repo_digest: Option<Digest>,
    ) -> Result<(), ImageLookupError> {
        let mut lock = self.lock.clone();
        let locked = Locked {
            digest: manifest,
            repo_digest,
        };
        let Some(change) = lock.set(reference, &self.platform, locked) else {
            return Ok(());
        };
        if self.locked {
            let path = self.lock_path.clone().unwrap_or_default();
            return Err(ImageLookupError {
                message: change.refused(&path),
                kind: ErrorKind::User,
            });
        }
        self.lock = lock;
        self.changes.push(change);
        Ok(())
    }
}

impl LocalImages for StoreImages {
    fn manifest(&self, name: &str) -> Result<Option<Digest>, ImageLookupError> {
        let Ok(reference) = ImageReference::parse(name) else {
            return Ok(None);
        };
        let mut resolver = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = resolver.resolved.get(&reference.to_string()) {
            return Ok(*known);
        }
        let resolved = resolver.resolve(&reference)?;
        resolver.resolved.insert(reference.to_string(), resolved);
        Ok(resolved)
    }
}
