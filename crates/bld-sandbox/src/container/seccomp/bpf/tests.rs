//! The compiled program run by a small interpreter of the instructions it uses, against the
//! profile's own rules and, where Debian's `python3-seccomp` is installed, against libseccomp's
//! compilation of the same profile (what crun would load).

use super::*;
use crate::container::seccomp::default_profile;

/// What the program returns for one system call.
fn verdict(program: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let word = |offset: u32| -> u32 {
        match offset {
            DATA_NR => nr,
            DATA_ARCH => arch,
            16..=63 => {
                let arg = args[((offset - 16) / 8) as usize];
                if (offset - 16) % 8 == 4 {
                    (arg >> 32) as u32
                } else {
                    arg as u32
                }
            }
            _ => 0,
        }
    };
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = program[pc];
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match i.code {
            LD_W_ABS => a = word(i.k),
            ALU_AND_K => a &= i.k,
            JMP_JA => pc += i.k as usize,
            JMP_JEQ_K => pc += jump(a == i.k),
            JMP_JGE_K => pc += jump(a >= i.k),
            0x25 => pc += jump(a > i.k),
            0x45 => pc += jump(a & i.k != 0),
            RET_K => return i.k,
            code => panic!("instruction {code:#x} at {} is not interpreted", pc - 1),
        }
    }
}

fn decode(bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

fn profile() -> LinuxSeccomp {
    default_profile()
        .expect("profile")
        .expect("a profile for this machine")
}

fn ours() -> Vec<Insn> {
    program(&profile()).expect("Docker's profile compiles")
}

fn number(arch: Arch, name: &str) -> u32 {
    table(arch)
        .and_then(|t| t.number(name))
        .unwrap_or_else(|| panic!("{name} on {arch:?}"))
}

const DENIED: u32 = RET_ERRNO | EPERM;

#[test]
fn x86_64_calls_are_allowed_or_denied_as_the_profile_says() {
    let p = ours();
    let call = |name: &str, args: [u64; 6]| {
        verdict(
            &p,
            AUDIT_ARCH_X86_64,
            number(Arch::ScmpArchX86_64, name),
            args,
        )
    };
    let none = [0; 6];
    for name in ["read", "openat", "execve", "chroot", "ptrace", "arch_prctl"] {
        assert_eq!(call(name, none), RET_ALLOW, "{name}");
    }
    for name in [
        "mount", "unshare", "setns", "keyctl", "add_key", "reboot", "bpf",
    ] {
        assert_eq!(call(name, none), DENIED, "{name}");
    }
    assert_eq!(call("clone3", none), RET_ERRNO | 38);
    // personality: the listed personas only, compared on all 64 bits.
    for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(call("personality", [persona, 0, 0, 0, 0, 0]), RET_ALLOW);
    }
    for persona in [0x40000, 0x1_0000_0000, 0x1_ffff_ffff] {
        assert_eq!(call("personality", [persona, 0, 0, 0, 0, 0]), DENIED);
    }
    // clone: no namespace flag (CLONE_NEWNS, CLONE_NEWUSER, …), whatever else.
    let thread = 0x0001_0f00; // CLONE_VM | FS | FILES | SIGHAND | THREAD
    assert_eq!(call("clone", [thread, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        call("clone", [0xffff_ffff_0000_0011, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    for flag in [0x0002_0000, 0x1000_0000, 0x4000_0000] {
        assert_eq!(call("clone", [thread | flag, 0, 0, 0, 0, 0]), DENIED);
    }
    // socket: any family but AF_VSOCK.
    assert_eq!(call("socket", [2, 1, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call("socket", [40, 1, 0, 0, 0, 0]), DENIED);
    assert_eq!(call("socket", [40 | 1 << 32, 1, 0, 0, 0, 0]), RET_ALLOW);
    // A number no system call has, and the -1 a tracer uses to skip one.
    assert_eq!(verdict(&p, AUDIT_ARCH_X86_64, 9999, none), DENIED);
    assert_eq!(verdict(&p, AUDIT_ARCH_X86_64, u32::MAX, none), DENIED);
}

#[test]
fn i386_and_x32_calls_have_their_own_numbers_and_other_architectures_are_killed() {
    let p = ours();
    let none = [0; 6];
    let i386 = |name: &str, args: [u64; 6]| {
        verdict(&p, AUDIT_ARCH_I386, number(Arch::ScmpArchX86, name), args)
    };
    for name in ["socketcall", "mmap2", "fstat64", "read", "set_thread_area"] {
        assert_eq!(i386(name, none), RET_ALLOW, "{name}");
    }
    assert_eq!(i386("mount", none), DENIED);
    // Only the low half of an argument exists on a 32-bit architecture.
    assert_eq!(i386("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(i386("personality", [0x40000, 0, 0, 0, 0, 0]), DENIED);
    let x32 = |name: &str| verdict(&p, AUDIT_ARCH_X86_64, number(Arch::ScmpArchX32, name), none);
    assert_eq!(x32("read"), RET_ALLOW);
    assert_eq!(x32("execve"), RET_ALLOW);
    assert_eq!(x32("mount"), DENIED);
    const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
    assert_eq!(verdict(&p, AUDIT_ARCH_AARCH64, 63, none), RET_KILL_THREAD);
}

#[test]
fn every_number_gets_what_its_name_has_in_the_profile() {
    let profile = profile();
    let p = ours();
    let rules = profile.syscalls().clone().unwrap_or_default();
    for (arch, audit) in [
        (Arch::ScmpArchX86_64, AUDIT_ARCH_X86_64),
        (Arch::ScmpArchX86, AUDIT_ARCH_I386),
        (Arch::ScmpArchX32, AUDIT_ARCH_X86_64),
    ] {
        let t = table(arch).expect("table");
        for line in t.numbers.lines().filter(|l| !l.starts_with('#')) {
            let (name, _) = line.split_once(' ').expect("name number");
            let named = |r: &&oci_spec::runtime::LinuxSyscall| r.names().iter().any(|n| n == name);
            let unconditional = rules
                .iter()
                .filter(named)
                .find(|r| r.args().as_ref().is_none_or(Vec::is_empty));
            let expected = match unconditional {
                Some(r) => action(r.action(), r.errno_ret()).expect("action"),
                None if rules.iter().any(|r| named(&r)) => continue,
                None => DENIED,
            };
            let got = verdict(&p, audit, t.number(name).expect("number"), [0; 6]);
            assert_eq!(got, expected, "{name} on {arch:?}");
        }
    }
}

#[test]
fn profiles_with_what_is_not_compiled_are_left_to_the_runtime() {
    let mut other_arch = profile();
    other_arch.set_architectures(Some(vec![Arch::ScmpArchS390x]));
    assert!(compile(&other_arch).is_none());
    let mut logging = profile();
    logging.set_default_action(LinuxSeccompAction::ScmpActLog);
    assert!(compile(&logging).is_none());
}

/// The arguments tried for each call: zeros, the values the profile's rules name, and others.
const ARG_SAMPLES: &[u64] = &[
    0,
    2,
    8,
    40,
    0x20000,
    0x20008,
    0x40000,
    0x0001_0f00,
    0x0003_0f00,
    0x7e02_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0028,
];

/// libseccomp's compilation of `profile` through its Python binding, or `None` without it.
fn libseccomp_program(profile: &LinuxSeccomp) -> Option<Vec<Insn>> {
    use std::io::Write;
    const SCRIPT: &str = r#"
import json, sys, seccomp
p = json.load(sys.stdin)
f = seccomp.SyscallFilter(seccomp.ERRNO(p.get("defaultErrnoRet", 1)))
arches = {"SCMP_ARCH_X86_64": seccomp.Arch.X86_64, "SCMP_ARCH_X86": seccomp.Arch.X86,
          "SCMP_ARCH_X32": seccomp.Arch.X32}
for a in p["architectures"]:
    if not f.exist_arch(arches[a]):
        f.add_arch(arches[a])
ops = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
for r in p["syscalls"]:
    act = seccomp.ALLOW if r["action"] == "SCMP_ACT_ALLOW" else seccomp.ERRNO(r.get("errnoRet", 1))
    args = [seccomp.Arg(a["index"], ops[a["op"]], a["value"], *([a["valueTwo"]] if "valueTwo" in a else []))
            for a in r.get("args", [])]
    for name in r["names"]:
        try:
            f.add_rule(act, name, *args)
        except (RuntimeError, ValueError):
            pass  # a name this libseccomp does not know, or an architecture lacks
f.export_bpf(sys.stdout)
"#;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let json = serde_json::to_vec(profile).expect("profile as JSON");
    child.stdin.take()?.write_all(&json).ok()?;
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("No module named 'seccomp'"),
            "libseccomp's compilation failed: {stderr}"
        );
        return None;
    }
    Some(decode(&output.stdout))
}

#[test]
fn the_program_decides_as_libseccomps_does() {
    let profile = profile();
    let Some(theirs) = libseccomp_program(&profile) else {
        // Written to the stream itself, past the test harness's capture, so that it shows.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: python3-seccomp (Debian's libseccomp binding) is not installed\n",
        );
        return;
    };
    let ours = decode(&compile(&profile).expect("compiles"));
    let mut compared = 0;
    for audit in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0xc000_00b7] {
        let numbers = (0..600).chain((0..600).map(|n| n | X32_SYSCALL_BIT));
        for nr in numbers.chain([u32::MAX]) {
            for &arg in ARG_SAMPLES {
                let args = [arg, arg, 0, 0, 0, 0];
                assert_eq!(
                    verdict(&ours, audit, nr, args),
                    verdict(&theirs, audit, nr, args),
                    "arch {audit:#x}, number {nr:#x}, arguments {args:x?}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 40_000);
}
