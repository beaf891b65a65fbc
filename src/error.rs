//! One error type for everything a user can get wrong. Messages name the file, tensor or field and both
//! the expected and the found value, so a one-line report is enough to fix the input.

use std::fmt;

/// Every fallible tickgrad call returns this; nothing in the library panics on user input.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Two shapes that must agree do not. `what` names the tensor or argument.
    Shape { what: String, expected: String, found: String },
    /// A device that was asked for is not available (no adapter, no driver, feature off).
    Device(String),
    /// A file could not be read or written.
    Io { path: String, message: String },
    /// A file was read but its contents are wrong: `location` is `file:line:column` or `file: tensor NAME`.
    Parse { location: String, message: String },
    /// A configuration value is missing or invalid.
    Config { field: String, message: String },
    /// Anything else a caller asked for that cannot be done.
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { what, expected, found } => {
                write!(f, "shape mismatch for {what}: expected {expected}, found {found}")
            }
            Error::Device(m) => write!(f, "device error: {m}"),
            Error::Io { path, message } => write!(f, "{path}: {message}"),
            Error::Parse { location, message } => write!(f, "{location}: {message}"),
            Error::Config { field, message } => write!(f, "config field `{field}`: {message}"),
            Error::Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(what: impl Into<String>, expected: impl fmt::Debug, found: impl fmt::Debug) -> Self {
        Error::Shape { what: what.into(), expected: format!("{expected:?}"), found: format!("{found:?}") }
    }
    pub fn io(path: impl AsRef<std::path::Path>, e: impl fmt::Display) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), message: e.to_string() }
    }
    pub fn parse(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Parse { location: location.into(), message: message.into() }
    }
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { field: field.into(), message: message.into() }
    }
    /// The same error with `during` (what was being done, e.g. "adam update of `w`") in front of its message, so
    /// a caller can still match on the kind.
    pub fn context(self, during: &str) -> Self {
        match self {
            Error::Shape { what, expected, found } => {
                Error::Shape { what: format!("{during}: {what}"), expected, found }
            }
            Error::Device(m) => Error::Device(format!("{during}: {m}")),
            Error::Io { path, message } => Error::Io { path, message: format!("{during}: {message}") },
            Error::Parse { location, message } => Error::Parse { location, message: format!("{during}: {message}") },
            Error::Config { field, message } => Error::Config { field, message: format!("{during}: {message}") },
            Error::Invalid(m) => Error::Invalid(format!("{during}: {m}")),
        }
    }
}
