//! A container's output, passed through to bld's own stdout and stderr and kept in Docker's
//! json-file format: a line `{"log":"…\n","stream":"stdout","time":"…Z"}` per line written.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends one json-file entry for `line` of `stream` to `log`.
fn entry(log: &Mutex<File>, stream: &str, line: &[u8]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let record = serde_json::json!({
        "log": String::from_utf8_lossy(line),
        "stream": stream,
        "time": bld_core::rfc3339_nanos(now.as_secs(), Some(now.subsec_nanos())),
    });
    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
    let _ = writeln!(log, "{record}");
}

/// Copies `from` to `to` as it comes, and each line of it (the last one even unfinished) to
/// `log` as `stream`.
fn pass_through(mut from: impl Read, to: &mut dyn Write, log: &Mutex<File>, stream: &str) {
    let mut buffer = [0; 8192];
    let mut line = Vec::new();
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = to.write_all(&buffer[..n]);
        let _ = to.flush();
        for &byte in &buffer[..n] {
            line.push(byte);
            if byte == b'\n' {
                entry(log, stream, &line);
                line.clear();
            }
        }
    }
    if !line.is_empty() {
        entry(log, stream, &line);
    }
}

/// Waits for `child`, whose stdout and stderr are pipes, passing them through and into the
/// json-file log at `log` (appended to: a container started again adds to its log).
pub(crate) fn tee(child: &mut Child, log: &Path) -> io::Result<ExitStatus> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let log = Mutex::new(file);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::scope(|scope| {
        if let Some(stdout) = stdout {
            let log = &log;
            scope.spawn(move || pass_through(stdout, &mut io::stdout(), log, "stdout"));
        }
        if let Some(stderr) = stderr {
            pass_through(stderr, &mut io::stderr(), &log, "stderr");
        }
    });
    child.wait()
}
