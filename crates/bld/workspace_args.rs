//! Resolving the workspace and target patterns from the working directory.

use bld_core::{TargetPattern, Workspace};
use bld_starlark::{Loader, TargetSet, expand_patterns};

use crate::{Classified, Failure};

/// The workspace around the working directory and the patterns, resolved against it.
pub struct Patterns {
    /// The workspace.
    pub workspace: Workspace,
    /// The patterns, absolute.
    pub patterns: Vec<TargetPattern>,
}

/// The workspace around the working directory, its loader, and the labels patterns name.
pub struct Resolved {
    /// Its loader.
    pub loader: Loader,
    /// The packages loaded so far.
    pub targets: TargetSet,
    /// The labels the patterns expand to.
    pub labels: Vec<bld_core::Label>,
}

/// Finds the workspace and parses `patterns` relative to the working directory.
pub fn parse_patterns(patterns: &[String]) -> Result<Patterns, Failure> {
    let cwd = std::env::current_dir().internal_fault()?;
    let workspace = Workspace::discover(&cwd)?;
    let current_package = workspace.package_of(&cwd);
    let patterns = patterns
        .iter()
        .map(|p| TargetPattern::parse(p, &current_package))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Patterns {
        workspace,
        patterns,
    })
}

/// Evaluates what the patterns need and expands them.
pub fn load(patterns: &Patterns) -> Result<Resolved, Failure> {
    let loader = Loader::new(patterns.workspace.clone())?;
    let mut targets = TargetSet::default();
    let labels = expand_patterns(&loader, &mut targets, &patterns.patterns)?;
    Ok(Resolved {
        loader,
        targets,
        labels,
    })
}
