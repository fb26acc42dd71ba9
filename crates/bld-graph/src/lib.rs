//! The action graph: the contract between bld's front-ends and its executor.
//!
//! Front-ends (Starlark rules, Dockerfiles) describe work as [`Action`]s — pure data whose
//! inputs are source files or other actions' outputs — and never run anything. Everything that
//! can change an action's output is a field of the action, so it is covered by its
//! [`ActionKey`], the sha256 of a canonical, versioned encoding.

mod action;
mod graph;
mod key;
mod kind;

pub use action::{Action, Input};
pub use bld_core::ImageConfigSpec;
pub use graph::{ActionGraph, ActionId};
pub use key::{ActionKey, InputIdentity, KEY_VERSION, KeyEncoder};
pub use kind::{
    ActionKind, AssembleImage, Below, CopyFromImage, EntryContent, ExistingDir, FetchDebFile,
    FileMode, Kind, Landing, LandingOf, LayerEntry, PackLayer, ProbeDestination, PullImage,
    PushImage, RunMount, RunStep, StoreImage, ViewEntry, WriteFile,
};
