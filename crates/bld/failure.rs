//! [`Failure`]: how a command fails. Each failure carries its category from where it is made
//! (a library error's [`Classify::kind`], or the CLI saying so explicitly) and, when the error
//! is about a place in a file, that place; `main` only prints it and picks the exit code.

use std::fmt::{Debug, Display};

use bld_core::{Classify, ErrorKind, Location};

/// A command's failure: what went wrong (with its causes), whose it is to fix, and where.
///
/// Made from any classified library error with `?` (`From`), from an error that is not
/// classified with [`Classified::user_error`] / [`Classified::internal_fault`], or from a
/// message with [`Failure::user`] / [`Failure::internal`]. [`FailureContext`] adds context
/// and keeps the category and the place.
///
/// It deliberately does not implement `std::error::Error`: that keeps the blanket `From`
/// below coherent, and a failure is only ever rendered, never wrapped.
#[derive(Debug)]
pub(crate) struct Failure {
    kind: ErrorKind,
    location: Option<Location>,
    error: anyhow::Error,
}

impl<E> From<E> for Failure
where
    E: Classify + std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Failure {
        Failure {
            kind: error.kind(),
            location: error.location().cloned(),
            error: anyhow::Error::new(error),
        }
    }
}

impl Failure {
    /// Whether the build failed only because it was stopped to start again (`bld watch`).
    pub(crate) fn is_stopped(&self) -> bool {
        self.error
            .downcast_ref::<bld_exec::ExecError>()
            .is_some_and(bld_exec::ExecError::stopped)
    }

    /// A mistake on the command line or in the environment that the CLI itself detects.
    pub(crate) fn user(message: impl Display + Debug + Send + Sync + 'static) -> Failure {
        Failure {
            kind: ErrorKind::User,
            location: None,
            error: anyhow::Error::msg(message),
        }
    }

    /// A fault of bld or the machine that the CLI itself detects (a broken invariant).
    pub(crate) fn internal(message: impl Display + Debug + Send + Sync + 'static) -> Failure {
        Failure {
            kind: ErrorKind::Internal,
            location: None,
            error: anyhow::Error::msg(message),
        }
    }

    /// One failure for several that a command reports together (`bld rmi a b`): the
    /// messages joined by `separator`; an internal fault if any of them is one; the place
    /// when there is a single failure.
    pub(crate) fn all(failures: Vec<Failure>, separator: &str) -> Result<(), Failure> {
        match failures.len() {
            0 => Ok(()),
            1 => Err(failures.into_iter().next().expect("invariant: one failure")),
            _ => {
                let kind = if failures.iter().any(|f| f.kind == ErrorKind::Internal) {
                    ErrorKind::Internal
                } else {
                    ErrorKind::User
                };
                let messages: Vec<String> = failures.iter().map(ToString::to_string).collect();
                Err(Failure {
                    kind,
                    location: None,
                    error: anyhow::Error::msg(messages.join(separator)),
                })
            }
        }
    }

    /// The exit code: 1 for the user's error, 2 for an internal fault.
    pub(crate) fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::User => 1,
            ErrorKind::Internal => 2,
        }
    }

    /// What `bld` prints: `error: message: cause: …`, then the offending line when the
    /// error is about a place in a file.
    pub(crate) fn render(&self) -> String {
        let mut text = format!("error: {:#}\n", self.error);
        if let Some(location) = &self.location {
            text.push_str(&location.snippet());
        }
        text
    }

    fn map_error(self, change: impl FnOnce(anyhow::Error) -> anyhow::Error) -> Failure {
        Failure {
            error: change(self.error),
            ..self
        }
    }
}

impl Display for Failure {
    /// The message with its causes, as the first line of [`Failure::render`] shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// Returns an internal fault made from a format string (`anyhow::bail!`'s counterpart):
/// `bail_internal!("internal: {label} produced no output")`.
macro_rules! bail_internal {
    ($($message:tt)*) => {
        return Err($crate::Failure::internal(format!($($message)*)))
    };
}
pub(crate) use bail_internal;

/// Context for a result whose error is (or converts to) a [`Failure`]; the category and the
/// place stay those of the error.
pub(crate) trait FailureContext<T> {
    /// Puts `context()` in front of the message (`context: message`); the text is made only
    /// on failure.
    fn with_context<C: Display + Send + Sync + 'static>(
        self,
        context: impl FnOnce() -> C,
    ) -> Result<T, Failure>;
}

impl<T, E: Into<Failure>> FailureContext<T> for Result<T, E> {
    fn with_context<C: Display + Send + Sync + 'static>(
        self,
        context: impl FnOnce() -> C,
    ) -> Result<T, Failure> {
        self.map_err(|e| e.into().map_error(|error| error.context(context())))
    }
}

/// Classifies, where it is made, an error no library classified (I/O, JSON, …).
pub(crate) trait Classified<T> {
    /// The error is the user's to fix (exit 1): a path they gave, their input.
    fn user_error(self) -> Result<T, Failure>;

    /// The error is bld's or the machine's (exit 2).
    fn internal_fault(self) -> Result<T, Failure>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Classified<T> for Result<T, E> {
    fn user_error(self) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            kind: ErrorKind::User,
            location: None,
            error: anyhow::Error::new(e),
        })
    }

    fn internal_fault(self) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            kind: ErrorKind::Internal,
            location: None,
            error: anyhow::Error::new(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Located(Location);

    impl Display for Located {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: COPY: source `missing.txt` not found", self.0)
        }
    }

    impl std::error::Error for Located {}

    impl Classify for Located {
        fn kind(&self) -> ErrorKind {
            ErrorKind::User
        }

        fn location(&self) -> Option<&Location> {
            Some(&self.0)
        }
    }

    fn located() -> Result<(), Located> {
        let source = "FROM scratch\nCOPY missing.txt /app/\n";
        Err(Located(Location::in_text("Dockerfile", source, 2, 6, 11)))
    }

    #[test]
    fn a_library_error_keeps_its_kind_and_place_through_context() {
        let failure = located()
            .with_context(|| "building `.`")
            .expect_err("fails");
        assert_eq!(failure.exit_code(), 1);
        assert_eq!(
            failure.render(),
            "error: building `.`: Dockerfile:2:6: COPY: source `missing.txt` not found\n  |\n2 | COPY missing.txt /app/\n  |      ^^^^^^^^^^^\n"
        );
    }

    #[test]
    fn unclassified_errors_are_classified_where_they_are_made() {
        let io = || std::fs::File::open("/nonexistent/bld-test").map(|_| ());
        let user = io()
            .user_error()
            .with_context(|| "cannot read `/nonexistent/bld-test`")
            .expect_err("fails");
        assert_eq!(user.exit_code(), 1);
        assert_eq!(
            user.render(),
            "error: cannot read `/nonexistent/bld-test`: No such file or directory (os error 2)\n"
        );
        let internal = io().internal_fault().expect_err("fails");
        assert_eq!(internal.exit_code(), 2);
        let wrapped = Err::<(), _>(Failure::internal("x")).with_context(|| "y");
        assert_eq!(wrapped.expect_err("fails").exit_code(), 2);
        assert_eq!(Failure::user("bad").to_string(), "bad");
    }

    #[test]
    fn several_failures_are_internal_when_one_is() {
        let both = vec![Failure::user("a"), Failure::internal("b")];
        let failure = Failure::all(both, "; ").expect_err("fails");
        assert_eq!(
            (failure.exit_code(), failure.to_string()),
            (2, "a; b".to_owned())
        );
        let users = vec![Failure::user("a"), Failure::user("b")];
        assert_eq!(Failure::all(users, "; ").expect_err("fails").exit_code(), 1);
        assert!(Failure::all(Vec::new(), "; ").is_ok());
    }
}
