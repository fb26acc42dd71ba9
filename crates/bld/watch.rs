//! `bld watch PATTERN…` (`bld build --watch`) and `bld run --watch TARGET`: build, then watch
//! what the build read and build again when it changes, as ibazel does.
//!
//! What is watched comes from the build itself. A workspace build: every file its analysis
//! read or checked and every directory it listed (the analysis cache's observations: a new
//! file a glob matches, or a new package, is seen too), every source its actions read, and
//! any `.star` file. A Dockerfile build: its Dockerfile and everything under its context.
//! notify watches the roots recursively; its events are debounced (a `git checkout` of many
//! files is one change: the build starts once the burst is over) and kept only when they touch
//! what the build read. A change during a
//! build stops it from starting further actions; once the running ones end, it starts again.
//! A failed build is reported and watching goes on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::Failure;

/// How long notify's debouncer waits for a path to be quiet.
const DEBOUNCE: Duration = Duration::from_millis(30);
/// How long the loop then waits for the debouncer to say nothing more (the other paths of a
/// `git checkout` come a tick or two later) before the build starts.
const QUIET: Duration = Duration::from_millis(15);

/// What a build read: the paths whose change means building again.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interest {
    /// Files the analysis read.
    pub(crate) files: HashSet<PathBuf>,
    /// Paths the analysis asked whether they are files, or where they resolve: a change to
    /// their content leaves it as it was.
    pub(crate) checked: HashSet<PathBuf>,
    /// Files the actions read (a change to one leaves the analysis as it was).
    pub(crate) sources: HashSet<PathBuf>,
    /// Directories whose entries matter (a new or removed entry counts).
    pub(crate) dirs: HashSet<PathBuf>,
    /// Trees wholly watched (a Dockerfile build's context).
    pub(crate) trees: Vec<PathBuf>,
    /// What is never of interest (`bld-out/`, the store).
    pub(crate) ignored: Vec<PathBuf>,
}

impl Interest {
    fn wants(&self, path: &Path) -> bool {
        if self.ignored.iter().any(|i| path.starts_with(i)) {
            return false;
        }
        self.sources.contains(path) || self.touches_analysis(path, false)
    }

    /// Whether a change to `path` may change the analysis (not only what an action reads);
    /// `content`: the change was to a file's content or metadata, not a new, removed or
    /// renamed entry.
    fn touches_analysis(&self, path: &Path, content: bool) -> bool {
        self.files.contains(path)
            || (!content
                && (self.checked.contains(path)
                    || path.parent().is_some_and(|dir| self.dirs.contains(dir))))
            || self.trees.iter().any(|t| path.starts_with(t))
            || path.extension().is_some_and(|e| e == "star")
    }
}

/// A watcher over `roots`, telling the loop of each change that matters.
struct Watcher {
    interest: Arc<Mutex<Interest>>,
    /// Whether a change since the last build may change the analysis.
    analysis_touched: Arc<std::sync::atomic::AtomicBool>,
    changes: mpsc::Receiver<(Instant, PathBuf)>,
    _debouncer: notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
}

impl Watcher {
    fn start(roots: &[PathBuf]) -> Result<Watcher, Failure> {
        let interest = Arc::new(Mutex::new(Interest::default()));
        let (send, changes) = mpsc::channel();
        let wanted = Arc::clone(&interest);
        let analysis_touched = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let touched = Arc::clone(&analysis_touched);
        let handler = move |result: DebounceEventResult| {
            let Ok(events) = result else {
                touched.store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            };
            let interest = wanted.lock().unwrap_or_else(|p| p.into_inner());
            let changes = || events.iter().filter(|e| !e.kind.is_access());
            let paths = || changes().flat_map(|e| e.paths.iter());
            let analysis = changes().any(|e| {
                let content = matches!(
                    e.kind,
                    notify::EventKind::Modify(
                        notify::event::ModifyKind::Data(_) | notify::event::ModifyKind::Metadata(_)
                    )
                );
                e.paths
                    .iter()
                    .any(|path| interest.touches_analysis(path, content))
            });
            if analysis {
                touched.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            if let Some(path) = paths().find(|path| interest.wants(path)) {
                // A build in progress starts nothing more; the loop builds again.
                bld_exec::stop_starting_actions(true);
                let first = events
                    .iter()
                    .map(|e| e.time)
                    .min()
                    .unwrap_or_else(Instant::now);
                let _ = send.send((first, path.clone()));
            }
        };
        let mut debouncer = new_debouncer(DEBOUNCE, None, handler)
            .map_err(|e| Failure::internal(format!("cannot watch files: {e}")))?;
        for root in roots {
            debouncer
                .watch(root, RecursiveMode::Recursive)
                .map_err(|e| Failure::user(format!("cannot watch `{}`: {e}", root.display())))?;
        }
        Ok(Watcher {
            interest,
            analysis_touched,
            changes,
            _debouncer: debouncer,
        })
    }

    /// Waits for the next change that matters, and for the burst it belongs to to end: when
    /// it was made, and a path it touched.
    fn next(&self) -> Option<(Instant, PathBuf)> {
        let first = self.changes.recv().ok()?;
        while self.changes.recv_timeout(QUIET).is_ok() {}
        Some(first)
    }

    fn want(&self, interest: Interest) {
        *self.interest.lock().unwrap_or_else(|p| p.into_inner()) = interest;
    }
}

/// Builds again and again: `build` once per change, `interest` saying after each what it
/// read. `build` returns whether it failed only because a change stopped it.
pub(crate) fn watch(
    roots: &[PathBuf],
    build: &mut dyn FnMut() -> Result<(), Failure>,
    interest: &dyn Fn() -> Interest,
) -> Result<(), Failure> {
    let watcher = Watcher::start(roots)?;
    let mut changed: Option<(Instant, PathBuf)> = None;
    loop {
        bld_exec::stop_starting_actions(false);
        // Nothing the analysis observed changed since the last build: it is taken as cached.
        let touched = watcher
            .analysis_touched
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        crate::build::trust_cached_analysis(!touched);
        watcher.want(interest());
        let started = Instant::now();
        let result = build();
        if result.is_err() {
            // The cached analysis may not be this state's: check it next time.
            watcher
                .analysis_touched
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        match result {
            Err(failure) if failure.is_stopped() => {
                eprintln!("bld watch: a file changed during the build; building again");
                changed = watcher.next().or(changed);
                continue;
            }
            Err(failure) => eprint!("{}", failure.render()),
            Ok(()) => {}
        }
        if let Some((at, path)) = &changed {
            eprintln!(
                "bld watch: `{}` changed; {:.0} ms from the change to the build's start, {:.0} ms building",
                path.display(),
                started.saturating_duration_since(*at).as_secs_f64() * 1000.0,
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        watcher.want(interest());
        eprintln!("bld watch: watching for changes (Ctrl-C to stop)");
        changed = watcher.next();
        if changed.is_none() {
            return Ok(());
        }
    }
}
