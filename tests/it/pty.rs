//! A real pseudo-terminal for tests of `run -it`, `exec -it` and `attach`: bld runs with the
//! terminal's other end as its stdin, stdout and stderr, and the test types and reads.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// bld on a terminal of its own.
pub struct Terminal {
    master: File,
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
    /// How much of what was seen [`Terminal::expect`] has passed.
    read: usize,
}

impl Terminal {
    /// Starts `bld args` in `cwd` with the store `store` on a new terminal of `rows` × `cols`.
    pub fn spawn(cwd: &Path, store: &Path, args: &[&str], (rows, cols): (u16, u16)) -> Terminal {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = File::options()
            .read(true)
            .write(true)
            .open(name.to_str().expect("pts name"))
            .expect("open the terminal");
        let master = File::from(master);
        resize(&master, rows, cols);
        let child = Command::new(env!("CARGO_BIN_EXE_bld"))
            .args(args)
            .current_dir(cwd)
            .env("BLD_STORE", store)
            .env("BLD_CONFIG", crate::support::TEST_CONFIG)
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("run bld");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().expect("dup"), Arc::clone(&seen));
        std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            // The master reads EIO once bld and everything it started have closed the terminal.
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                sink.lock().expect("seen").extend_from_slice(&buffer[..n]);
            }
        });
        Terminal {
            master,
            child,
            seen,
            read: 0,
        }
    }

    /// Everything the terminal has shown.
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().expect("seen")).into_owned()
    }

    /// Waits (up to 30 s) until the terminal shows `text` after what earlier calls found.
    pub fn expect(&mut self, text: &str) {
        let began = Instant::now();
        loop {
            let seen = self.shown();
            if let Some(at) = seen.get(self.read..).and_then(|rest| rest.find(text)) {
                self.read += at + text.len();
                return;
            }
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "the terminal never showed {text:?}; it showed:\n{seen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type");
    }

    /// Types `line` and Enter.
    pub fn line(&mut self, line: &str) {
        self.send(format!("{line}\r").as_bytes());
    }

    /// Makes the terminal `rows` × `cols` and tells bld, as a terminal emulator does.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        resize(&self.master, rows, cols);
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::WINCH).expect("SIGWINCH");
    }

    /// Waits (up to 60 s) for bld to exit; its exit code.
    pub fn wait(&mut self) -> i32 {
        let began = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if began.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("bld did not exit; the terminal showed:\n{}", self.shown());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn resize(master: &File, rows: u16, cols: u16) {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master, size).expect("set the window size");
}
