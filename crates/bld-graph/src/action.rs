//! The kinds of action and their parameters.

use bld_core::Label;

use bld_core::ImageConfigSpec;
use serde::{Deserialize, Serialize};

use crate::ActionId;

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
    /// What to do.
    pub kind: ActionKind,
}

/// What an action does. Each kind produces one artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ActionKind {
    /// Writes `content` to a file.
    WriteFile {
        /// The bytes.
        content: Vec<u8>,
        /// Whether the file is executable (mode 0755 rather than 0644 when packed).
        executable: bool,
    },
    /// Packs files into a deterministic, compressed layer tar.
    PackLayer(PackLayer),
    /// Builds an image (config and manifest) from a base image, layers and configuration.
    AssembleImage(Box<AssembleImage>),
}

/// Parameters of [`ActionKind::PackLayer`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PackLayer {
    /// Files, by their path inside the tar. Parent directories are added implicitly.
    pub entries: Vec<LayerEntry>,
    /// Symbolic links: path inside the tar → link target.
    pub symlinks: Vec<(String, String)>,
    /// The mtime of every entry (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
}

/// One file in a layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerEntry {
    /// Path inside the tar, relative, `/`-separated, normalized.
    pub path: String,
    /// The file's content.
    pub input: Input,
    /// Permission bits; `None` keeps the input's executable bit (0755 or 0644).
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// Parameters of [`ActionKind::AssembleImage`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssembleImage {
    /// The image this one extends; `None` is `scratch`.
    pub base: Option<Input>,
    /// Layers appended to the base's, in order.
    pub layers: Vec<Input>,
    /// Configuration applied over the base's.
    pub config: ImageConfigSpec,
    /// The image's creation time in seconds since the epoch (`SOURCE_DATE_EPOCH`).
    pub created: u64,
}
