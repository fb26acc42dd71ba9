//! A container with a terminal, served by the process that runs it: the runtime sends the
//! pty's master on a console socket; what the terminal prints goes to the json-file log and
//! to every client of the attach socket, and what clients send goes to the terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::attach::{self, EXIT, INPUT, OUTPUT, RESIZE};
use crate::{SandboxError, io_error};

/// A container's terminal, as [`crate::RunSpec::terminal`] asks for it.
#[derive(Debug, Clone)]
pub struct Terminal {
    /// Where to serve the attach socket.
    pub socket: PathBuf,
    /// Start the command only once a client is attached (`run -it`, `start -ai`: nothing it
    /// prints first is lost), waiting up to a minute.
    pub wait_for_client: bool,
}

/// The attached clients, each written to by the relay only.
type Clients = Arc<Mutex<Vec<UnixStream>>>;

/// A running terminal container's relay, until [`Served::finish`] tells the clients how it
/// ended.
pub(crate) struct Served {
    clients: Clients,
    stop: Arc<AtomicBool>,
}

impl Served {
    /// Sends the clients `error` (when the command never started) and the exit `code`.
    pub(crate) fn finish(self, code: i32, error: Option<&str>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for client in clients.iter_mut() {
            if let Some(error) = error {
                let _ = attach::write_frame(client, attach::ERROR, error.as_bytes());
            }
            let _ = attach::write_frame(client, EXIT, &code.to_be_bytes());
        }
    }
}

/// The clients attached to a terminal container that has ended.
pub struct Attachments(Served);

impl Attachments {
    /// Tells them the container's exit `code`, and `error` when its command never started.
    pub fn finish(self, code: i32, error: Option<&str>) {
        self.0.finish(code, error);
    }
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attachments")
    }
}

/// Serves a client: its input to the terminal `master`, its window size set on it.
fn serve_client(mut client: UnixStream, master: Arc<Mutex<File>>) {
    while let Ok(Some((kind, payload))) = attach::read_frame(&mut client) {
        let mut master = master.lock().unwrap_or_else(|p| p.into_inner());
        match kind {
            INPUT => {
                let _ = master.write_all(&payload);
            }
            RESIZE => attach::resize(&*master, &payload),
            _ => {}
        }
    }
}

/// Adds a client to the relay.
fn add_client(client: UnixStream, clients: &Clients, master: &Arc<Mutex<File>>) {
    if let Ok(reader) = client.try_clone() {
        let master = Arc::clone(master);
        std::thread::spawn(move || serve_client(reader, master));
        clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(client);
    }
}

/// Runs `command` (the runtime's `run`, its flags for a terminal and the container's `id` still
/// to add) with a terminal, the container's process a child of this one (a subreaper, as
/// conmon is): returns its exit code and the relay that has served it. `delete` removes the
/// runtime's record of it afterwards.
pub(crate) fn run(
    mut command: Command,
    id: &str,
    mut delete: Command,
    terminal: &Terminal,
    work_dir: &Path,
    log: Option<&Path>,
) -> Result<(i32, Attachments), SandboxError> {
    let (listener, _attach_dir, _) =
        attach::listen(&terminal.socket).map_err(io_error("listen at", &terminal.socket))?;
    let clients: Clients = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let served = Served {
        clients: Arc::clone(&clients),
        stop: Arc::clone(&stop),
    };
    let mut first = None;
    if terminal.wait_for_client {
        let began = Instant::now();
        first = attach::accept_unless(&listener, &mut || began.elapsed() > Duration::from_secs(60))
            .map_err(io_error("accept at", &terminal.socket))?;
    }
    // The runtime hands the terminal over and returns once the process runs: it is then this
    // process's child, waited for here.
    let pid_file = work_dir.join("init.pid");
    let (started, master) = attach::start_with_terminal(
        command.stdout(std::process::Stdio::null()),
        &work_dir.join("console.sock"),
        &pid_file,
        &[std::ffi::OsStr::new(id)],
    )
    .map_err(io_error("start the runtime with a terminal in", work_dir))?;
    let (Some(master), true) = (master, started.success()) else {
        if let Some(client) = first {
            clients
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(client);
        }
        let _ = delete.output();
        return Ok((started.code().unwrap_or(1), Attachments(served)));
    };
    let master = File::from(master);
    let writer = Arc::new(Mutex::new(
        master
            .try_clone()
            .map_err(io_error("keep the terminal of", work_dir))?,
    ));
    if let Some(client) = first {
        add_client(client, &clients, &writer);
    }
    {
        let (clients, writer, stop) =
            (Arc::clone(&clients), Arc::clone(&writer), Arc::clone(&stop));
        std::thread::spawn(move || {
            while let Ok(Some(client)) =
                attach::accept_unless(&listener, &mut || stop.load(Ordering::SeqCst))
            {
                add_client(client, &clients, &writer);
            }
        });
    }
    relay_output(&master, &clients, log)
        .map_err(|e| io_error("keep the output in", log.unwrap_or(work_dir))(e))?;
    let code = attach::wait_adopted(&pid_file);
    let _ = delete.output();
    Ok((code, Attachments(served)))
}

/// Copies what the terminal `master` prints to the clients and into the log, until no process
/// has the terminal open (the master then reads EIO).
fn relay_output(master: &File, clients: &Clients, log: Option<&Path>) -> std::io::Result<()> {
    let mut lines = log
        .map(|log| super::log::LineLog::open(log, "stdout"))
        .transpose()?;
    let mut buffer = [0; 8192];
    let mut from = master;
    while let Ok(n @ 1..) = from.read(&mut buffer) {
        if let Some(lines) = &mut lines {
            lines.feed(&buffer[..n]);
        }
        clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain_mut(|client| attach::write_frame(client, OUTPUT, &buffer[..n]).is_ok());
    }
    if let Some(lines) = &mut lines {
        lines.finish();
    }
    Ok(())
}
