//! bld's Starlark front-end, the only user of the `starlark` crate.
//!
//! It evaluates `WORKSPACE.star`, `BUILD.star` and `.star` files into declared targets, expands
//! target patterns, and analyses targets — calling each rule's Starlark implementation with a
//! `ctx` — into an [`bld_graph::ActionGraph`]. It reads sources (BUILD files, directory listings
//! for `glob()`, the existence of source files) and never executes an action.

// starlark-rust's derives (`ProvidesStaticType`, `Trace`, `Coerce`) expand to `unsafe impl`s; this crate
// writes no unsafe code of its own.
#![allow(unsafe_code)]

mod actions;
mod analysis;
mod attrs;
mod cache;
mod glob;
mod globals;
pub mod limits;
mod load;
mod package;
mod patterns;
mod registry_actions;
mod sources;
mod values;

use bld_core::{Classify, ErrorKind};

pub use analysis::{Analysis, AnalysisOptions, AnalyzedTarget, TargetOutput, analyze};
pub use attrs::AttrValue;
pub use cache::{Observed, decode_analysis, decode_analysis_if_valid, encode_analysis, observed};
pub use load::Loader;
pub use package::TargetDecl;
pub use patterns::{TargetSet, expand_patterns, query_deps};
pub use values::ArtifactKind;

/// A failure of the front-end. Messages name the file, line and column, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// A mistake in a BUILD file, a `.star` file or a label: the user's to fix.
    #[error("{message}")]
    User {
        /// The whole message, location first.
        message: String,
    },
    /// Evaluation ran into one of the [`limits`] (a user error: the file asks too much).
    #[error("{location}: {limit}")]
    Limit {
        /// `file:line:col` where it ran out.
        location: String,
        /// Which limit.
        limit: limits::Limit,
    },
    /// A Dockerfile that cannot be lowered to actions (or parsed), in the target analysed.
    #[error("{error}{}", .analysing.as_ref().map(|a| format!(" ({a})")).unwrap_or_default())]
    Dockerfile {
        /// Where in the Dockerfile, in which instruction, what is wrong.
        error: bld_dockerfile_lower::LowerError,
        /// The target being analysed and where it is declared, if known.
        analysing: Option<String>,
    },
    /// Reading the workspace failed for a reason other than a missing file.
    #[error("cannot read `{path}`")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl FrontendError {
    fn starlark(error: starlark::Error) -> FrontendError {
        if let Some((location, limit)) = limits::limit_of(&error) {
            return FrontendError::Limit {
                location: location.unwrap_or_else(|| "<unknown location>".to_owned()),
                limit,
            };
        }
        let text = format!("{error}");
        let text = text.trim_end();
        FrontendError::User {
            message: text.strip_prefix("error: ").unwrap_or(text).to_owned(),
        }
    }

    fn user(message: impl Into<String>) -> FrontendError {
        FrontendError::User {
            message: message.into(),
        }
    }
}

impl Classify for FrontendError {
    fn kind(&self) -> ErrorKind {
        match self {
            FrontendError::User { .. } | FrontendError::Limit { .. } => ErrorKind::User,
            FrontendError::Dockerfile { error, .. } => error.kind(),
            FrontendError::Io { .. } => ErrorKind::Internal,
        }
    }

    fn location(&self) -> Option<&bld_core::Location> {
        match self {
            FrontendError::Dockerfile { error, .. } => error.location(),
            _ => None,
        }
    }
}
