//! The error type of mesh-memory. Every message says what to do next.

use std::path::PathBuf;

use mesh_core::CoreError;

/// Errors raised by stores, the index and the memory workflows.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// Configuration, identity, key or model error from mesh-core.
    #[error(transparent)]
    Core(#[from] CoreError),

    /// The embedding model is missing or damaged.
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),

    /// subject or summary missing or a placeholder.
    #[error(
        "{missing} required: subject is the short topic (e.g. \"recall_context latency\"), summary is \
         the one-line abstract shown in search results. Empty, whitespace-only and placeholder values \
         ('-', 'N/A', 'TBD') do not count — write what a future searcher would actually look for."
    )]
    MetadataRequired {
        /// `subject`, `summary` or `subject and summary`.
        missing: String,
    },

    /// An argument is out of its allowed range or shape.
    #[error("{0}")]
    InvalidArgument(String),

    /// A write to a scope the admission policy does not grant this host.
    #[error(
        "this host ({cn}) is not admitted to the {scope} scope by the mesh's admission policy (version {version}); the routers would drop the write, so nothing was saved. Ask the CA host to run `kioku-mesh tls grant {cn} --scope {scope}`, or save with another --visibility"
    )]
    NotAdmitted {
        /// The scope refused.
        scope: String,
        /// This host's certificate common name.
        cn: String,
        /// The policy version in force.
        version: u64,
    },

    /// An observation id is not 32 lowercase hex characters.
    #[error("observation_id must be a full 32-character match.")]
    InvalidObservationId,

    /// The observation does not exist on this host.
    #[error("observation_id {0} not found.")]
    NotFound(String),

    /// The serialised observation is larger than the store accepts.
    #[error(
        "this observation is {size} bytes; the limit is {limit} bytes. Save the conclusion and point at \
         the details with source_files or references instead of pasting them"
    )]
    TooLarge {
        /// Size of the payload.
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// A value carries the markup of an unterminated tool call.
    #[error(
        "{field} contains MCP tool-call markup ({fragment:?}): the client did not terminate the field \
         before the next parameter. Nothing was saved; resend the call with each field on its own. If \
         you meant to quote such markup, reword it (for example describe the tag instead of pasting it)."
    )]
    ToolCallFragment {
        /// The field that carries the fragment.
        field: &'static str,
        /// The matched markup.
        fragment: String,
    },

    /// The database file is not a SQLite database or is damaged.
    #[error(
        "the database {path} is damaged ({detail}). Nothing was changed. Move it aside \
         (mv {path} {path}.broken) to start a fresh store, or restore it from a backup"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's description.
        detail: String,
    },

    /// The database cannot be opened or written (permissions, read-only media).
    #[error(
        "cannot {action} the database {path} ({detail}). Check that the file and its directory are \
         writable by you, or set KIOKU_MESH_STATE_DIR to a writable directory"
    )]
    NotWritable {
        /// "open" or "write".
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's description.
        detail: String,
    },

    /// The disk holding the database is full.
    #[error(
        "cannot {action} the database {path}: the disk is full. Nothing was changed; free some space \
         on that disk and retry"
    )]
    DiskFull {
        /// "open" or "write".
        action: &'static str,
        /// The database file.
        path: PathBuf,
    },

    /// The database was written by a newer version of kioku-mesh.
    #[error(
        "the database {path} has schema version {found}, newer than this kioku-mesh understands ({supported}); \
         upgrade kioku-mesh"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },

    /// Any other database failure.
    #[error(
        "database error while {context}: {detail}. Nothing more was changed; retry, and if it \
         persists run `kioku-mesh doctor`, which checks the store and says how to repair it"
    )]
    Database {
        /// What was being done.
        context: &'static str,
        /// The driver's description.
        detail: String,
    },

    /// The operation exists only in mesh mode.
    #[error(
        "{what} works on the mesh only; set `backend: zenoh` in config.yaml (or \
         KIOKU_MESH_BACKEND=zenoh) and start the daemon with `kioku-mesh serve`"
    )]
    NeedsMesh {
        /// The operation asked for.
        what: &'static str,
    },

    /// The mesh daemon could not be reached for an operation that needs it.
    #[error(
        "cannot reach the kioku-mesh daemon ({detail}). Start it with `kioku-mesh serve` (or check \
         ZENOH_CONNECT), then retry"
    )]
    MeshUnreachable {
        /// What failed.
        detail: String,
    },

    /// The pending queue is full; nothing more can be accepted offline.
    #[error(
        "{limit} writes are already waiting for the mesh daemon; nothing was saved. Start the daemon \
         (`kioku-mesh serve`) and run `kioku-mesh drain --pending`"
    )]
    QueueFull {
        /// The queue's capacity.
        limit: u64,
    },

    /// The configured backend is not available in this build.
    #[error("{0}")]
    Unavailable(String),
}

impl MemoryError {
    /// True when the caller's input was wrong (as opposed to the system
    /// failing): command-line tools exit with status 2 for these.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::MetadataRequired { .. }
            | Self::InvalidArgument(_)
            | Self::InvalidObservationId
            | Self::TooLarge { .. }
            | Self::ToolCallFragment { .. }
            | Self::NeedsMesh { .. }
            | Self::NotAdmitted { .. } => true,
            Self::Embed(e) => !matches!(e, crate::embed::EmbedError::Io { .. }),
            Self::Core(core) => core.is_usage(),
            _ => false,
        }
    }
}

/// Shorthand for results carrying [`MemoryError`].
pub type Result<T, E = MemoryError> = std::result::Result<T, E>;

/// Extension to attach context to database errors.
pub(crate) trait DbContext<T> {
    /// Map a driver error to [`MemoryError::Database`] with `context`.
    fn ctx(self, context: &'static str) -> Result<T>;
}

impl<T> DbContext<T> for std::result::Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T> {
        self.map_err(|source| MemoryError::Database {
            context,
            detail: source.to_string(),
        })
    }
}
