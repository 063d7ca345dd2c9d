//! Why a command stopped, and the exit code that says so.

use std::fmt;
use std::process::ExitCode;

/// A command's failure: a usage error (exit 2) or a failure to do what
/// was asked (exit 1).
#[derive(Debug)]
pub(crate) enum Failure {
    /// A flag or variable with a bad value; the message names it.
    Usage(String),
    /// What was asked could not be done.
    Failed(String),
}

impl Failure {
    /// A failure to do what was asked.
    pub(crate) fn failed(message: impl fmt::Display) -> Self {
        Failure::Failed(message.to_string())
    }

    /// The process's exit code.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => f.write_str(m),
        }
    }
}

impl From<thorn_core::Error> for Failure {
    fn from(e: thorn_core::Error) -> Self {
        match e {
            thorn_core::Error::InvalidSetting { .. } => Failure::Usage(e.to_string()),
            other => Failure::Failed(other.to_string()),
        }
    }
}

impl From<thorn_redis::Error> for Failure {
    fn from(e: thorn_redis::Error) -> Self {
        match e {
            thorn_redis::Error::Core(core) => core.into(),
            other => Failure::Failed(other.to_string()),
        }
    }
}

/// The result of a command.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;
