//! [`Action`]: one unit of work, and [`Input`]: where what it reads comes from.

use bld_core::{Label, Location};
use serde::{Deserialize, Serialize};

use crate::{ActionId, ActionKind};

/// Where an action's input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Input {
    /// A source file, by its path relative to the workspace root (`/`-separated).
    Source(String),
    /// The output of another action.
    Output(ActionId),
}

/// One unit of work and the one artifact it produces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    /// The target that declared the action (for messages; not part of the key).
    pub owner: Label,
    /// The output's path relative to its package's output directory (for messages and for
    /// `bld-out/`; not part of the key).
    pub output_name: String,
    /// The instruction the action comes from, when a file's line made it (a Dockerfile's
    /// `RUN`): errors and the build log name it. Not part of the key.
    pub origin: Option<Location>,
    /// What to do.
    pub kind: ActionKind,
}

impl Action {
    /// Every input this action reads, in the order its parameters name them.
    pub fn inputs(&self) -> Vec<&Input> {
        let mut inputs = Vec::new();
        self.kind.as_kind().inputs(&mut inputs);
        inputs
    }

    /// Where its output goes under `bld-out/`: `package/output_name`.
    pub fn output_path(&self) -> String {
        match self.owner.package() {
            "" => self.output_name.clone(),
            package => format!("{package}/{}", self.output_name),
        }
    }

    /// How reasons and records name the action: the instruction it comes from, else its
    /// target and output (`//app:image image`).
    pub fn name(&self) -> String {
        match &self.origin {
            Some(_) => self.describe(),
            None => format!("{} {}", self.owner, self.output_name),
        }
    }

    /// One line saying what the action does, for the status line: the instruction it comes
    /// from (`Dockerfile:6: RUN make`), else its kind's own description.
    pub fn describe(&self) -> String {
        match &self.origin {
            Some(at) => format!("{}:{}: {}", at.file, at.line, at.text.trim()),
            None => self.kind.as_kind().describe(),
        }
    }
}
