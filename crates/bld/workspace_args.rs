//! Resolving the workspace and target patterns from the working directory.

use bld_core::{TargetPattern, Workspace};
use bld_starlark::{Loader, TargetSet, expand_patterns};

/// The workspace around the working directory, its loader, and the labels `patterns` name.
pub struct Resolved {
    /// The workspace.
    pub workspace: Workspace,
    /// Its loader.
    pub loader: Loader,
    /// The packages loaded so far.
    pub targets: TargetSet,
    /// The labels the patterns expand to.
    pub labels: Vec<bld_core::Label>,
}

/// Finds the workspace, evaluates what `patterns` need and expands them.
pub fn resolve(patterns: &[String]) -> anyhow::Result<Resolved> {
    let cwd = std::env::current_dir()?;
    let workspace = Workspace::discover(&cwd)?;
    let current_package = workspace.package_of(&cwd);
    let patterns = patterns
        .iter()
        .map(|p| TargetPattern::parse(p, &current_package))
        .collect::<Result<Vec<_>, _>>()?;
    let loader = Loader::new(workspace.clone())?;
    let mut targets = TargetSet::default();
    let labels = expand_patterns(&loader, &mut targets, &patterns)?;
    Ok(Resolved {
        workspace,
        loader,
        targets,
        labels,
    })
}
