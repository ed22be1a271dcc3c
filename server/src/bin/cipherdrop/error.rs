//! The binary's error type: one line on stderr naming what failed.

use std::fmt;
use std::path::PathBuf;

pub(crate) enum Error {
    /// Reading or writing a file or stream failed.
    Io(String, std::io::Error),
    /// A key given on the command line could not be used.
    Key(String, cipherdrop::KeyError),
    /// A malformed argument.
    Usage(String),
    Encrypt(cipherdrop::EncryptError),
    Decrypt(cipherdrop::DecryptError),
    /// The key server failed to start or stopped with an error.
    Server(cipherdrop_server::DomainError),
    /// A call to the key server failed or was refused.
    Client(cipherdrop_server::client::Error),
    /// The audit log's hash chain does not verify.
    Audit(String),
    /// An AWS KMS key (`--kms-key`) could not be used.
    Kms(String),
}

impl Error {
    pub(crate) fn io(
        what: impl fmt::Display,
        path: Option<&PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let name = match path {
            Some(p) => format!("{what} {}", p.display()),
            None => what.to_string(),
        };
        move |e| Self::Io(name, e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(what, e) => write!(f, "{what}: {e}"),
            Self::Key(name, e) => write!(f, "key {name}: {e}"),
            Self::Usage(msg) => f.write_str(msg),
            Self::Encrypt(e) => write!(f, "encrypt failed: {e}"),
            Self::Decrypt(e) => write!(f, "decrypt failed: {e}"),
            Self::Server(e) => write!(f, "key server: {e}"),
            Self::Client(e) => write!(f, "key server: {e}"),
            Self::Audit(msg) => f.write_str(msg),
            Self::Kms(msg) => write!(f, "--kms-key: {msg}"),
        }
    }
}

/// `main` returns `Result<(), Error>`, which prints the error with `Debug`: make that the
/// one-line message.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<cipherdrop::EncryptError> for Error {
    fn from(e: cipherdrop::EncryptError) -> Self {
        Self::Encrypt(e)
    }
}

impl From<cipherdrop::DecryptError> for Error {
    fn from(e: cipherdrop::DecryptError) -> Self {
        Self::Decrypt(e)
    }
}

impl From<cipherdrop_server::client::Error> for Error {
    fn from(e: cipherdrop_server::client::Error) -> Self {
        Self::Client(e)
    }
}
