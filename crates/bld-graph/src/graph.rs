//! [`ActionGraph`]: actions plus the edges their inputs imply.

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use crate::{Action, Input};

/// Identifies an action (and so its one output) within an [`ActionGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionId(u32);

impl ActionId {
    /// The id of the action at `index` (the inverse of [`ActionId::index`]).
    pub fn from_index(index: usize) -> ActionId {
        ActionId(u32::try_from(index).expect("invariant: fewer than 2^32 actions"))
    }

    /// The dense index of this action, for per-action tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A directed acyclic graph of actions: an edge from an action to each action reading its
/// output. Acyclic by construction: an action can only name outputs that already exist.
#[derive(Debug, Default, Clone)]
pub struct ActionGraph {
    actions: Vec<Action>,
    edges: DiGraph<(), ()>,
}

impl ActionGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `action`. Every `Input::Output` it names must already be in the graph.
    pub fn add(&mut self, action: Action) -> ActionId {
        let node = self.edges.add_node(());
        let id = ActionId(u32::try_from(node.index()).expect("invariant: fewer than 2^32 actions"));
        for input in action.inputs() {
            if let Input::Output(dep) = input {
                assert!(
                    dep.index() < self.actions.len(),
                    "invariant: inputs exist before use"
                );
                self.edges
                    .update_edge(NodeIndex::new(dep.index()), node, ());
            }
        }
        self.actions.push(action);
        id
    }

    /// The action `id`.
    pub fn get(&self, id: ActionId) -> &Action {
        &self.actions[id.index()]
    }

    /// Every action, in id order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter()
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the graph has no action.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The actions that read `id`'s output (each once).
    pub fn dependents(&self, id: ActionId) -> impl Iterator<Item = ActionId> + '_ {
        self.edges
            .neighbors_directed(NodeIndex::new(id.index()), Direction::Outgoing)
            .map(|n| ActionId(n.index() as u32))
    }

    /// The actions whose outputs `id` reads (each once).
    pub fn dependencies(&self, id: ActionId) -> Vec<ActionId> {
        let mut deps: Vec<ActionId> = self
            .edges
            .neighbors_directed(NodeIndex::new(id.index()), Direction::Incoming)
            .map(|n| ActionId(n.index() as u32))
            .collect();
        deps.sort();
        deps.dedup();
        deps
    }

    /// `wanted` and everything they depend on, dependencies before dependents.
    pub fn closure(&self, wanted: &[ActionId]) -> Vec<ActionId> {
        let mut needed = vec![false; self.actions.len()];
        let mut stack: Vec<ActionId> = wanted.to_vec();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut needed[id.index()], true) {
                continue;
            }
            stack.extend(self.dependencies(id));
        }
        // Ids are assigned in insertion order and inputs precede their readers, so id order is
        // a topological order.
        (0..self.actions.len() as u32)
            .map(ActionId)
            .filter(|id| needed[id.index()])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LayerEntry, PackLayer};
    use bld_core::Label;

    fn write(name: &str) -> Action {
        Action {
            owner: Label::new("p", "t").expect("label"),
            output_name: name.into(),
            origin: None,
            kind: crate::ActionKind::WriteFile(crate::WriteFile {
                content: name.as_bytes().to_vec(),
                executable: false,
            }),
        }
    }

    #[test]
    fn closure_is_dependencies_first_and_only_what_is_needed() {
        let mut g = ActionGraph::new();
        let a = g.add(write("a"));
        let _unused = g.add(write("b"));
        let layer = g.add(Action {
            kind: crate::ActionKind::PackLayer(PackLayer {
                entries: vec![LayerEntry {
                    path: "a".into(),
                    content: crate::EntryContent::File {
                        input: Input::Output(a),
                        mode: crate::FileMode::KeepExecutableBit,
                    },
                    uid: 0,
                    gid: 0,
                }],
                ..PackLayer::default()
            }),
            ..write("layer")
        });
        assert_eq!(g.closure(&[layer]), vec![a, layer]);
        assert_eq!(g.dependents(a).collect::<Vec<_>>(), vec![layer]);
        assert_eq!(g.dependencies(layer), vec![a]);
    }
}
