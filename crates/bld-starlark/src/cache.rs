//! Reusing an earlier analysis: a cached [`Analysis`] is valid exactly when every observation
//! loading and analysis made of the workspace (files read, directories listed, paths checked)
//! still holds. The caller keys the cache by everything else that can change the result: bld
//! itself, the workspace root, the target patterns and the analysis options.

use bld_graph::{Action, ActionGraph};
use serde::{Deserialize, Serialize};

use crate::sources::Observation;
use crate::{Analysis, AnalyzedTarget};

const FORMAT: &str = "bld-analysis-cache-v3";

#[derive(Serialize, Deserialize)]
struct CachedAnalysis {
    format: String,
    observations: Vec<Observation>,
    actions: Vec<Action>,
    targets: Vec<AnalyzedTarget>,
}

/// Serializes `analysis` with the observations it depends on (`Loader::sources`).
pub fn encode_analysis(analysis: &Analysis, observations: Vec<Observation>) -> Vec<u8> {
    let cached = CachedAnalysis {
        format: FORMAT.to_owned(),
        observations,
        actions: analysis.graph.actions().cloned().collect(),
        targets: analysis.targets.clone(),
    };
    serde_json::to_vec(&cached).expect("invariant: analyses serialize")
}

/// What a cached analysis depends on: the paths it read or checked, the directories it listed,
/// and the source files (workspace-relative) its actions read.
#[derive(Debug, Default)]
pub struct Observed {
    /// Files read (their content, or whether it is an archive).
    pub files: Vec<std::path::PathBuf>,
    /// Paths asked whether they are files, or where they resolve (their content is not).
    pub checked: Vec<std::path::PathBuf>,
    /// Directories listed (a new entry in one can change the analysis: a glob, a package).
    pub dirs: Vec<std::path::PathBuf>,
    /// The actions' source inputs, relative to the workspace root.
    pub sources: Vec<String>,
}

/// What the cached analysis in `bytes` depends on (`bld watch`), without checking it still
/// holds; `None` when `bytes` is not one.
pub fn observed(bytes: &[u8]) -> Option<Observed> {
    let cached: CachedAnalysis = serde_json::from_slice(bytes).ok()?;
    let mut observed = Observed::default();
    for observation in cached.observations {
        match observation {
            Observation::Dir { path, .. } => observed.dirs.push(path),
            Observation::File { path, .. } | Observation::TarArchive { path, .. } => {
                observed.files.push(path);
            }
            Observation::IsFile { path, .. } | Observation::Canonical { path, .. } => {
                observed.checked.push(path);
            }
        }
    }
    for action in &cached.actions {
        for input in action.inputs() {
            if let bld_graph::Input::Source(path) = input {
                observed.sources.push(path.clone());
            }
        }
    }
    Some(observed)
}

/// The analysis in `bytes` if it is readable and every observation it depends on still holds.
pub fn decode_analysis_if_valid(bytes: &[u8]) -> Option<Analysis> {
    decode_analysis(bytes, true)
}

/// The analysis in `bytes` if it is readable; with `check`, only if every observation it
/// depends on still holds (without: the caller knows none of them changed, as `bld watch`
/// does from the changes it was told of).
pub fn decode_analysis(bytes: &[u8], check: bool) -> Option<Analysis> {
    let cached: CachedAnalysis = serde_json::from_slice(bytes).ok()?;
    if cached.format != FORMAT
        || (check && !cached.observations.iter().all(Observation::still_holds))
    {
        return None;
    }
    let mut graph = ActionGraph::new();
    for action in cached.actions {
        let inputs_exist = action.inputs().iter().all(|input| match input {
            bld_graph::Input::Output(dep) => dep.index() < graph.len(),
            bld_graph::Input::Source(_) => true,
        });
        if !inputs_exist {
            return None;
        }
        graph.add(action);
    }
    Some(Analysis {
        graph,
        targets: cached.targets,
    })
}
