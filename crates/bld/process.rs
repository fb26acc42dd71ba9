//! What guards the bld process as a whole: the deep stack its work runs on, a memory watchdog
//! while Starlark is evaluated, SIGINT/SIGTERM (stop this process's containers, exit 130) and a
//! reader that closes the pipe early (end quietly).

use std::process::ExitCode;

/// The stack bld's work runs on. Starlark-rust recurses once per level of a value's nesting
/// (collecting garbage, freezing a module, printing), and a BUILD file can nest a value as
/// deep as its heap budget allows (about twenty million levels); this covers that. Only the
/// pages a run touches are ever committed.
const STACK_BYTES: usize = 8 << 30;

/// The memory bld may use while it evaluates Starlark: `BLD_STARLARK_MEMORY` bytes, else 8 GiB
/// or half the machine's memory, whichever is less.
fn evaluation_memory_limit() -> u64 {
    if let Some(bytes) = std::env::var("BLD_STARLARK_MEMORY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return bytes;
    }
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(u64::MAX);
    (8u64 << 30).min(total / 2)
}

/// This process's resident memory in bytes.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// Watches memory while Starlark is evaluated: the heap budget is checked between operations,
/// but one native call can allocate tens of gigabytes by itself. Past the limit, bld stops
/// with a user error naming the file rather than exhausting the machine (nothing it has
/// written by then is half-made: the store takes only renamed, complete files).
fn watch_evaluation_memory() {
    let limit = evaluation_memory_limit();
    let _ = std::thread::Builder::new()
        .name("bld-memory".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let Some(file) = bld_starlark::limits::evaluating() else {
                    continue;
                };
                if resident_bytes().is_some_and(|bytes| bytes > limit) {
                    eprintln!(
                        "error: {file}: evaluating it took more than {} MiB of memory (bld's limit while evaluating Starlark, `BLD_STARLARK_MEMORY`): expected smaller values",
                        limit >> 20
                    );
                    std::process::exit(1);
                }
            }
        });
}

/// Whether a panic is `println!` finding its reader gone (`bld history IMG | head -1`).
fn is_broken_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    text.starts_with("failed printing to") && text.contains("Broken pipe")
}

/// Set when a signal stops bld: the command's own outcome is then not reported.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set when the interrupted command has wound down and waits to be ended.
static COMMAND_STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The store this run uses, once the command line is parsed (for the interrupt handler).
static STORE_ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// On SIGINT or SIGTERM, stops the containers this process started and removes its temporary
/// files (as BuildKit's runc executor does on cancel), clears the status line, says what
/// happened and exits 130.
fn stop_on_interrupt() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("bld-signals".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
                if let Some(root) = STORE_ROOT.get()
                    && let Ok(store) = bld_store::Store::open(root)
                {
                    // Stopping the containers ends the steps; the command then winds down
                    // (its last writes are atomic) and waits, and what it left is removed.
                    bld_exec::stop_own_work(&store);
                    for _ in 0..300 {
                        if COMMAND_STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    bld_exec::stop_own_work(&store);
                }
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprint!("\r\x1b[2K");
                }
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                eprintln!(
                    "bld: interrupted ({name}): running steps were stopped and their files removed"
                );
                std::process::exit(130);
            }
        });
}

/// Runs `command` on the deep stack with every guard in place, and returns its exit code.
pub(crate) fn run_guarded(command: fn() -> ExitCode) -> ExitCode {
    stop_on_interrupt();
    // A reader that stops reading ends bld quietly and successfully, as it does a `grep`.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe(info.payload()) {
            default_hook(info);
        }
    }));
    watch_evaluation_memory();
    // Where the address space cannot hold such a stack, run on the main thread's.
    match std::thread::Builder::new()
        .name("bld".to_owned())
        .stack_size(STACK_BYTES)
        .spawn(command)
    {
        Ok(worker) => match worker.join() {
            Ok(code) => code,
            Err(payload) if is_broken_pipe(payload.as_ref()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        },
        Err(_) => command(),
    }
}

/// Records the store this run uses, for the interrupt handler.
pub(crate) fn uses_store(root: &std::path::Path) {
    let _ = STORE_ROOT.set(root.to_owned());
}

/// When a signal stopped the command, what it failed with is not reported: it waits for the
/// interrupt handler to report and exit.
pub(crate) fn wait_if_interrupted() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        COMMAND_STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
        loop {
            std::thread::park();
        }
    }
}
