//! Attaching to containers: `run -it` and `start -ai` start a container's terminal under its
//! supervisor and attach bld's terminal to it; `bld attach` does the same to a running one
//! (or, for a container without a terminal, follows its output until it ends).

use std::path::Path;
use std::time::Duration;

use bld_exec::containers::{self, Container, State};
use bld_sandbox::attach::Attached;
use bld_store::Store;
use clap::Args;

use crate::Failure;

/// `--detach-keys` (Docker's syntax: `ctrl-p,ctrl-q`, `a`, `ctrl-@`, `ctrl-\`) as the bytes a
/// terminal sends.
pub(crate) fn parse_detach_keys(text: &str) -> Result<Vec<u8>, Failure> {
    let bad = |key: &str| {
        Failure::user(format!(
            "invalid detach keys `{text}`: `{key}` is not a letter or `ctrl-` with one of a-z @ [ \\ ] ^ _"
        ))
    };
    text.split(',')
        .map(|key| match key.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => match c.as_bytes()[0] {
                letter @ b'a'..=b'z' => Ok(letter - b'a' + 1),
                symbol @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_') => Ok(symbol - b'@'),
                _ => Err(bad(key)),
            },
            None if key.len() == 1 && key.as_bytes()[0].is_ascii_graphic() => Ok(key.as_bytes()[0]),
            _ => Err(bad(key)),
        })
        .collect()
}

/// Starts `container` (which has a terminal) under a supervisor that waits for bld to attach,
/// then attaches: returns its exit code (0 when detached).
pub(crate) fn start_attached(
    store: &Store,
    container: &Container,
    input: bool,
    detach_keys: &[u8],
) -> Result<i32, Failure> {
    let mut supervisor = super::spawn_supervisor(store, container, true)?;
    let attached = bld_sandbox::attach::attach(
        &container.attach_socket(store),
        input,
        detach_keys,
        &mut || supervisor.try_wait().ok().flatten().is_some(),
    );
    ended(store, container, attached)
}

/// Exit code of an attachment that ended as `attached`.
fn ended(
    store: &Store,
    container: &Container,
    attached: std::io::Result<Attached>,
) -> Result<i32, Failure> {
    match attached {
        Ok(Attached::Exited(code, error)) => {
            if let Some(error) = error {
                eprintln!("bld: {error}");
            }
            Ok(code)
        }
        Ok(Attached::Detached) => Ok(0),
        // The supervisor went without a word: the record says how the container ended.
        Ok(Attached::Lost) | Err(_) => {
            match containers::find(store, &container.id).map(|c| c.current_state()) {
                Ok(State::Exited { code, .. }) => Ok(code),
                _ => Err(Failure::internal(format!(
                    "lost the terminal of container {}: its supervisor ended without recording how it exited",
                    container.short_id()
                ))),
            }
        }
    }
}

/// Arguments of `bld attach`.
#[derive(Args)]
pub(crate) struct AttachArgs {
    /// Do not attach bld's stdin.
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// The keys that detach bld from the container's terminal, leaving it running.
    #[arg(
        long = "detach-keys",
        value_name = "KEYS",
        default_value = "ctrl-p,ctrl-q"
    )]
    detach_keys: String,
    /// The container, by name or ID.
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `bld attach`: bld's terminal to a running container's until it ends or is detached from;
/// a container without a terminal has its output followed until it ends. Exits with its code.
pub(crate) fn attach(args: AttachArgs, store: &Path) -> Result<i32, Failure> {
    let store = Store::open(store)?;
    let keys = parse_detach_keys(&args.detach_keys)?;
    let container = containers::find(&store, &args.container)?;
    if !matches!(container.current_state(), State::Running { .. }) {
        return Err(Failure::user(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let running = |store: &Store| {
        matches!(
            containers::find(store, &container.id).map(|c| c.current_state()),
            Ok(State::Running { .. })
        )
    };
    if container.config.tty {
        let attached = bld_sandbox::attach::attach(
            &container.attach_socket(&store),
            !args.no_stdin,
            &keys,
            &mut || !running(&store),
        );
        return ended(&store, &container, attached);
    }
    let log = container.log(&store);
    let mut shown = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    loop {
        let still = running(&store);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        for line in text.lines().skip(shown) {
            super::print_entry(line, false, None);
        }
        shown = text.lines().count();
        if !still {
            return match containers::find(&store, &container.id).map(|c| c.current_state()) {
                Ok(State::Exited { code, .. }) => Ok(code),
                _ => Ok(0),
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_detach_keys;

    #[test]
    fn detach_keys_read_as_docker_reads_them() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").ok(),
            Some(vec![0x10, 0x11])
        );
        assert_eq!(
            parse_detach_keys("ctrl-@,a,ctrl-_").ok(),
            Some(vec![0, b'a', 0x1f])
        );
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("").is_err());
    }
}
