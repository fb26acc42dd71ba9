//! `bld build --watch` (`bld watch`): what to watch for a build, and the loop
//! (`crate::watch`) around it.

use std::path::{Path, PathBuf};

use bld_starlark::AnalysisOptions;
use bld_store::Store;

use super::{BuildArgs, analysis_key, dockerfile, run_once};
use crate::Failure;
use crate::watch::{Interest, watch};
use crate::workspace_args::parse_patterns;

/// Builds what `args` names, then again at each change of what it read.
pub(crate) fn build_and_watch(args: &BuildArgs, store_root: &Path) -> Result<(), Failure> {
    let store_dir = std::path::absolute(store_root).unwrap_or_else(|_| store_root.to_owned());
    let mut build = || run_once(args, store_root);
    if let Some(context) = dockerfile::context_argument(args)? {
        if context == Path::new(super::stdin::STDIN)
            || args.file.as_deref() == Some(Path::new(super::stdin::STDIN))
        {
            return Err(Failure::user(
                "--watch needs a context and a Dockerfile on disk, not on stdin",
            ));
        }
        let context = std::path::absolute(&context).unwrap_or(context);
        let file = args.file.as_ref().map_or_else(
            || context.join("Dockerfile"),
            |f| std::path::absolute(f).unwrap_or_else(|_| f.clone()),
        );
        let mut roots = vec![context.clone()];
        if let Some(dir) = file.parent().filter(|dir| !dir.starts_with(&context)) {
            roots.push(dir.to_owned());
        }
        // What the build itself writes is no change to it.
        let written = [&args.iidfile, &args.metadata_file]
            .into_iter()
            .flatten()
            .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()));
        let interest = Interest {
            files: [file].into(),
            trees: vec![context],
            ignored: written.chain([store_dir]).collect(),
            ..Interest::default()
        };
        return watch(&roots, &mut build, &|| interest.clone());
    }
    let patterns = parse_patterns(&args.patterns)?;
    let root = patterns.workspace.root().to_owned();
    let host_network = super::host_network(&args.network)?;
    let interest =
        || workspace_interest(&args.patterns, host_network, &root, &store_dir).unwrap_or_default();
    watch(std::slice::from_ref(&root), &mut build, &interest)
}

/// What the last analysis of the targets `patterns` name read (the analysis cache's
/// observations) and the sources its actions read, at the workspace `root`.
pub(crate) fn workspace_interest(
    patterns: &[String],
    host_network: bool,
    root: &Path,
    store_dir: &Path,
) -> Option<Interest> {
    let patterns = parse_patterns(patterns).ok()?;
    let options = AnalysisOptions {
        source_date_epoch: super::source_date_epoch().ok()?,
        host_network,
    };
    let key = analysis_key(&patterns, options).ok()?;
    let store = Store::open(store_dir).ok()?;
    let observed = bld_starlark::observed(&store.get_analysis(&key).ok()??)?;
    let absolute = |p: PathBuf| if p.is_absolute() { p } else { root.join(p) };
    Some(Interest {
        files: observed.files.into_iter().map(absolute).collect(),
        checked: observed.checked.into_iter().map(absolute).collect(),
        sources: observed.sources.iter().map(|s| root.join(s)).collect(),
        dirs: observed.dirs.into_iter().map(absolute).collect(),
        trees: Vec::new(),
        ignored: vec![
            root.join("bld-out"),
            root.join(".git"),
            store_dir.to_owned(),
        ],
    })
}
