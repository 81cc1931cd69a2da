//! The CLI's errors and exit codes: 0 ok, 1 an expectation failed, 2 bad input.

use std::path::Path;

/// Exit code of a run where a spec expectation failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a run refused for bad input (unreadable file, invalid tenant, bad signature...).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Why a command did not succeed. Every variant renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input is unusable: the message says which file, line and field.
    #[error("{0}")]
    BadInput(String),
    /// The command ran, and something it checked did not hold (a spec step failed).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// A bad-input error.
    pub fn bad_input(message: impl Into<String>) -> Self {
        CliError::BadInput(message.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::BadInput(_) => EXIT_BAD_INPUT,
            CliError::Failed(_) => EXIT_FAILED,
        }
    }
}

/// Reads a file, or fails with a bad-input error naming it.
///
/// # Errors
/// [`CliError::BadInput`] when the file cannot be read.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::bad_input(format!("{}: {e}", path.display())))
}

/// Reads a UTF-8 text file, or fails with a bad-input error naming it.
///
/// # Errors
/// [`CliError::BadInput`] when the file cannot be read or is not UTF-8.
pub fn read_text(path: &Path) -> Result<String, CliError> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| CliError::bad_input(format!("{}: not UTF-8 text", path.display())))
}
