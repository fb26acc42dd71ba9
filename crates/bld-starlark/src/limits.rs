//! Limits on evaluation, so that a hostile `BUILD.star` or `.star` file fails with an error
//! naming where it ran out instead of hanging bld, exhausting memory or overflowing the stack.
//!
//! Three budgets apply to each file's evaluation and to each target's analysis: a number of
//! steps ([`MAX_STEPS`]: statements, loop iterations and calls), a heap size
//! ([`MAX_HEAP_BYTES`]) and a call depth ([`MAX_CALL_DEPTH`]). The heap is checked before every
//! statement and before every `+` and `*`, which are rewritten into calls of checked natives
//! (the only operators that can multiply the size of a value in one step). Where starlark-rust
//! itself recurses — the parser and compiler over nested brackets, blocks and long operator
//! chains — [`check_source`] refuses the text before it is parsed.

mod source_scan;

pub(crate) use source_scan::check_source;

use std::fmt;

use starlark::codemap::{FileSpan, FileSpanRef};
use starlark::environment::GlobalsBuilder;
use starlark::eval::{BeforeStmtFunc, BeforeStmtFuncDyn, Evaluator};
use starlark::values::Value;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark_derive::starlark_module;

/// Steps (statements, loop iterations and function calls) one evaluation may take: about a
/// second of release-build evaluation, a hundred times what a 200,000-target package needs.
pub const MAX_STEPS: u64 = 20_000_000;

/// Bytes one evaluation's Starlark heap may hold. Under 2 GiB so that even an operation the
/// checks cannot see (`s += s`) stays below starlark-rust's 4 GiB limit on one string.
pub const MAX_HEAP_BYTES: usize = 1 << 30;

/// How deeply Starlark calls may nest.
pub const MAX_CALL_DEPTH: usize = 100;

/// How deeply brackets, and separately indented blocks, may nest in a source file.
pub const MAX_NESTING: usize = 100;

/// How deep one expression may be: operators, attribute accesses, calls and brackets counted
/// along the path from the statement to the innermost term (`1+1+…+1` with 1,001 terms is
/// 1,000 deep).
pub const MAX_EXPRESSION_DEPTH: usize = 1000;

/// The limit a file ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// [`MAX_STEPS`].
    Steps,
    /// [`MAX_HEAP_BYTES`]; `requested` is what the refused operation would have added.
    Heap {
        /// Bytes the refused operation would have allocated, if known.
        requested: Option<usize>,
    },
    /// [`MAX_CALL_DEPTH`].
    CallDepth,
    /// [`MAX_NESTING`] brackets.
    Brackets,
    /// [`MAX_NESTING`] indented blocks.
    Blocks,
    /// [`MAX_EXPRESSION_DEPTH`].
    ExpressionDepth,
    /// `*=`, which could multiply a value's size without a check.
    MultiplyAssign,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Steps => write!(
                f,
                "evaluation exceeded its budget of {MAX_STEPS} steps (statements, loop iterations and calls): expected a loop that ends sooner"
            ),
            Limit::Heap { requested } => {
                write!(
                    f,
                    "evaluation exceeded its heap budget of {} MiB",
                    MAX_HEAP_BYTES >> 20
                )?;
                if let Some(bytes) = requested {
                    write!(f, " (this operation would allocate {} MiB)", bytes >> 20)?;
                }
                f.write_str(": expected smaller values")
            }
            Limit::CallDepth => write!(
                f,
                "calls nest deeper than {MAX_CALL_DEPTH} levels: expected shallower macro calls"
            ),
            Limit::Brackets => write!(
                f,
                "brackets nest deeper than {MAX_NESTING} levels: expected shallower nesting"
            ),
            Limit::Blocks => write!(
                f,
                "blocks nest deeper than {MAX_NESTING} levels: expected shallower indentation"
            ),
            Limit::ExpressionDepth => write!(
                f,
                "expression deeper than {MAX_EXPRESSION_DEPTH} operators: expected a shorter expression (split it into several statements)"
            ),
            Limit::MultiplyAssign => f.write_str(
                "`*=` is not supported (its result's size cannot be checked): expected `x = x * n`",
            ),
        }
    }
}

/// A limit hit while starlark-rust was running, carried through its error type.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {limit}")]
struct LimitHit {
    location: String,
    limit: Limit,
}

fn hit(location: String, limit: Limit) -> starlark::Error {
    starlark::Error::new_other(LimitHit { location, limit })
}

/// The limit `error` reports, with where it was hit (`file:line:col`) when known.
pub(crate) fn limit_of(error: &starlark::Error) -> Option<(Option<String>, Limit)> {
    use starlark::ErrorKind;
    let span = error
        .span()
        .cloned()
        .or_else(|| LAST_STATEMENT.with(|last| last.borrow().clone()))
        .map(|s| span_text(s.as_ref()));
    let inner = match error.kind() {
        ErrorKind::StackOverflow(_) => return Some((span, Limit::CallDepth)),
        ErrorKind::Fail(e)
        | ErrorKind::Value(e)
        | ErrorKind::Function(e)
        | ErrorKind::Scope(e)
        | ErrorKind::Parser(e)
        | ErrorKind::Freeze(e)
        | ErrorKind::Internal(e)
        | ErrorKind::Native(e)
        | ErrorKind::Other(e) => e,
        _ => return None,
    };
    if let Some(found) = inner.chain().find_map(|c| c.downcast_ref::<LimitHit>()) {
        return Some((Some(found.location.clone()), found.limit.clone()));
    }
    // starlark-rust's own checks (every thousand ticks), set below as a backstop.
    let text = inner.to_string();
    if text.starts_with("Execution duration limit") {
        Some((span, Limit::Steps))
    } else if text.starts_with("Heap memory limit") {
        Some((span, Limit::Heap { requested: None }))
    } else {
        None
    }
}

fn span_text(span: FileSpanRef) -> String {
    let resolved = span.resolve_span();
    format!(
        "{}:{}:{}",
        span.filename(),
        resolved.begin.line + 1,
        resolved.begin.column + 1
    )
}

fn heap_in_use(eval: &Evaluator) -> usize {
    eval.heap().allocated_bytes() + eval.frozen_heap().allocated_bytes()
}

thread_local! {
    /// The statement the budgets last saw start, for limits starlark-rust reports without a
    /// location (its tick limit inside a loop with no statements of its own).
    static LAST_STATEMENT: std::cell::RefCell<Option<FileSpan>> = const { std::cell::RefCell::new(None) };
}

/// Counts statements and checks the heap before each one.
struct StatementBudget {
    statements: u64,
}

impl<'e> BeforeStmtFuncDyn<'e> for StatementBudget {
    fn call<'v>(
        &mut self,
        span: FileSpanRef,
        continued: bool,
        eval: &mut Evaluator<'v, '_, 'e>,
    ) -> starlark::Result<()> {
        if !continued {
            self.statements += 1;
            LAST_STATEMENT.with(|last| *last.borrow_mut() = Some(span.to_file_span()));
        }
        if self.statements + eval.get_total_tick_count() > MAX_STEPS {
            return Err(hit(span_text(span), Limit::Steps));
        }
        if heap_in_use(eval) > MAX_HEAP_BYTES {
            return Err(hit(span_text(span), Limit::Heap { requested: None }));
        }
        Ok(())
    }
}

thread_local! {
    /// Whether a panic on this thread is being contained by [`contain_panics`] (and so not
    /// printed by the panic hook).
    static CONTAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The file (or target) being evaluated now, if any.
static EVALUATING: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn set_evaluating(file: Option<String>) -> Option<String> {
    let mut evaluating = EVALUATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::mem::replace(&mut *evaluating, file)
}

/// The file (or the target being analysed) whose Starlark is being evaluated right now, for a
/// watchdog that enforces a memory limit: one native call (`s.replace("", s)`) can allocate
/// far past [`MAX_HEAP_BYTES`] before any check of starlark-rust's heap runs.
pub fn evaluating() -> Option<String> {
    EVALUATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Runs one evaluation, turning a panic inside starlark-rust into a user error naming the
/// file (or the target being analysed). Some of its natives panic on values too large for its heap rather
/// than failing (`list(range(2147483647))`: "AlignedSize must not exceed u32::MAX"); such a
/// file is the user's to fix, and bld must not crash on it.
pub(crate) fn contain_panics<T>(
    display: &str,
    evaluate: impl FnOnce() -> Result<T, crate::FrontendError>,
) -> Result<T, crate::FrontendError> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = CONTAINING.with(|c| c.replace(true));
    let outer_file = set_evaluating(Some(display.to_owned()));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(evaluate));
    set_evaluating(outer_file);
    CONTAINING.with(|c| c.set(outer));
    result.unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no reason given".to_owned());
        // The statement hook does not see every statement start (a call's own statement may
        // not be the last one seen), so only the file is named.
        Err(crate::FrontendError::User {
            message: format!(
                "{display}: Starlark cannot evaluate it ({reason}): expected smaller values"
            ),
        })
    })
}

/// Applies every budget to a fresh evaluator (before it compiles or runs anything).
pub(crate) fn limit(eval: &mut Evaluator) {
    eval.set_max_callstack_size(MAX_CALL_DEPTH)
        .expect("invariant: a fresh evaluator has no call stack size");
    eval.set_max_tick_count(MAX_STEPS)
        .expect("invariant: a fresh evaluator has no tick limit");
    eval.set_max_heap_size(MAX_HEAP_BYTES)
        .expect("invariant: a fresh evaluator has no heap limit");
    eval.before_stmt_for_dap(BeforeStmtFunc::from_dyn(Box::new(StatementBudget {
        statements: 0,
    })));
}

/// The operators rewritten into checked calls, and the natives they call.
pub(crate) const CHECKED_OPERATORS: &[(&str, &str)] =
    &[("+", "_bld_checked_add"), ("*", "_bld_checked_mul")];

/// Bytes of a string, or of the values of a list or tuple (what `+` and `*` copy).
fn copied_bytes(value: Value) -> Option<usize> {
    if let Some(s) = value.unpack_str() {
        Some(s.len())
    } else if let Some(list) = ListRef::from_value(value) {
        Some(list.len() * size_of::<Value>())
    } else {
        TupleRef::from_value(value).map(|t| t.len() * size_of::<Value>())
    }
}

fn check_allocation(eval: &Evaluator, bytes: usize) -> starlark::Result<()> {
    if heap_in_use(eval).saturating_add(bytes) > MAX_HEAP_BYTES {
        let location = eval
            .call_stack_top_location()
            .map(|s| span_text(s.as_ref()))
            .unwrap_or_else(|| "<unknown>".to_owned());
        return Err(hit(
            location,
            Limit::Heap {
                requested: Some(bytes),
            },
        ));
    }
    Ok(())
}

#[starlark_module]
pub(crate) fn register_checked_operators(builder: &mut GlobalsBuilder) {
    /// `a + b`, refused before it allocates past the heap budget. bld rewrites every `+` into a
    /// call of this function; it is not meant to be called by name.
    ///
    /// ```python
    /// srcs = ["a.txt"] + ["b.txt"]   # _bld_checked_add(["a.txt"], ["b.txt"])
    /// ```
    fn _bld_checked_add<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        if let (Some(x), Some(y)) = (copied_bytes(a), copied_bytes(b)) {
            check_allocation(eval, x.saturating_add(y))?;
        }
        a.add(b, eval.heap())
    }

    /// `a * b`, refused before it allocates past the heap budget. bld rewrites every `*` into a
    /// call of this function; it is not meant to be called by name.
    ///
    /// ```python
    /// line = "-" * 72   # _bld_checked_mul("-", 72)
    /// ```
    fn _bld_checked_mul<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let repeated = match (copied_bytes(a), copied_bytes(b)) {
            (Some(bytes), None) => b.unpack_i32().map(|n| (bytes, n)),
            (None, Some(bytes)) => a.unpack_i32().map(|n| (bytes, n)),
            _ => None,
        };
        if let Some((bytes, times)) = repeated {
            let times = usize::try_from(times).unwrap_or(0);
            check_allocation(eval, bytes.saturating_mul(times))?;
        }
        a.mul(b, eval.heap())
    }
}
