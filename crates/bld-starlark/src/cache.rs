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

/// The analysis in `bytes` if it is readable and every observation it depends on still holds.
pub fn decode_analysis_if_valid(bytes: &[u8]) -> Option<Analysis> {
    let cached: CachedAnalysis = serde_json::from_slice(bytes).ok()?;
    if cached.format != FORMAT || !cached.observations.iter().all(Observation::still_holds) {
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
