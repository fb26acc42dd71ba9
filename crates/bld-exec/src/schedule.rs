//! The scheduler: each action starts as soon as its last dependency is satisfied, on rayon's
//! pool; what each made, its key and how it was satisfied are kept by action.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bld_core::Digest;
use bld_graph::{ActionGraph, ActionId};

use crate::{
    ActionOutput, ExecContext, ExecError, ExecReport, KeptGoing, Observer, Outcome, remote, satisfy,
};

/// What is known of one action of the build.
#[derive(Default, Clone, Copy)]
struct Slot {
    output: Option<ActionOutput>,
    key: Option<Digest>,
    outcome: Option<Outcome>,
}

pub(crate) struct Scheduler<'s> {
    graph: &'s ActionGraph,
    context: &'s ExecContext<'s>,
    observer: &'s dyn Observer,
    /// The actions the wanted ones need, in dependency order.
    needed: Vec<ActionId>,
    in_closure: Vec<bool>,
    /// Whether each action is one the build was asked for.
    wanted: Vec<bool>,
    /// How many of each action's dependencies are not yet satisfied.
    pending: Vec<AtomicUsize>,
    slots: Vec<Mutex<Slot>>,
    failed: AtomicBool,
    errors: Mutex<Vec<ExecError>>,
    warned: remote::Warned<'s>,
    remade: Vec<AtomicBool>,
    complete: Vec<AtomicBool>,
    reasons: Vec<Mutex<Vec<String>>>,
}

fn flags(count: usize) -> Vec<AtomicBool> {
    (0..count).map(|_| AtomicBool::new(false)).collect()
}

impl<'s> Scheduler<'s> {
    pub(crate) fn new(
        graph: &'s ActionGraph,
        wanted: &[ActionId],
        context: &'s ExecContext<'s>,
        observer: &'s dyn Observer,
    ) -> Scheduler<'s> {
        let needed = graph.closure(wanted);
        let mut in_closure = vec![false; graph.len()];
        for id in &needed {
            in_closure[id.index()] = true;
        }
        let mut is_wanted = vec![false; graph.len()];
        for id in wanted {
            is_wanted[id.index()] = true;
        }
        let pending = (0..graph.len())
            .map(|i| {
                let count = if in_closure[i] {
                    graph.dependencies(ActionId::from_index(i)).len()
                } else {
                    0
                };
                AtomicUsize::new(count)
            })
            .collect();
        Scheduler {
            graph,
            context,
            observer,
            needed,
            in_closure,
            wanted: is_wanted,
            pending,
            slots: (0..graph.len()).map(|_| Mutex::default()).collect(),
            failed: AtomicBool::new(false),
            errors: Mutex::new(Vec::new()),
            warned: remote::Warned::new(observer),
            remade: flags(graph.len()),
            complete: flags(graph.len()),
            reasons: (0..graph.len()).map(|_| Mutex::default()).collect(),
        }
    }

    /// Spawns every needed action that depends on nothing.
    pub(crate) fn start<'scope>(&'scope self, scope: &rayon::Scope<'scope>)
    where
        's: 'scope,
    {
        for id in &self.needed {
            if self.pending[id.index()].load(Ordering::Relaxed) == 0 {
                self.spawn(scope, *id);
            }
        }
    }

    fn slot(&self, id: ActionId) -> std::sync::MutexGuard<'_, Slot> {
        self.slots[id.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn spawn<'scope>(&'scope self, scope: &rayon::Scope<'scope>, id: ActionId)
    where
        's: 'scope,
    {
        scope.spawn(move |scope| {
            if self.failed.load(Ordering::Relaxed) || crate::stopping() {
                return;
            }
            let output_of = |dep: ActionId| self.slot(dep).output;
            let asking = satisfy::Asking {
                warned: &self.warned,
                defer: !self.wanted[id.index()],
                remade: &self.remade,
                complete: &self.complete,
                reasons: &self.reasons,
            };
            let step = satisfy::Step {
                graph: self.graph,
                context: self.context,
                output_of: &output_of,
                observer: self.observer,
                asking: &asking,
            };
            let satisfied = satisfy::satisfy(step, id);
            match satisfied {
                Ok((output, outcome, key)) => {
                    *self.slot(id) = Slot {
                        output: Some(output),
                        key: Some(key),
                        outcome: Some(outcome),
                    };
                    self.observer.finished(self.graph, id, outcome);
                    for dependent in self
                        .graph
                        .dependents(id)
                        .filter(|d| self.in_closure[d.index()])
                    {
                        if self.pending[dependent.index()].fetch_sub(1, Ordering::AcqRel) == 1 {
                            self.spawn(scope, dependent);
                        }
                    }
                }
                Err(error) => {
                    // Its dependents never become ready; with `keep_going` the rest goes on.
                    if !self.context.keep_going {
                        self.failed.store(true, Ordering::Relaxed);
                    }
                    self.errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(error);
                }
            }
        });
    }

    /// The build's report, or its first failure (with the rest, when it kept going).
    pub(crate) fn finish(self) -> Result<ExecReport, ExecError> {
        let slots: Vec<Slot> = self
            .slots
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let mut outcomes: Vec<Option<Outcome>> = slots.iter().map(|s| s.outcome).collect();
        // A remote hit whose blobs the remote then did not give ran here after all.
        for (outcome, remade) in outcomes.iter_mut().zip(&self.remade) {
            if remade.load(Ordering::Relaxed) {
                *outcome = Some(Outcome::Ran);
            }
        }
        let count = |what: Outcome| outcomes.iter().filter(|o| **o == Some(what)).count();
        let report = ExecReport {
            ran: count(Outcome::Ran),
            cached: count(Outcome::Cached),
            remote_cached: count(Outcome::RemoteCached),
            outputs: slots.iter().map(|s| s.output).collect(),
            keys: slots.iter().map(|s| s.key).collect(),
            outcomes,
            reasons: self
                .reasons
                .into_iter()
                .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
                .collect(),
        };
        let mut errors = self.errors.into_inner().unwrap_or_else(|p| p.into_inner());
        let unfinished = self
            .needed
            .iter()
            .any(|id| report.outputs[id.index()].is_none());
        if errors.is_empty() && unfinished {
            return Err(ExecError {
                owner: String::new(),
                output: String::new(),
                origin: None,
                message: crate::STOPPED.to_owned(),
                kind: bld_core::ErrorKind::User,
                rest: None,
            });
        }
        if errors.is_empty() {
            return Ok(report);
        }
        let mut first = errors.remove(0);
        if self.context.keep_going {
            let done = report.outputs.iter().filter(|o| o.is_some()).count();
            first.rest = Some(Box::new(KeptGoing {
                skipped: self.needed.len().saturating_sub(done + errors.len() + 1),
                failures: errors,
                report,
            }));
        }
        Err(first)
    }
}
