//! `bld query PATTERN` and `bld query 'deps(PATTERN)'`.

use bld_starlark::query_deps;
use clap::Args;

use crate::Failure;
use crate::workspace_args::resolve;

/// Arguments of `bld query`.
#[derive(Args)]
pub struct QueryArgs {
    /// A target pattern (`//examples/...`) or `deps(PATTERN)`.
    expression: String,
}

/// Prints the labels the expression matches, one per line.
pub fn run(args: QueryArgs) -> Result<(), Failure> {
    let expression = args.expression.trim();
    if let Some(inner) = expression.strip_prefix("deps(") {
        let Some(pattern) = inner.strip_suffix(')') else {
            return Err(Failure::user(format!(
                "query `{expression}`: expected `deps(PATTERN)`"
            )));
        };
        let mut resolved = resolve(&[pattern.trim().to_owned()])?;
        for label in query_deps(&resolved.loader, &mut resolved.targets, &resolved.labels)? {
            println!("{label}");
        }
    } else if expression.contains('(') {
        return Err(Failure::user(format!(
            "query `{expression}`: expected a target pattern or `deps(PATTERN)`"
        )));
    } else {
        let resolved = resolve(&[expression.to_owned()])?;
        for label in &resolved.labels {
            let rule = resolved
                .targets
                .get(label)
                .map(|t| t.rule_name.as_str())
                .unwrap_or("source");
            println!("{rule} rule {label}");
        }
    }
    Ok(())
}
