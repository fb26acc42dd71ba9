//! A container's output, passed through to bld's own stdout and stderr and kept in Docker's
//! json-file format: a line `{"log":"…\n","stream":"stdout","time":"…Z"}` per line written.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// A json-file log of one stream, written a line at a time as output comes in pieces; the
/// file may be shared with the log of another stream.
pub(crate) struct LineLog {
    file: Arc<Mutex<File>>,
    stream: &'static str,
    line: Vec<u8>,
}

impl LineLog {
    /// The log at `path` of `stream`, appended to: a container started again adds to its log.
    pub(crate) fn open(path: &Path, stream: &'static str) -> io::Result<LineLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(LineLog {
            file: Arc::new(Mutex::new(file)),
            stream,
            line: Vec::new(),
        })
    }

    /// The log of another stream, into the same file.
    fn beside(&self, stream: &'static str) -> LineLog {
        LineLog {
            file: Arc::clone(&self.file),
            stream,
            line: Vec::new(),
        }
    }

    /// Adds `bytes`: an entry per finished line.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.line.push(byte);
            if byte == b'\n' {
                self.entry();
            }
        }
    }

    /// Writes the unfinished last line, if any.
    pub(crate) fn finish(&mut self) {
        if !self.line.is_empty() {
            self.entry();
        }
    }

    /// Appends the entry of the line so far, in one write.
    fn entry(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let record = serde_json::json!({
            "log": String::from_utf8_lossy(&self.line),
            "stream": self.stream,
            "time": bld_core::rfc3339_nanos(now.as_secs(), Some(now.subsec_nanos())),
        });
        self.line.clear();
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = file.write_all(format!("{record}\n").as_bytes());
    }
}

/// Copies `from` to `to` as it comes, and into `log`.
fn pass_through(mut from: impl Read, to: &mut dyn Write, mut log: LineLog) {
    let mut buffer = [0; 8192];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = to.write_all(&buffer[..n]);
        let _ = to.flush();
        log.feed(&buffer[..n]);
    }
    log.finish();
}

/// Waits for `child`, whose stdout and stderr are pipes, passing them through and into the
/// json-file log at `log`.
pub(crate) fn tee(child: &mut Child, log: &Path) -> io::Result<ExitStatus> {
    let stdout_log = LineLog::open(log, "stdout")?;
    let stderr_log = stdout_log.beside("stderr");
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::scope(|scope| {
        if let Some(stdout) = stdout {
            scope.spawn(move || pass_through(stdout, &mut io::stdout(), stdout_log));
        }
        if let Some(stderr) = stderr {
            pass_through(stderr, &mut io::stderr(), stderr_log);
        }
    });
    child.wait()
}
