//! Which bld process made something: a tag of the process id and its start time, put into the
//! names of temporary files and containers, so that a later process can tell what a killed one
//! left behind (a process id alone may have been reused by then).

use std::sync::OnceLock;

/// This process's tag: `<pid>.<start time in clock ticks since boot>`.
pub fn current_owner() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}.{}", start_time(pid).unwrap_or(0))
    })
}

/// The owner tag a name starts with (`<pid>.<start>-…`), if it has one.
pub fn owner_of(name: &str) -> Option<&str> {
    let tag = name.split(['-', '/']).next()?;
    let (pid, start) = tag.split_once('.')?;
    (pid.parse::<u32>().is_ok() && start.parse::<u64>().is_ok()).then_some(tag)
}

/// Whether the process that `tag` names still runs (the same process: same id, same start).
pub fn is_running(tag: &str) -> bool {
    let Some((pid, start)) = tag.split_once('.') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid) == Some(start)
}

/// Field 22 of `/proc/<pid>/stat` (when the process started, in clock ticks since boot), of a
/// process that has not ended: a zombie nobody has reaped yet is not running.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_a_made_up_one_does_not() {
        let me = current_owner();
        assert!(is_running(me), "{me}");
        assert_eq!(owner_of(&format!("{me}-3-blob")), Some(me));
        let (pid, start) = me.split_once('.').expect("tag");
        let start: u64 = start.parse().expect("start");
        assert!(!is_running(&format!("{pid}.{}", start + 1)), "pid reused");
        assert!(!is_running("4194305.1"), "no such pid");
        assert_eq!(owner_of("notatag-1"), None);
    }
}
