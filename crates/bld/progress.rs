//! The build log: each action that ran and every line a `RUN` step writes, prefixed with the
//! step's Dockerfile line; when stderr is a terminal, also a status kept at the bottom, redrawn
//! as actions start and finish and ten times a second, by `indicatif`: a line of counts (`[+]
//! 3.2s · 12/40 done: 3 ran, 9 hits · 28 to go`) and a line per running action. Log lines are printed above it; it is cleared when the build ends.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bld_exec::{ExecContext, ExecError, ExecReport, Observer, Outcome, execute};
use bld_graph::{ActionGraph, ActionId};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// `--progress`: how the build log is shown, as with `docker build --progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ProgressMode {
    /// The status line when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines only, never a status line.
    Plain,
    /// The status line (when stderr is a terminal) over the log lines.
    Tty,
    /// Nothing but errors (as `-q`).
    Quiet,
}

/// Runs `wanted` with the build log on stderr (nothing but errors when quiet).
pub(crate) fn execute_with_log(
    graph: &ActionGraph,
    wanted: &[ActionId],
    context: &ExecContext<'_>,
    mode: ProgressMode,
    profile: Option<&crate::profile::Profile>,
) -> Result<ExecReport, ExecError> {
    let quiet = mode == ProgressMode::Quiet;
    let status_line = match mode {
        ProgressMode::Auto | ProgressMode::Tty => std::io::stderr().is_terminal(),
        ProgressMode::Plain | ProgressMode::Quiet => false,
    };
    let live = status_line.then(|| StatusLine::start(graph.closure(wanted).len()));
    let log = Log {
        quiet,
        live,
        profile,
    };
    let result = execute(graph, wanted, context, &log);
    if let Some(live) = &log.live {
        live.bar.finish_and_clear();
    }
    result.map_err(|mut error| {
        // `--keep-going`: every failure but the first (which the caller reports), and what
        // was not built.
        if let Some(rest) = error.rest.as_mut() {
            let failed = 1 + rest.failures.len();
            for failure in rest.failures.drain(..) {
                eprint!("{}", crate::Failure::from(failure).render());
            }
            eprintln!(
                "bld: --keep-going: {failed} action{} failed, {} not built because {} on one, the rest built; the first failure:",
                if failed == 1 { "" } else { "s" },
                rest.skipped,
                if rest.skipped == 1 { "it depends" } else { "they depend" }
            );
        }
        error
    })
}

struct Log<'p> {
    quiet: bool,
    /// `--profile`'s trace.
    profile: Option<&'p crate::profile::Profile>,
    /// The status line, when stderr is a terminal.
    live: Option<StatusLine>,
}

/// The status line on a terminal: what it shows, and the bar that draws it.
struct StatusLine {
    status: Arc<Mutex<Status>>,
    bar: ProgressBar,
}

struct Status {
    started: Instant,
    /// Running actions: what they are and since when.
    running: Vec<(ActionId, String, Instant)>,
    finished: usize,
    /// Of the finished: how many ran, and how many were hits (local or remote).
    ran: usize,
    hits: usize,
    total: usize,
}

/// How many running actions the status shows, one line each.
const RUNNING_SHOWN: usize = 8;

impl Status {
    /// `[+] 3.2s · 12/40 done: 3 ran, 9 hits · 28 to go`, then a line per running action
    /// (`  => Dockerfile:6: RUN make (1.4s)`), each cut to the terminal's width.
    fn lines(&self) -> String {
        let width = rustix::termios::tcgetwinsize(std::io::stderr())
            .map(|size| usize::from(size.ws_col))
            .ok()
            .filter(|&columns| columns >= 20)
            .unwrap_or(80);
        let cut = |line: String| {
            if line.chars().count() >= width {
                line.chars().take(width - 2).collect::<String>() + "…"
            } else {
                line
            }
        };
        // An action a remote hit left on the remote and a step then needed made here
        // finishes twice.
        let finished = self.finished.min(self.total);
        let mut lines = vec![cut(format!(
            "[+] {:.1}s · {finished}/{} done: {} ran, {} hits · {} to go",
            self.started.elapsed().as_secs_f64(),
            self.total,
            self.ran,
            self.hits,
            self.total - finished
        ))];
        for (_, what, since) in self.running.iter().take(RUNNING_SHOWN) {
            lines.push(cut(format!(
                "  => {what} ({:.1}s)",
                since.elapsed().as_secs_f64()
            )));
        }
        if self.running.len() > RUNNING_SHOWN {
            lines.push(format!(
                "  … and {} more",
                self.running.len() - RUNNING_SHOWN
            ));
        }
        lines.join("\n")
    }
}

impl StatusLine {
    /// Draws the line on stderr and redraws it ten times a second.
    fn start(total: usize) -> StatusLine {
        let status = Arc::new(Mutex::new(Status {
            started: Instant::now(),
            running: Vec::new(),
            finished: 0,
            ran: 0,
            hits: 0,
            total,
        }));
        let shown = Arc::clone(&status);
        let style = ProgressStyle::with_template("{status}")
            .expect("invariant: a valid template")
            .with_key(
                "status",
                move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&lock(&shown).lines());
                },
            );
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10))
            .with_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        StatusLine { status, bar }
    }
}

fn lock(status: &Mutex<Status>) -> std::sync::MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|p| p.into_inner())
}

impl Log<'_> {
    /// Prints `message` above the status line (which is redrawn under it).
    fn print(&self, message: &str) {
        match &self.live {
            Some(live) => live.bar.println(message),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{message}");
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        if let Some(live) = &self.live {
            change(&mut lock(&live.status));
            live.bar.tick();
        }
    }
}

/// An action's output path under `bld-out/`.
fn output_path(graph: &ActionGraph, id: ActionId) -> String {
    graph.get(id).output_path()
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

impl Observer for Log<'_> {
    fn warning(&self, message: &str) {
        // Said even with `--quiet`: the build goes on, but not as asked.
        self.print(&format!("warning: {message}"));
    }

    fn started(&self, graph: &ActionGraph, id: ActionId) {
        if let Some(profile) = self.profile {
            profile.started(id);
        }
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
        self.print(&format!("  {source} | {line}"));
    }

    fn finished(&self, graph: &ActionGraph, id: ActionId, outcome: Outcome) {
        if let Some(profile) = self.profile {
            profile.finished(graph, id, outcome);
        }
        self.update(|status| {
            status.finished += 1;
            match outcome {
                Outcome::Ran => status.ran += 1,
                Outcome::Cached | Outcome::RemoteCached => status.hits += 1,
            }
            status.running.retain(|(running, _, _)| *running != id);
        });
        if self.quiet {
            return;
        }
        let verb = match outcome {
            Outcome::Ran => "built",
            // Apart from local hits (which are not listed): what another machine built.
            Outcome::RemoteCached => "remote",
            Outcome::Cached => return,
        };
        self.print(&format!(
            "  {verb} {}  ({})",
            output_path(graph, id),
            graph.get(id).owner
        ));
    }
}
