//! Why a command did not succeed, and the one place that says so: [`report`], called by
//! `cli::run` (and by `check`, for the files it skips and goes on after). A command returns
//! `Result<(), Error>`; its exit code follows from the variant (README: 0 ok, 1 problems found,
//! 2 usage).

use std::fmt;

use super::exit;
use super::output::WriteError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Error {
    /// The command line names something that cannot be used (a path that is not a directory, an
    /// unknown code, standard input that is not text). Exit 2.
    Usage(String),
    /// An input cannot be read (a plan that is missing, a FIFO, not UTF-8; a codebase that
    /// cannot be walked). Exit 2.
    Read(String),
    /// The output directory is refused before anything is written (a file, a symlink, files
    /// canaryc did not write without `--force`). Exit 2.
    Refused(String),
    /// Writing failed; the message says what became of the previous files. Exit 1.
    Write(String),
    /// The command ran and found problems, reported already (diagnostics, drift, a draft);
    /// with a closing line to print, if any (`build failed: ...`). Exit 1.
    Problems(Option<String>),
    /// Reported already by the command itself, with this exit code (`promote` and `rollback`
    /// speak for themselves; `check` goes on after an unreadable file).
    Reported(u8),
}

impl Error {
    pub(crate) fn code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Read(_) | Error::Refused(_) => exit::USAGE,
            Error::Write(_) | Error::Problems(_) => exit::PROBLEMS,
            Error::Reported(code) => *code,
        }
    }

    /// The message, without `error: ` (for a caller that words the line itself).
    pub(crate) fn message(&self) -> String {
        match self {
            Error::Usage(m) | Error::Read(m) | Error::Refused(m) | Error::Write(m) => m.clone(),
            Error::Problems(line) => line.clone().unwrap_or_default(),
            Error::Reported(_) => String::new(),
        }
    }

    /// A command's own exit code as a result: 0 is success.
    pub(crate) fn from_code(code: u8) -> Result<(), Error> {
        match code {
            exit::OK => Ok(()),
            code => Err(Error::Reported(code)),
        }
    }
}

/// What goes to stderr: `error: MESSAGE`, or a closing line as it is.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Read(m) | Error::Refused(m) | Error::Write(m) => {
                writeln!(f, "error: {m}")
            }
            Error::Problems(Some(line)) => writeln!(f, "{line}"),
            Error::Problems(None) | Error::Reported(_) => Ok(()),
        }
    }
}

impl From<WriteError> for Error {
    fn from(error: WriteError) -> Error {
        match error {
            WriteError::Usage(m) => Error::Refused(m),
            WriteError::Io(m) => Error::Write(m),
        }
    }
}

/// Prints `error` on stderr (nothing for one already reported).
pub(crate) fn report(error: &Error) {
    let text = error.to_string();
    if !text.is_empty() {
        super::print_stderr(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_documented_exit_code_and_text() {
        let cases = [
            (Error::Usage("x".into()), 2, "error: x\n"),
            (
                Error::Read("cannot read p: gone".into()),
                2,
                "error: cannot read p: gone\n",
            ),
            (Error::Refused("y".into()), 2, "error: y\n"),
            (Error::Write("z".into()), 1, "error: z\n"),
            (
                Error::Problems(Some("build failed".into())),
                1,
                "build failed\n",
            ),
            (Error::Problems(None), 1, ""),
            (Error::Reported(2), 2, ""),
        ];
        for (error, code, text) in cases {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.to_string(), text, "{error:?}");
        }
        assert_eq!(Error::from_code(0), Ok(()));
        assert_eq!(Error::from_code(1), Err(Error::Reported(1)));
    }
}
