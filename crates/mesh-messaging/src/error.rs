//! The error type of messaging. Every message says what to do next.

/// Errors raised by messaging.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// Bad input from the user or the agent.
    #[error("{0}")]
    InvalidArgument(String),

    /// A body or envelope over its limit (the reference's text).
    #[error("{0}")]
    TooLarge(String),

    /// A stored value that is not a message.
    #[error("not a message: {0}")]
    Undecodable(String),

    /// A message id this host has no record of.
    #[error("unknown msg_id: '{0}'")]
    UnknownMessage(String),

    /// The mesh could not be reached.
    #[error(
        "the mesh is unreachable ({0}); start the daemon (`kioku-mesh serve`) or check ZENOH_CONNECT"
    )]
    Unreachable(String),

    /// The messaging database failed.
    #[error("the messaging database {path} failed to {action}: {reason}")]
    Database {
        /// The file.
        path: String,
        /// What was being done.
        action: &'static str,
        /// SQLite's reason.
        reason: String,
    },

    /// Configuration, paths or identity could not be resolved.
    #[error(transparent)]
    Core(#[from] mesh_core::CoreError),
}

impl MessagingError {
    /// True when the user's input needs fixing (exit status 2).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::InvalidArgument(_) | Self::TooLarge(_) => true,
            Self::Core(core) => core.is_usage(),
            _ => false,
        }
    }
}

/// Shorthand for results carrying [`MessagingError`].
pub type Result<T, E = MessagingError> = std::result::Result<T, E>;
