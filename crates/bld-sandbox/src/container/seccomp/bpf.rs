//! A seccomp profile compiled to the classic BPF program the kernel runs, as libseccomp would
//! compile it, so that the runtime loads it as it is (crun's `run.oci.seccomp_bpf_data`)
//! instead of compiling the profile again for every run (about 10 ms each, crun 1.8 having no
//! cache without libgcrypt).
//!
//! The program checks the architecture, then the system call's number against each rule in
//! number order; a rule with argument conditions tests them in turn. Only what Docker's
//! profile uses is compiled: allow, errno and kill actions, and the `==`, `!=` and masked `==`
//! comparisons; anything else (and an architecture without a number table here) gives `None`,
//! and the runtime compiles the profile itself.

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

/// System call numbers, `name number` per line, from the kernel's UAPI headers.
const X86_64_NUMBERS: &str = include_str!("x86_64.txt");
const X86_NUMBERS: &str = include_str!("x86.txt");
const X32_NUMBERS: &str = include_str!("x32.txt");

/// x32 system calls come as x86-64 ones with this bit set in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_*`, as `seccomp_data.arch` reports them.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// Offsets in `struct seccomp_data`: the number, the architecture, the arguments (64 bits each).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

/// Classic BPF opcodes.
const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

/// `SECCOMP_RET_*` actions.
const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

/// `EPERM`, libseccomp's errno when a profile gives none.
const EPERM: u32 = 1;

/// One instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// One architecture's part of a filter: the numbers of its system calls.
struct ArchTable {
    audit: u32,
    /// Whether arguments are 64 bits wide (else only their low 32 bits are compared: on x86
    /// and on x32, whose arguments are 32-bit values as libseccomp takes them).
    wide: bool,
    numbers: &'static str,
    /// Added to every number (x32's marker bit).
    offset: u32,
}

fn table(arch: Arch) -> Option<ArchTable> {
    let (audit, wide, numbers, offset) = match arch {
        Arch::ScmpArchX86_64 => (AUDIT_ARCH_X86_64, true, X86_64_NUMBERS, 0),
        Arch::ScmpArchX86 => (AUDIT_ARCH_I386, false, X86_NUMBERS, 0),
        Arch::ScmpArchX32 => (AUDIT_ARCH_X86_64, false, X32_NUMBERS, X32_SYSCALL_BIT),
        _ => return None,
    };
    Some(ArchTable {
        audit,
        wide,
        numbers,
        offset,
    })
}

impl ArchTable {
    /// Every system call of this architecture, by name.
    fn numbers(&self) -> HashMap<&'static str, u32> {
        self.numbers
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once(' '))
            .filter_map(|(name, number)| Some((name, number.parse::<u32>().ok()? + self.offset)))
            .collect()
    }

    /// The number of `name` here, if this architecture has that system call.
    #[cfg(test)]
    fn number(&self, name: &str) -> Option<u32> {
        self.numbers().get(name).copied()
    }
}

/// A comparison of one argument, as compiled.
#[derive(Debug, Clone, Copy)]
enum Compare {
    Eq(u64),
    Ne(u64),
    MaskedEq { mask: u64, value: u64 },
}

/// The rules of one system call: each a list of comparisons (all must hold) and its action.
type Rules = Vec<(Vec<(u32, Compare)>, u32)>;

/// The program for `profile`, as the bytes of its `sock_filter` array, or `None` when it uses
/// what is not compiled here.
pub(super) fn compile(profile: &LinuxSeccomp) -> Option<Vec<u8>> {
    Some(encode(&program(profile)?))
}

/// The instructions for `profile`.
pub(super) fn program(profile: &LinuxSeccomp) -> Option<Vec<Insn>> {
    if profile
        .flags()
        .as_ref()
        .is_some_and(|flags| !flags.is_empty())
        || profile.listener_path().is_some()
    {
        return None;
    }
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut tables = Vec::new();
    for arch in profile.architectures().as_deref().unwrap_or_default() {
        tables.push(table(*arch)?);
    }
    if tables.is_empty() {
        return None;
    }
    // The sections, one per audit architecture, x32 after x86-64 in the same section.
    let mut sections: Vec<(u32, Vec<Insn>)> = Vec::new();
    for audit in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
        let of_audit: Vec<&ArchTable> = tables.iter().filter(|t| t.audit == audit).collect();
        if !of_audit.is_empty() {
            sections.push((audit, section(profile, &of_audit, default)?));
        }
    }
    // The architecture check: a jump to each section, and death for any other architecture
    // (libseccomp's default for a foreign architecture).
    let mut program = vec![insn(LD_W_ABS, 0, 0, DATA_ARCH)];
    let header_len = 1 + 2 * sections.len() + 1;
    let mut target = header_len;
    for (i, (audit, body)) in sections.iter().enumerate() {
        let ja_at = 1 + 2 * i + 1;
        program.push(insn(JMP_JEQ_K, 0, 1, *audit));
        program.push(insn(JMP_JA, 0, 0, u32::try_from(target - ja_at - 1).ok()?));
        target += body.len();
    }
    program.push(insn(RET_K, 0, 0, RET_KILL_THREAD));
    for (_, body) in sections {
        program.extend(body);
    }
    Some(program)
}

/// The part of the program for the architectures sharing one audit value: x86-64 and x32,
/// told apart by x32's marker bit.
fn section(profile: &LinuxSeccomp, tables: &[&ArchTable], default: u32) -> Option<Vec<Insn>> {
    // The part for the table with this offset, or death where the profile lacks that table.
    let part = |offset: u32| match tables.iter().find(|t| t.offset == offset) {
        Some(t) => dispatch(profile, t, default),
        None => Some(vec![insn(RET_K, 0, 0, RET_KILL_THREAD)]),
    };
    let mut body = vec![insn(LD_W_ABS, 0, 0, DATA_NR)];
    let native = part(0)?;
    if tables.iter().any(|t| t.audit == AUDIT_ARCH_X86_64) {
        body.push(insn(JMP_JGE_K, 0, 1, X32_SYSCALL_BIT));
        body.push(insn(JMP_JA, 0, 0, u32::try_from(native.len()).ok()?));
        body.extend(native);
        body.extend(part(X32_SYSCALL_BIT)?);
    } else {
        body.extend(native);
    }
    Some(body)
}

/// With the number loaded: each system call of the profile this architecture has, in number
/// order, then the default action.
fn dispatch(profile: &LinuxSeccomp, table: &ArchTable, default: u32) -> Option<Vec<Insn>> {
    let numbers = table.numbers();
    let mut by_number: BTreeMap<u32, Rules> = BTreeMap::new();
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        // A rule's errno defaults to EPERM, not to the profile's (the runtime spec's rule).
        let ret = action(rule.action(), rule.errno_ret())?;
        let mut compares = Vec::new();
        for arg in rule.args().as_deref().unwrap_or_default() {
            let index = u32::try_from(arg.index()).ok().filter(|i| *i < 6)?;
            let compare = match arg.op() {
                LinuxSeccompOperator::ScmpCmpEq => Compare::Eq(arg.value()),
                LinuxSeccompOperator::ScmpCmpNe => Compare::Ne(arg.value()),
                LinuxSeccompOperator::ScmpCmpMaskedEq => Compare::MaskedEq {
                    mask: arg.value(),
                    value: arg.value_two().unwrap_or(0),
                },
                _ => return None,
            };
            compares.push((index, compare));
        }
        for name in rule.names() {
            if let Some(&number) = numbers.get(name.as_str()) {
                by_number
                    .entry(number)
                    .or_default()
                    .push((compares.clone(), ret));
            }
        }
    }
    let mut body = Vec::new();
    for (number, rules) in by_number {
        let block = rules_block(&rules, table.wide, default)?;
        body.push(insn(JMP_JEQ_K, 0, u8::try_from(block.len()).ok()?, number));
        body.extend(block);
    }
    body.push(insn(RET_K, 0, 0, default));
    Some(body)
}

/// One system call's rules, every path ending in a return: a rule without conditions wins;
/// rules with conditions are tried in turn, and the default ends the block. Rules of one call
/// with different actions are left to libseccomp (its precedence is its own).
fn rules_block(rules: &Rules, wide: bool, default: u32) -> Option<Vec<Insn>> {
    let actions: Vec<u32> = rules.iter().map(|(_, ret)| *ret).collect();
    if actions.iter().any(|a| *a != actions[0]) {
        return None;
    }
    if let Some((_, ret)) = rules.iter().find(|(compares, _)| compares.is_empty()) {
        return Some(vec![insn(RET_K, 0, 0, *ret)]);
    }
    let mut block = Vec::new();
    for (compares, ret) in rules {
        let mut rule: Vec<Insn> = Vec::new();
        // Each comparison's jumps to "this rule fails" are patched once the rule's length is
        // known: `FAIL` marks them.
        let mut fails = Vec::new();
        for (index, compare) in compares {
            compare_insns(*index, *compare, wide, &mut rule, &mut fails);
        }
        rule.push(insn(RET_K, 0, 0, *ret));
        let end = rule.len();
        for (at, on_true) in fails {
            let distance = u8::try_from(end - at - 1).ok()?;
            if on_true {
                rule[at].jt = distance;
            } else {
                rule[at].jf = distance;
            }
        }
        block.extend(rule);
    }
    block.push(insn(RET_K, 0, 0, default));
    Some(block)
}

/// Appends the test of argument `index` to `rule`, recording in `fails` each jump (by position,
/// and whether it is the true branch) that must go to the rule's end when the test fails. On
/// a 64-bit architecture both halves are compared, the high one first (as libseccomp does);
/// on a 32-bit one only the low half exists.
fn compare_insns(
    index: u32,
    compare: Compare,
    wide: bool,
    rule: &mut Vec<Insn>,
    fails: &mut Vec<(usize, bool)>,
) {
    let low = DATA_ARGS + 8 * index;
    let high = low + 4;
    let halves = |v: u64| ((v >> 32) as u32, v as u32);
    match compare {
        Compare::Eq(value) | Compare::MaskedEq { value, .. } => {
            let mask = match compare {
                Compare::MaskedEq { mask, .. } => mask,
                _ => u64::MAX,
            };
            let (mask_high, mask_low) = halves(mask);
            let (value_high, value_low) = halves(value);
            let mut half = |offset: u32, mask: u32, value: u32| {
                rule.push(insn(LD_W_ABS, 0, 0, offset));
                if mask != u32::MAX {
                    rule.push(insn(ALU_AND_K, 0, 0, mask));
                }
                fails.push((rule.len(), false));
                rule.push(insn(JMP_JEQ_K, 0, 0, value));
            };
            if wide {
                half(high, mask_high, value_high);
            }
            half(low, mask_low, value_low);
        }
        Compare::Ne(value) => {
            let (value_high, value_low) = halves(value);
            if wide {
                // A different high half already holds: skip the low half's two instructions.
                rule.push(insn(LD_W_ABS, 0, 0, high));
                rule.push(insn(JMP_JEQ_K, 0, 2, value_high));
            }
            rule.push(insn(LD_W_ABS, 0, 0, low));
            fails.push((rule.len(), true));
            rule.push(insn(JMP_JEQ_K, 0, 0, value_low));
        }
    }
}

/// The `SECCOMP_RET_*` value of `action`, with `errno` for an errno action.
fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Option<u32> {
    Some(match action {
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | (errno.unwrap_or(EPERM) & 0xffff),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        _ => return None,
    })
}

/// The instructions as the kernel reads them (`struct sock_filter`, native byte order).
fn encode(program: &[Insn]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for i in program {
        bytes.extend_from_slice(&i.code.to_ne_bytes());
        bytes.push(i.jt);
        bytes.push(i.jf);
        bytes.extend_from_slice(&i.k.to_ne_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests;
