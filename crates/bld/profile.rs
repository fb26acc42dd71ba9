//! `bld build --profile FILE.json`: the build as a Chrome trace (the Trace Event Format, as
//! Bazel's `--profile` writes it; open it in Perfetto or `chrome://tracing`). The build's phases
//! are on one track, each action on the track of the thread that ran it, as a complete event
//! (`"ph": "X"`) with its outcome; cache hits are events that last nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Instant;

use bld_exec::Outcome;
use bld_graph::{ActionGraph, ActionId};
use serde_json::{Value, json};

use crate::Failure;

/// The events of one build, and where they go.
pub(crate) struct Profile {
    path: PathBuf,
    started: Instant,
    events: Mutex<Vec<Value>>,
    /// Small numbers for the threads, in the order they were first seen (0: the main one).
    threads: Mutex<HashMap<ThreadId, usize>>,
    /// When each running action started.
    running: Mutex<HashMap<ActionId, Instant>>,
}

impl Profile {
    pub(crate) fn new(path: &Path) -> Profile {
        let mut threads = HashMap::new();
        threads.insert(std::thread::current().id(), 0);
        Profile {
            path: path.to_owned(),
            started: Instant::now(),
            events: Mutex::new(Vec::new()),
            threads: Mutex::new(threads),
            running: Mutex::new(HashMap::new()),
        }
    }

    fn micros(&self, at: Instant) -> u128 {
        at.saturating_duration_since(self.started).as_micros()
    }

    fn thread(&self) -> usize {
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        let next = threads.len();
        *threads.entry(std::thread::current().id()).or_insert(next)
    }

    fn push(&self, event: Value) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }

    /// A phase of the build (`analysis`, `execution`, …) from `start` to now.
    pub(crate) fn phase(&self, name: &str, start: Instant) {
        let now = Instant::now();
        self.push(json!({
            "name": name, "cat": "phase", "ph": "X", "pid": 1, "tid": 0,
            "ts": self.micros(start), "dur": now.saturating_duration_since(start).as_micros(),
        }));
    }

    /// The action `id` starts running.
    pub(crate) fn started(&self, id: ActionId) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Instant::now());
    }

    /// The action `id` is satisfied as `outcome` says: an event from when it started running
    /// (a hit's lasts nothing).
    pub(crate) fn finished(&self, graph: &ActionGraph, id: ActionId, outcome: Outcome) {
        let now = Instant::now();
        let start = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
            .unwrap_or(now);
        let action = graph.get(id);
        let (category, said) = match outcome {
            Outcome::Ran => ("ran", "ran"),
            Outcome::Cached => ("cache hit", "local cache hit"),
            Outcome::RemoteCached => ("remote hit", "remote cache hit"),
        };
        self.push(json!({
            "name": action.describe(), "cat": category, "ph": "X", "pid": 1,
            "tid": self.thread(),
            "ts": self.micros(start), "dur": now.saturating_duration_since(start).as_micros(),
            "args": {"outcome": said, "target": action.owner.to_string(), "output": action.output_name},
        }));
    }

    /// Writes the trace.
    pub(crate) fn write(&self) -> Result<(), Failure> {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        for (index, name) in std::iter::once((0, "bld".to_owned()))
            .chain((1..threads.len()).map(|i| (i, format!("worker {i}"))))
        {
            events.push(json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": index, "args": {"name": name}}));
        }
        let trace =
            json!({ "traceEvents": events, "displayTimeUnit": "ms", "otherData": {"tool": "bld"} });
        std::fs::write(&self.path, trace.to_string()).map_err(|e| {
            Failure::user(format!(
                "--profile: cannot write `{}`: {e}",
                self.path.display()
            ))
        })
    }
}
