//! A running `bld watch` (or `bld run --watch`) whose stdout and stderr lines are read as they
//! come, for the watch tests and benchmark.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running command and the lines it printed.
pub struct Watching {
    pub child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    /// Every line so far.
    pub seen: Vec<String>,
}

impl Watching {
    /// Starts `command`, reading its stdout and stderr.
    pub fn start(mut command: Command) -> Watching {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bld");
        let (send, lines) = mpsc::channel();
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for stream in streams {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = send.send((Instant::now(), line));
                }
            });
        }
        Watching {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line for which `pick` gives something, within 60 s, and when it came.
    pub fn until<T>(&mut self, pick: &dyn Fn(&str) -> Option<T>) -> (T, Instant) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok((at, line)) = self.lines.recv_timeout(left) else {
                break;
            };
            let picked = pick(&line);
            self.seen.push(line);
            if let Some(found) = picked {
                return (found, at);
            }
        }
        panic!("not seen in 60 s; bld printed:\n{}", self.seen.join("\n"));
    }

    /// The `n`-th line (from 1) that `matches`, waiting for it if it has not come yet (stdout
    /// and stderr come apart, so it may have come before a line waited for on the other).
    pub fn nth(&mut self, n: usize, matches: &dyn Fn(&str) -> bool) -> String {
        while self.seen.iter().filter(|l| matches(l)).count() < n {
            self.until(&|l| matches(l).then_some(()));
        }
        self.seen
            .iter()
            .filter(|l| matches(l))
            .nth(n - 1)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until bld watches after its `builds`-th build, so that the next edit is a
    /// change to it.
    pub fn until_watching(&mut self, builds: usize) {
        self.nth(builds, &|l| l.starts_with("bld watch: watching"));
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The digest on a line `PREFIX … sha256:… …` (`//app:image  sha256:…`, `Built TAG sha256:…`).
pub fn digest_after(prefix: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |line: &str| {
        let rest = line.strip_prefix(prefix)?;
        rest.split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_owned)
    }
}
