//! Terminals of containers (`run -t`, `exec -t`): the runtime makes the pty and hands its
//! master over a console socket ([`receive_console`]); the process that keeps it (a container's
//! supervisor) serves it on an attach socket, which `bld run -it`, `start -ai` and `attach`
//! connect to ([`attach`]), as conmon serves podman's.
//!
//! The attach socket speaks frames: a kind byte, a 4-byte big-endian length, the payload.
//! A client sends [`INPUT`] (bytes for the terminal) and [`RESIZE`] (rows and columns, two
//! big-endian `u16`s); the supervisor sends [`OUTPUT`] (what the terminal printed), then
//! [`ERROR`] (why the command never started, when it did not) and [`EXIT`] (the exit code, a
//! big-endian `i32`) when the container ends.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client's bytes for the terminal.
pub const INPUT: u8 = 0;
/// A client's window size.
pub const RESIZE: u8 = 1;
/// What the terminal printed.
pub const OUTPUT: u8 = 2;
/// Why the command never started.
pub const ERROR: u8 = 3;
/// The container's exit code.
pub const EXIT: u8 = 4;

/// Docker's default detach keys: Ctrl-P, Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Writes one frame.
pub fn write_frame(to: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let length = u32::try_from(payload.len()).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(kind);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    to.write_all(&frame)
}

/// Reads one frame; `None` at the end of the stream. A frame over 1 MiB is refused.
pub fn read_frame(from: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0; 5];
    match from.read_exact(&mut head) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if length > 1 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "attach frame over 1 MiB",
        ));
    }
    let mut payload = vec![0; length];
    from.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

/// A path for a socket at `path` short enough for `sockaddr_un` (108 bytes): through
/// `/proc/self/fd/N` of its directory, opened as `dir`, which must stay open while it is used.
pub(crate) fn short_path(path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("a socket path needs a file name"))?;
    let dir = rustix::fs::open(
        parent,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let short = PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    ))
    .join(name);
    Ok((dir, short))
}

/// A listening socket at `path` (replacing a stale one), whatever the length of the path, and
/// the path other processes can connect to while the returned directory handle is open.
pub fn listen(path: &Path) -> io::Result<(UnixListener, OwnedFd, PathBuf)> {
    let _ = std::fs::remove_file(path);
    let (dir, short) = short_path(path)?;
    let listener = UnixListener::bind(&short)?;
    Ok((listener, dir, short))
}

/// Connects to the socket at `path`, trying again while it is not there yet, until
/// `give_up` says to.
pub fn connect(path: &Path, give_up: &mut dyn FnMut() -> bool) -> io::Result<UnixStream> {
    loop {
        let (_dir, short) = short_path(path)?;
        match UnixStream::connect(&short) {
            Ok(stream) => return Ok(stream),
            Err(e) if give_up() => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Accepts one connection on `listener`, giving up when `stop` says to (checked every 10 ms).
pub fn accept_unless(
    listener: &UnixListener,
    stop: &mut dyn FnMut() -> bool,
) -> io::Result<Option<UnixStream>> {
    listener.set_nonblocking(true)?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(Some(stream));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop() {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The pty master the runtime sends on `connection` (a console socket's).
fn receive_console(connection: &UnixStream) -> io::Result<OwnedFd> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0; 256];
    rustix::net::recvmsg(
        connection,
        &mut [io::IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let received = control.drain().find_map(|message| match message {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    received.ok_or_else(|| io::Error::other("the runtime sent no terminal"))
}

/// Runs the runtime's `command` (its `run` or `exec`, flags so far) detached with a terminal:
/// adds `--detach --pid-file PID_FILE --console-socket …` and then `tail` (the container's ID,
/// a command), takes the pty master the runtime sends on a console socket at `socket`, and
/// waits for the runtime, which returns once the process runs. This process is made a
/// subreaper first, so the process becomes its child, for [`wait_adopted`]. Returns how the
/// runtime ended and the master (`None` when it sent none: it could not start the process).
pub fn start_with_terminal(
    command: &mut std::process::Command,
    socket: &Path,
    pid_file: &Path,
    tail: &[&std::ffi::OsStr],
) -> io::Result<(std::process::ExitStatus, Option<OwnedFd>)> {
    become_subreaper()?;
    let (listener, _dir, short) = listen(socket)?;
    let mut runtime = command
        .arg("--detach")
        .arg("--pid-file")
        .arg(pid_file)
        .arg("--console-socket")
        .arg(&short)
        .args(tail)
        .stdin(std::process::Stdio::null())
        .spawn()?;
    let connection = accept_unless(&listener, &mut || {
        runtime.try_wait().ok().flatten().is_some()
    });
    drop(listener);
    let _ = std::fs::remove_file(socket);
    let master = match connection {
        Ok(Some(connection)) => receive_console(&connection).ok(),
        _ => None,
    };
    Ok((runtime.wait()?, master))
}

/// The size of the terminal on `fd`, as a [`RESIZE`] payload; `None` when it is no terminal.
pub fn window_size(fd: impl AsFd) -> Option<[u8; 4]> {
    let size = rustix::termios::tcgetwinsize(fd).ok()?;
    let [r1, r2] = size.ws_row.to_be_bytes();
    let [c1, c2] = size.ws_col.to_be_bytes();
    Some([r1, r2, c1, c2])
}

/// Gives the terminal `master` the size a [`RESIZE`] payload says (its foreground process
/// gets `SIGWINCH`).
pub fn resize(master: impl AsFd, payload: &[u8]) {
    if let [r1, r2, c1, c2] = payload {
        let size = rustix::termios::Winsize {
            ws_row: u16::from_be_bytes([*r1, *r2]),
            ws_col: u16::from_be_bytes([*c1, *c2]),
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let _ = rustix::termios::tcsetwinsize(master, size);
    }
}

/// bld's own terminal in raw mode (every key goes to the container's terminal, which does the
/// line editing, turns Ctrl-C into SIGINT and `\n` into `\r\n`), restored when dropped.
pub struct RawTerminal(Vec<(std::os::fd::BorrowedFd<'static>, rustix::termios::Termios)>);

impl RawTerminal {
    /// Puts stdout's terminal in raw mode, and stdin's with `input`, where they are terminals.
    pub fn enter(input: bool) -> RawTerminal {
        let mut fds = vec![rustix::stdio::stdout()];
        if input {
            fds.push(rustix::stdio::stdin());
        }
        let saved = fds
            .into_iter()
            .filter_map(|fd| {
                let saved = rustix::termios::tcgetattr(fd).ok()?;
                let mut raw = saved.clone();
                raw.make_raw();
                rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).ok()?;
                Some((fd, saved))
            })
            .collect();
        RawTerminal(saved)
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        for (fd, saved) in self.0.iter().rev() {
            let _ = rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, saved);
        }
    }
}

/// Finds the detach keys in what the user types: bytes that could start them are held back
/// until they do or do not (then passed on), as Docker's escape proxy does.
struct DetachKeys<'a> {
    keys: &'a [u8],
    held: usize,
}

impl DetachKeys<'_> {
    /// What of `input` to pass on, and whether the keys were typed (then the rest is dropped).
    fn scan(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &byte in input {
            if self.keys.get(self.held) == Some(&byte) {
                self.held += 1;
                if self.held == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.held]);
            self.held = 0;
            if self.keys.first() == Some(&byte) {
                self.held = 1;
            } else {
                out.push(byte);
            }
        }
        (out, false)
    }
}

/// How an attachment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Attached {
    /// The container ended with this code (and this error, when its command never started).
    Exited(i32, Option<String>),
    /// The user typed the detach keys: the container goes on.
    Detached,
    /// The supervisor went away without saying how the container ended.
    Lost,
}

/// Attaches bld's terminal to the container's on the attach socket at `socket`: what it prints
/// goes to stdout, and with `input` what the user types goes to it (bld's terminal in raw
/// mode), with its window size following bld's, until the container ends or `detach_keys` are
/// typed. Until the socket is served, it is tried again unless `give_up` says not to.
pub fn attach(
    socket: &Path,
    input: bool,
    detach_keys: &[u8],
    give_up: &mut dyn FnMut() -> bool,
) -> io::Result<Attached> {
    let stream = connect(socket, give_up)?;
    let writer = Arc::new(Mutex::new(stream.try_clone()?));
    let send = {
        let writer = Arc::clone(&writer);
        move |kind: u8, payload: &[u8]| {
            let mut writer = writer.lock().unwrap_or_else(|p| p.into_inner());
            write_frame(&mut *writer, kind, payload).is_ok()
        }
    };
    if let Some(size) = window_size(io::stdout()).or_else(|| window_size(io::stdin())) {
        send(RESIZE, &size);
    }
    let detached = Arc::new(AtomicBool::new(false));
    let _raw = RawTerminal::enter(input);
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH]) {
        let send = send.clone();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if let Some(size) = window_size(io::stdout()).or_else(|| window_size(io::stdin())) {
                    send(RESIZE, &size);
                }
            }
        });
    }
    if input {
        let (detached, stream) = (Arc::clone(&detached), stream.try_clone()?);
        let keys = detach_keys.to_vec();
        std::thread::spawn(move || {
            let mut scanner = DetachKeys {
                keys: &keys,
                held: 0,
            };
            let mut buffer = [0; 4096];
            let mut stdin = io::stdin();
            while let Ok(n @ 1..) = stdin.read(&mut buffer) {
                let (pass, detach) = scanner.scan(&buffer[..n]);
                if (!pass.is_empty() && !send(INPUT, &pass)) || detach {
                    detached.store(detach, Ordering::SeqCst);
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        });
    }
    let mut reader = stream;
    let mut stdout = io::stdout();
    let mut error = None;
    loop {
        let frame = match read_frame(&mut reader) {
            Ok(frame) => frame,
            Err(_) if detached.load(Ordering::SeqCst) => return Ok(Attached::Detached),
            Err(e) => return Err(e),
        };
        match frame {
            Some((OUTPUT, bytes)) => {
                let _ = stdout.write_all(&bytes);
                let _ = stdout.flush();
            }
            Some((ERROR, message)) => error = Some(String::from_utf8_lossy(&message).into_owned()),
            Some((EXIT, code)) => {
                let code = <[u8; 4]>::try_from(code.as_slice()).map_or(125, i32::from_be_bytes);
                return Ok(Attached::Exited(code, error));
            }
            Some(_) => {}
            None if detached.load(Ordering::SeqCst) => return Ok(Attached::Detached),
            None => return Ok(Attached::Lost),
        }
    }
}

/// Makes this process the subreaper of what its children leave: a process a runtime started
/// with `--detach` becomes its child once the runtime exits, for [`wait_adopted`].
pub fn become_subreaper() -> io::Result<()> {
    Ok(rustix::process::set_child_subreaper(
        rustix::process::Pid::from_raw(1),
    )?)
}

/// Waits for the process whose pid a runtime wrote to `pid_file`, a child of this subreaper
/// ([`become_subreaper`]); its exit code (128 + the signal that killed it; 255 when it cannot
/// be waited for).
pub fn wait_adopted(pid_file: &Path) -> i32 {
    let pid = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw);
    let Some(pid) = pid else {
        return 255;
    };
    loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return code;
                }
                if let Some(signal) = status.terminating_signal() {
                    return 128 + signal;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            _ => return 255,
        }
    }
}

/// Relays bld's terminal and the pty `master` directly (`exec -t`, whose master bld keeps):
/// stdin (in raw mode, with `input`) to it, its output to stdout, bld's window size to it,
/// until it has no process left.
pub fn relay_local(master: OwnedFd, input: bool) -> io::Result<()> {
    let master = std::fs::File::from(master);
    if let Some(size) = window_size(io::stdout()).or_else(|| window_size(io::stdin())) {
        resize(&master, &size);
    }
    let _raw = RawTerminal::enter(input);
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH]) {
        let master = master.try_clone()?;
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if let Some(size) = window_size(io::stdout()).or_else(|| window_size(io::stdin())) {
                    resize(&master, &size);
                }
            }
        });
    }
    if input {
        let mut to = master.try_clone()?;
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin(), &mut to);
        });
    }
    let mut from = &master;
    let mut stdout = io::stdout();
    let mut buffer = [0; 8192];
    // The master reads EIO once no process has the terminal open.
    while let Ok(n @ 1..) = from.read(&mut buffer) {
        let _ = stdout.write_all(&buffer[..n]);
        let _ = stdout.flush();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::DetachKeys;

    #[test]
    fn detach_keys_are_found_across_reads_and_other_bytes_pass() {
        let mut scanner = DetachKeys {
            keys: &[0x10, 0x11],
            held: 0,
        };
        assert_eq!(scanner.scan(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(scanner.scan(&[b'a', 0x10]), (b"a".to_vec(), false));
        assert_eq!(scanner.scan(b"b"), (vec![0x10, b'b'], false));
        assert_eq!(scanner.scan(&[0x10, 0x10]), (vec![0x10], false));
        assert_eq!(scanner.scan(&[0x11, b'z']), (vec![], true));
    }
}
