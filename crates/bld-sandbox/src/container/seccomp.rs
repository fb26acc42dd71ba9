//! Docker's default seccomp profile (moby's `profiles/seccomp/default.json`) for the
//! capabilities bld gives every run (Docker's defaults, in `bundle.rs`: no `CAP_SYS_ADMIN`,
//! `CAP_SYS_PTRACE`, …, but `CAP_SYS_CHROOT`) on this machine's architecture: every system call
//! not allowed below fails with `EPERM`, `clone3` with `ENOSYS` (so that C libraries fall back
//! to `clone`, whose namespace flags are refused).

pub(super) mod bpf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

/// System calls allowed whatever their arguments.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // Allowed from Linux 4.8 on (every kernel bld supports), and by CAP_SYS_CHROOT.
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "chroot",
];

/// Allowed on x86: `arch_prctl` on 64-bit, `modify_ldt`.
#[cfg(target_arch = "x86_64")]
const ARCH_ALLOWED: &[&str] = &["arch_prctl", "modify_ldt"];
/// Allowed on ARM.
#[cfg(target_arch = "aarch64")]
const ARCH_ALLOWED: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH_ALLOWED: &[&str] = &[];

/// The architectures a filter for this machine covers (its own and the 32-bit ones it runs).
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        Vec::new()
    }
}

/// `personality(2)` personas allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32,
/// and the query 0xffffffff.
const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// `clone(2)` flags refused without CAP_SYS_ADMIN: the new-namespace flags (CLONE_NEWNS,
/// NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
const CLONE_NAMESPACE_FLAGS: u64 = 0x7e02_0000;

/// `AF_VSOCK`, the socket family refused.
const AF_VSOCK: u64 = 40;

/// `ENOSYS`, what `clone3` gets.
const ENOSYS: u32 = 38;

/// Docker's profile for this machine, and its program compiled here (base64, as crun's
/// `run.oci.seccomp_bpf_data` annotation takes it) where it can be; made once per process.
pub(super) struct Filter {
    pub(super) profile: LinuxSeccomp,
    pub(super) program_base64: Option<String>,
}

/// The [`Filter`] of this machine, or `None` on an architecture bld has no profile for.
pub(super) fn default_filter() -> Result<Option<&'static Filter>, String> {
    use base64::Engine as _;
    static FILTER: std::sync::OnceLock<Result<Option<Filter>, String>> = std::sync::OnceLock::new();
    let made = FILTER.get_or_init(|| {
        let profile = default_profile().map_err(|e| e.to_string())?;
        Ok(profile.map(|profile| Filter {
            program_base64: bpf::compile(&profile)
                .map(|program| base64::engine::general_purpose::STANDARD.encode(program)),
            profile,
        }))
    });
    made.as_ref().map(Option::as_ref).map_err(Clone::clone)
}

/// The filter, or `None` on an architecture bld has no profile for.
pub(super) fn default_profile() -> Result<Option<LinuxSeccomp>, oci_spec::OciSpecError> {
    let architectures = architectures();
    if architectures.is_empty() {
        return Ok(None);
    }
    let allow = |names: &[&str]| syscall(names, LinuxSeccompAction::ScmpActAllow, None, None);
    let mut syscalls = vec![allow(ALLOWED)?, allow(ARCH_ALLOWED)?];
    // The first argument must (not) be: `socket`'s family, `personality`'s persona.
    syscalls.push(syscall(
        &["socket"],
        LinuxSeccompAction::ScmpActAllow,
        Some((0, AF_VSOCK, None, LinuxSeccompOperator::ScmpCmpNe)),
        None,
    )?);
    for persona in PERSONAS {
        syscalls.push(syscall(
            &["personality"],
            LinuxSeccompAction::ScmpActAllow,
            Some((0, *persona, None, LinuxSeccompOperator::ScmpCmpEq)),
            None,
        )?);
    }
    // `clone` without namespace flags (on s390 the flags are the second argument).
    let flags_index = if cfg!(target_arch = "s390x") { 1 } else { 0 };
    syscalls.push(syscall(
        &["clone"],
        LinuxSeccompAction::ScmpActAllow,
        Some((
            flags_index,
            CLONE_NAMESPACE_FLAGS,
            Some(0),
            LinuxSeccompOperator::ScmpCmpMaskedEq,
        )),
        None,
    )?);
    syscalls.push(syscall(
        &["clone3"],
        LinuxSeccompAction::ScmpActErrno,
        None,
        Some(ENOSYS),
    )?);
    Ok(Some(
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActErrno)
            .default_errno_ret(1u32)
            .architectures(architectures)
            .syscalls(syscalls)
            .build()?,
    ))
}

/// One rule: `names` get `action` (with `errno`), when argument `arg.0` compares to `arg.1`
/// (masked by it, compared to `arg.2`, for `SCMP_CMP_MASKED_EQ`).
fn syscall(
    names: &[&str],
    action: LinuxSeccompAction,
    arg: Option<(usize, u64, Option<u64>, LinuxSeccompOperator)>,
    errno: Option<u32>,
) -> Result<LinuxSyscall, oci_spec::OciSpecError> {
    let mut rule = LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .action(action);
    if let Some((index, value, value_two, op)) = arg {
        let mut arg = LinuxSeccompArgBuilder::default()
            .index(index)
            .value(value)
            .op(op);
        if let Some(two) = value_two {
            arg = arg.value_two(two);
        }
        rule = rule.args(vec![arg.build()?]);
    }
    if let Some(errno) = errno {
        rule = rule.errno_ret(errno);
    }
    rule.build()
}
