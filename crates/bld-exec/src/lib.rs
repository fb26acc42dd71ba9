//! bld's executor: runs the actions an [`ActionGraph`] needs, in parallel, with content-hash
//! caching.
//!
//! Each ready action's key is computed from its definition and its inputs' digests (outputs of
//! actions that ran before it, or source files hashed through [`FileDigests`]). A key found in
//! the store's action cache whose outputs are intact is a hit; anything else runs. This is the
//! only crate that runs work in parallel.

mod container;
pub mod containers;
mod explain;
mod failure;
mod hard_links;
mod image_fs;
mod kind;
mod materialize;
mod record;
mod remote;
mod satisfy;
mod schedule;

use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, Ordering};

use bld_core::{Classify, ErrorKind, Location};
use bld_graph::{Action, ActionGraph, ActionId};
use bld_store::{FileDigests, Store};

pub use container::{ContainerRequest, reap_abandoned, run_image, stop_own_work};
pub(crate) use failure::Failure;
pub use image_fs::image_layers;
pub use kind::run_step::pack_upper;
pub use record::ActionOutput;
pub use remote::{CacheEntry, CacheMode, RemoteCache, cache_entries, fetch_checked};

/// The message of a build that was stopped.
const STOPPED: &str = "the build was stopped before it ended";

/// How an action was satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its key was in the action cache and its outputs were intact.
    Cached,
    /// Its key was in a remote cache, whose outputs were fetched and checked.
    RemoteCached,
    /// It ran.
    Ran,
}

/// Receives progress events (the CLI prints them). Called from worker threads.
pub trait Observer: Sync {
    /// An action's result is not in the cache: it starts running.
    fn started(&self, _graph: &ActionGraph, _id: ActionId) {}

    /// An action finished.
    fn finished(&self, _graph: &ActionGraph, _id: ActionId, _outcome: Outcome) {}

    /// A line a running step (`RUN`) wrote.
    fn output(&self, _graph: &ActionGraph, _id: ActionId, _line: &str) {}

    /// Something went wrong that the build goes on past (a remote cache that failed).
    fn warning(&self, _message: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// What the executor works with.
pub struct ExecContext<'a> {
    /// The workspace root, against which `Input::Source` paths resolve.
    pub workspace_root: PathBuf,
    /// The store.
    pub store: &'a Store,
    /// Cached digests of source files and store blobs.
    pub file_digests: &'a FileDigests,
    /// Secrets for `RUN --mount=type=secret`, by id: the files holding them.
    pub secrets: std::collections::HashMap<String, PathBuf>,
    /// SSH agent sockets for `RUN --mount=type=ssh`, by id (`bld build --ssh`).
    pub ssh_agents: std::collections::HashMap<String, PathBuf>,
    /// Which actions run again even when their key is in the action cache (`--no-cache`,
    /// `--no-cache-filter`); their results are still recorded. Not part of any key.
    pub ignore_cache: &'a (dyn Fn(&Action) -> bool + Sync),
    /// Asked on a miss of the store's action cache (`--cache-from`).
    pub remote: Option<&'a dyn RemoteCache>,
    /// Go on past a failure with everything that does not depend on it (`--keep-going`).
    pub keep_going: bool,
}

/// The key each action of `wanted`'s closure has now, as far as it can be known without
/// running anything: from its sources, and from what the action cache holds for its inputs'
/// keys (`None` past an action whose result is not cached). For `bld aquery`.
pub fn known_keys(
    graph: &ActionGraph,
    wanted: &[ActionId],
    context: &ExecContext<'_>,
) -> Vec<Option<bld_core::Digest>> {
    let mut outputs: Vec<Option<ActionOutput>> = vec![None; graph.len()];
    let mut keys = vec![None; graph.len()];
    for id in graph.closure(wanted) {
        let action = graph.get(id);
        let known = |dep: ActionId| outputs[dep.index()];
        let Ok(identities) = satisfy::identities(action, context, &known) else {
            continue;
        };
        let key = action.key(&|input| identities[input]).0;
        keys[id.index()] = Some(key);
        outputs[id.index()] = context
            .store
            .get_action(&key)
            .ok()
            .flatten()
            .and_then(|record| serde_json::from_slice(&record).ok());
    }
    keys
}

/// Set while no new action may start (`bld watch`: a watched file changed during a build, which
/// then ends once its running actions have).
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Stops the build in progress from starting further actions (`true`), or lets builds start
/// them again (`false`). A build that stopped short fails with [`ExecError::stopped`].
pub fn stop_starting_actions(stop: bool) {
    STOPPING.store(stop, Ordering::SeqCst);
}

fn stopping() -> bool {
    STOPPING.load(Ordering::Relaxed)
}

/// Makes every parallel part of the process (actions, RUN steps, layer compression, hashing)
/// share `jobs` threads (`--jobs`). Only the first call in a process counts.
pub fn set_jobs(jobs: usize) {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build_global();
}

/// For [`ExecContext::ignore_cache`]: every action may be a cache hit.
pub fn use_cache(_: &Action) -> bool {
    false
}

/// The result of a build.
#[derive(Debug)]
pub struct ExecReport {
    /// Each needed action's output, indexed by [`ActionId::index`].
    pub outputs: Vec<Option<ActionOutput>>,
    /// How many actions ran.
    pub ran: usize,
    /// How many were cache hits.
    pub cached: usize,
    /// How many were hits of the remote cache.
    pub remote_cached: usize,
    /// Each needed action's key, indexed by [`ActionId::index`].
    pub keys: Vec<Option<bld_core::Digest>>,
    /// How each needed action was satisfied, indexed by [`ActionId::index`].
    pub outcomes: Vec<Option<Outcome>>,
    /// Why each action that ran did (what differs from its last run), indexed by
    /// [`ActionId::index`]; empty for the others.
    pub reasons: Vec<Vec<String>>,
}

/// A failed action: which one, where it comes from, and what went wrong.
#[derive(Debug)]
pub struct ExecError {
    /// The label of the target that declared the action.
    pub owner: String,
    /// The output it was making.
    pub output: String,
    /// The instruction it comes from (a Dockerfile line), when a file's line made it.
    pub origin: Option<Box<Location>>,
    /// What went wrong.
    pub message: String,
    /// User error or internal fault.
    pub kind: ErrorKind,
    /// With [`ExecContext::keep_going`]: the build's other failures, and what it made.
    pub rest: Option<Box<KeptGoing>>,
}

/// What a build that went on past its first failure did besides.
#[derive(Debug)]
pub struct KeptGoing {
    /// The failures after the first.
    pub failures: Vec<ExecError>,
    /// How many actions were not run because they depend on a failure.
    pub skipped: usize,
    /// The outputs of what succeeded (as an [`ExecReport`] holds them).
    pub report: ExecReport,
}

impl ExecError {
    /// Whether the build failed only because it was stopped ([`stop_starting_actions`]).
    pub fn stopped(&self) -> bool {
        self.owner.is_empty() && self.message == STOPPED
    }

    fn new(action: &Action, failure: Failure) -> ExecError {
        ExecError {
            owner: action.owner.to_string(),
            output: action.output_name.clone(),
            origin: action.origin.clone().map(Box::new),
            message: failure.message,
            kind: failure.kind,
            rest: None,
        }
    }
}

impl std::fmt::Display for ExecError {
    /// `Dockerfile:3:1: RUN: …` for an instruction's action, else ``//pkg:t: cannot build
    /// `out`: …``.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Some(at) => {
                let instruction = at.text.split_whitespace().next().unwrap_or_default();
                write!(
                    f,
                    "{at}: {}: {}",
                    instruction.to_ascii_uppercase(),
                    self.message
                )
            }
            None => write!(
                f,
                "{}: cannot build `{}`: {}",
                self.owner, self.output, self.message
            ),
        }
    }
}

impl std::error::Error for ExecError {}

impl Classify for ExecError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }

    fn location(&self) -> Option<&Location> {
        self.origin.as_deref()
    }
}

/// Runs `wanted` and everything they depend on. Stops starting new actions after the first
/// failure and returns it; with [`ExecContext::keep_going`], runs everything that does not
/// depend on a failure and returns the first with the rest ([`ExecError::rest`]).
pub fn execute(
    graph: &ActionGraph,
    wanted: &[ActionId],
    context: &ExecContext<'_>,
    observer: &dyn Observer,
) -> Result<ExecReport, ExecError> {
    reap_abandoned(context.store);
    let scheduler = schedule::Scheduler::new(graph, wanted, context, observer);
    rayon::scope(|scope| scheduler.start(scope));
    scheduler.finish()
}
