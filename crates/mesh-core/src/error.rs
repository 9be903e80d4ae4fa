//! The error type of mesh-core. Every message says what to do next.

use std::path::PathBuf;

/// Errors raised while resolving configuration, identity or keys, and while
/// reading or validating the wire models.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Neither `HOME` nor the platform knows a home directory.
    #[error(
        "cannot find the home directory: set HOME, or set KIOKU_MESH_STATE_DIR to a writable directory"
    )]
    NoHome,

    /// A directory the program needs could not be created.
    #[error(
        "cannot create the {what} directory {path}: {source}; set {env_var} to a writable directory"
    )]
    CreateDir {
        /// Which directory ("state" or "config").
        what: &'static str,
        /// The directory that could not be created.
        path: PathBuf,
        /// The environment variable that moves it elsewhere.
        env_var: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },

    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },

    /// A YAML configuration file does not parse.
    #[error("{path} is not valid YAML ({message}); fix the file or move it aside")]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// The parser's description of the problem.
        message: String,
    },

    /// A configuration value has the wrong shape.
    #[error("{origin}: {field} {problem}")]
    ConfigValue {
        /// Where the value came from (a file path or an environment variable).
        origin: String,
        /// The key.
        field: String,
        /// What is wrong, phrased to follow the key.
        problem: String,
    },

    /// A visibility outside mesh / user / team was requested for a write.
    #[error("visibility must be one of 'mesh', 'team', 'user'; got '{0}'")]
    InvalidVisibility(String),

    /// A scoped write was requested without its scope id configured.
    #[error(
        "visibility '{visibility}' requires a {field}: set {env_var} or add '{field}: <slug>' to {where_to}"
    )]
    MissingScopeId {
        /// `user` or `team`.
        visibility: &'static str,
        /// `user_id` or `team_id`.
        field: &'static str,
        /// The environment variable that sets it.
        env_var: &'static str,
        /// The files that may set it.
        where_to: String,
    },

    /// A scope id would not be a plain key segment.
    #[error(
        "scope_id for visibility '{visibility}' must match [A-Za-z0-9][A-Za-z0-9._-]* (max 64 chars); got '{value}'"
    )]
    InvalidScopeId {
        /// `user` or `team`.
        visibility: String,
        /// The rejected id.
        value: String,
    },

    /// An identity value cannot be used as a key segment.
    #[error("{origin} is '{value}', which cannot be used in a key: {problem}. {fix}")]
    InvalidKeySegment {
        /// Where the value came from, e.g. `KIOKU_MESH_CLIENT_ID`.
        origin: String,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// How to repair it.
        fix: String,
    },

    /// The persisted pc_id file exists but holds no usable id.
    #[error("the pc_id file {path} {problem}; delete it and a new pc_id will be generated")]
    CorruptPcId {
        /// The pc_id file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// A memory_type outside the closed set was given to a write path.
    #[error(
        "memory_type must be one of ['bug', 'config', 'decision', 'note', 'pattern', 'summary']; got '{0}'"
    )]
    InvalidMemoryType(String),

    /// `expires_at` does not parse.
    #[error("expires_at must be ISO 8601; got '{0}'")]
    InvalidExpiresAt(String),

    /// `ttl_sec` reaches past the calendar.
    #[error(
        "ttl_sec {0} is too large: the entry would expire past the year 262143; give fewer seconds (a year is 31536000)"
    )]
    TtlTooLarge(i64),

    /// A timestamp argument does not parse.
    #[error(
        "{what} must be an ISO 8601 timestamp such as 2026-11-23 or 2026-11-23T09:30:00Z; got '{value}'"
    )]
    InvalidTimestamp {
        /// The argument, e.g. `--since`.
        what: String,
        /// The rejected text.
        value: String,
    },

    /// A mesh endpoint spec that Zenoh could not use.
    #[error("invalid endpoint '{spec}': {reason}")]
    InvalidEndpoint {
        /// What the user gave.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `storage_scopes` entry that names no scope.
    #[error(
        "storage scope '{0}' must be 'mesh', 'user/<id>' or 'team/<id>' with an id matching [A-Za-z0-9][A-Za-z0-9._-]*"
    )]
    InvalidStorageScope(String),

    /// The daemon's Zenoh configuration cannot be used.
    #[error(
        "{path}: {message}; fix the file or rewrite it with `kioku-mesh init --mode hub|spoke --force`"
    )]
    DaemonConfig {
        /// The configuration file, or "built-in configuration".
        path: String,
        /// Zenoh's description of the problem.
        message: String,
    },

    /// Zenoh refused an operation.
    #[error("{action}: {message}. {hint}")]
    Zenoh {
        /// What was being done, phrased as a failure.
        action: String,
        /// Zenoh's message.
        message: String,
        /// What the user can do about it.
        hint: &'static str,
    },

    /// `serve` cannot find the RocksDB storage library it loads.
    #[error(
        "the RocksDB storage library {library} is not installed beside this executable (looked in \
         {looked_in}). From a kioku-mesh source checkout run `cargo xtask install`, which builds it \
         and installs it with kioku-mesh and kioku-mesh-mcp; a release archive carries it in bin/"
    )]
    BackendLibraryMissing {
        /// The file name looked for.
        library: &'static str,
        /// The directories searched, comma-separated.
        looked_in: String,
    },

    /// A JSON document is not an observation or tombstone.
    #[error("malformed {what} JSON: {message}")]
    MalformedJson {
        /// "observation" or "tombstone".
        what: &'static str,
        /// What is wrong.
        message: String,
    },

    /// The private CA or the CSR flow refused (`kioku-mesh tls ...`).
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
}

impl CoreError {
    /// True when the caller's input was wrong rather than the system or its
    /// files: command-line tools exit with status 2 for these.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::InvalidVisibility(_)
                | Self::MissingScopeId { .. }
                | Self::InvalidScopeId { .. }
                | Self::InvalidKeySegment { .. }
                | Self::InvalidMemoryType(_)
                | Self::InvalidExpiresAt(_)
                | Self::TtlTooLarge(_)
                | Self::InvalidTimestamp { .. }
                | Self::InvalidEndpoint { .. }
                | Self::InvalidStorageScope(_)
        ) || matches!(self, Self::Pki(e) if e.is_usage())
    }
}

/// Shorthand for results carrying [`CoreError`].
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
