//! The build log: each action that ran and every line a `RUN` step writes, prefixed with the
//! step's Dockerfile line; when stderr is a terminal, also a status line kept at the bottom
//! (`[+] 3.2s 5/18 · RUN make (1.4s)`), redrawn as actions start and finish.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bld_exec::{ExecContext, ExecError, ExecReport, Observer, Outcome, execute};
use bld_graph::{ActionGraph, ActionId};

/// Runs `wanted` with the build log on stderr (nothing but errors when `quiet`).
pub(crate) fn execute_with_log(
    graph: &ActionGraph,
    wanted: &[ActionId],
    context: &ExecContext<'_>,
    quiet: bool,
) -> Result<ExecReport, ExecError> {
    let live = (!quiet && std::io::stderr().is_terminal()).then(|| {
        Mutex::new(Status {
            started: Instant::now(),
            running: Vec::new(),
            finished: 0,
            total: graph.closure(wanted).len(),
            shown: false,
            closed: false,
        })
    });
    let log = Log { quiet, live };
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if log.live.is_some() {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    log.print(None);
                }
            });
        }
        let result = execute(graph, wanted, context, &log);
        done.store(true, Ordering::Relaxed);
        if let Some(live) = &log.live {
            let mut status = live.lock().unwrap_or_else(|p| p.into_inner());
            status.clear(&mut std::io::stderr().lock());
            status.closed = true;
        }
        result
    })
}

struct Log {
    quiet: bool,
    /// The status line's state, when stderr is a terminal.
    live: Option<Mutex<Status>>,
}

struct Status {
    started: Instant,
    /// Running actions: what they are and since when.
    running: Vec<(ActionId, String, Instant)>,
    finished: usize,
    total: usize,
    /// Whether the status line is on screen.
    shown: bool,
    /// Whether the build is over (the line is not drawn again).
    closed: bool,
}

impl Status {
    fn clear(&mut self, err: &mut impl Write) {
        if self.shown {
            let _ = write!(err, "\r\x1b[2K");
            self.shown = false;
        }
    }

    fn draw(&mut self, err: &mut impl Write) {
        if self.closed {
            return;
        }
        let mut line = format!(
            "[+] {:.1}s {}/{}",
            self.started.elapsed().as_secs_f64(),
            self.finished,
            self.total
        );
        for (_, what, since) in &self.running {
            line.push_str(&format!(
                " · {what} ({:.1}s)",
                since.elapsed().as_secs_f64()
            ));
        }
        let width = rustix::termios::tcgetwinsize(std::io::stderr())
            .map(|size| usize::from(size.ws_col))
            .ok()
            .filter(|&columns| columns >= 20)
            .unwrap_or(80);
        if line.chars().count() >= width {
            line = line.chars().take(width - 2).collect::<String>() + "…";
        }
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.shown = true;
    }
}

impl Log {
    /// Prints `message` (when given) above the status line, then redraws it.
    fn print(&self, message: Option<&str>) {
        let mut err = std::io::stderr().lock();
        match &self.live {
            Some(live) => {
                let mut status = live.lock().unwrap_or_else(|p| p.into_inner());
                status.clear(&mut err);
                if let Some(message) = message {
                    let _ = writeln!(err, "{message}");
                }
                status.draw(&mut err);
            }
            None => {
                if let Some(message) = message {
                    let _ = writeln!(err, "{message}");
                }
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        if let Some(live) = &self.live {
            change(&mut live.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }
}

/// An action's output path under `bld-out/`.
fn output_path(graph: &ActionGraph, id: ActionId) -> String {
    let action = graph.get(id);
    match action.owner.package() {
        "" => action.output_name.clone(),
        package => format!("{package}/{}", action.output_name),
    }
}

/// How the status line names an action: by the instruction it comes from
/// (`Dockerfile:6: RUN make`), else by its output and what it does.
fn describe(graph: &ActionGraph, id: ActionId) -> String {
    let action = graph.get(id);
    match &action.origin {
        Some(_) => action.describe(),
        None => format!("{}: {}", output_path(graph, id), action.describe()),
    }
}

impl Observer for Log {
    fn started(&self, graph: &ActionGraph, id: ActionId) {
        self.update(|status| {
            status
                .running
                .push((id, describe(graph, id), Instant::now()))
        });
    }

    fn output(&self, graph: &ActionGraph, id: ActionId, line: &str) {
        if self.quiet {
            return;
        }
        let source = match &graph.get(id).origin {
            Some(at) => format!("{}:{}", at.file, at.line),
            None => output_path(graph, id),
        };
        self.print(Some(&format!("  {source} | {line}")));
    }

    fn finished(&self, graph: &ActionGraph, id: ActionId, outcome: Outcome) {
        self.update(|status| {
            status.finished += 1;
            status.running.retain(|(running, _, _)| *running != id);
        });
        if self.quiet {
            return;
        }
        let message = (outcome == Outcome::Ran).then(|| {
            format!(
                "  built {}  ({})",
                output_path(graph, id),
                graph.get(id).owner
            )
        });
        if message.is_some() || self.live.is_some() {
            self.print(message.as_deref());
        }
    }
}
