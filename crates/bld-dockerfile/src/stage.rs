//! Grouping instructions into build stages, one per `FROM`.

use std::sync::Arc;

use crate::ast::Dockerfile;
use crate::error::{DockerfileError, Position};
use crate::instructions::{ArgDefinition, Instruction, LocatedInstruction};

/// One build stage: a `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position among the stages (what `COPY --from=0` refers to).
    pub index: usize,
    /// The name given with `FROM ... AS name`, lower-cased.
    pub name: Option<String>,
    /// The base image or stage, as written (may use the global ARGs).
    pub base: String,
    /// `FROM --platform=...`, as written.
    pub platform: Option<String>,
    /// The `ARG`s before the first `FROM`, in order; the same for every stage. They may be
    /// used in `FROM` lines, and inside a stage once re-declared with `ARG name`. One list
    /// shared by every stage: a copy per stage would grow with stages × ARGs.
    pub global_args: Arc<[ArgDefinition]>,
    /// The stage's instructions after its `FROM`.
    pub instructions: Vec<LocatedInstruction>,
    /// 1-based line of the `FROM`.
    pub start_line: usize,
    /// The `FROM` instruction itself, with its positions (for errors about the base).
    pub from: LocatedInstruction,
}

/// Checks every instruction and groups them into stages.
///
/// Only `ARG` may come before the first `FROM`; those are the global ARGs every stage
/// carries. A Dockerfile without `FROM` is an error.
pub fn stages(dockerfile: &Dockerfile) -> Result<Vec<Stage>, DockerfileError> {
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &dockerfile.nodes {
        let located = LocatedInstruction::from_node(node)?;
        match &located.instruction {
            Instruction::From {
                image,
                name,
                platform,
            } => stages.push(Stage {
                index: stages.len(),
                name: name.clone(),
                base: image.clone(),
                platform: platform.clone(),
                global_args: Arc::from([]),
                instructions: Vec::new(),
                start_line: located.start_line,
                from: located,
            }),
            instruction => match stages.last_mut() {
                Some(stage) => stage.instructions.push(located),
                None => match instruction {
                    Instruction::Arg { args } => global_args.extend(args.iter().cloned()),
                    other => {
                        return Err(DockerfileError::InstructionBeforeFrom {
                            at: node.position(),
                            instruction: other.keyword().name(),
                        });
                    }
                },
            },
        }
    }
    if stages.is_empty() {
        return Err(DockerfileError::NoStages {
            at: Position::new(dockerfile.line_count.max(1), 1),
        });
    }
    let global_args: Arc<[ArgDefinition]> = global_args.into();
    for stage in &mut stages {
        stage.global_args = Arc::clone(&global_args);
    }
    Ok(stages)
}

impl Dockerfile {
    /// Checks every node and returns the typed instructions with their lines.
    pub fn instructions(&self) -> Result<Vec<LocatedInstruction>, DockerfileError> {
        self.nodes
            .iter()
            .map(LocatedInstruction::from_node)
            .collect()
    }

    /// The stages of this Dockerfile; see [`stages`].
    pub fn stages(&self) -> Result<Vec<Stage>, DockerfileError> {
        stages(self)
    }
}
