//! [`Failure`]: why an action did not produce its output, before the scheduler names the
//! action (as an [`crate::ExecError`]).

use std::fmt;

use bld_core::{Classify, ErrorKind};

/// What went wrong, and whose it is to fix.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The user's (a failing command, a missing secret) or bld's.
    pub(crate) kind: ErrorKind,
    /// What happened, causes included.
    pub(crate) message: String,
}

impl Failure {
    /// The user's to fix.
    pub(crate) fn user(message: impl Into<String>) -> Failure {
        Failure {
            kind: ErrorKind::User,
            message: message.into(),
        }
    }

    /// A fault of bld or the machine.
    pub(crate) fn internal(error: impl fmt::Display) -> Failure {
        Failure {
            kind: ErrorKind::Internal,
            message: error.to_string(),
        }
    }

    /// A library's error, keeping its category and its chain of causes.
    pub(crate) fn of<E: Classify + std::error::Error>(error: E) -> Failure {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Failure {
            kind: error.kind(),
            message,
        }
    }
}
