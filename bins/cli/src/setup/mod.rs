//! Setting up the host around kioku-mesh: registering the MCP server with
//! MCP clients (and repairing old registrations), the mail hooks of Claude
//! Code and Codex CLI, and the systemd unit that runs the daemon. These
//! edit other programs' files, so they live in the CLI, not in the
//! libraries.

pub mod client_files;
pub mod codex_hooks;
pub mod codex_trust;
pub mod hooks;
pub mod json_tokens;
pub mod mcp_clients;
pub mod repair;
pub mod systemd;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use mesh_core::CoreError;

/// Errors of the set-up commands. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A mesh-core failure (home directory, writing a file).
    #[error(transparent)]
    Core(#[from] CoreError),

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

    /// An MCP client registration name that would not survive TOML or JSON keys.
    #[error(
        "registry name '{0}' must match [A-Za-z0-9_-]+ (no dots, spaces, or other characters that break TOML bare keys)."
    )]
    InvalidRegistryName(String),

    /// A `KEY=VALUE` argument without its `=` or key.
    #[error("--env value must be KEY=VALUE: '{0}'")]
    InvalidEnvPair(String),

    /// `--repair` for a client that never had legacy registrations.
    #[error(
        "--repair supports --client claude-code and codex-cli (the clients earlier versions registered with MESH_MEM_* keys); got {0}"
    )]
    RepairUnsupported(String),

    /// An MCP client's configuration file does not parse; it was not touched.
    #[error(
        "cannot parse {path} as {format}: {message}. The file was not changed; fix it or move it aside"
    )]
    MalformedClientConfig {
        /// The file.
        path: PathBuf,
        /// TOML or JSON.
        format: &'static str,
        /// The parser's message.
        message: String,
    },

    /// An MCP client's configuration has an unexpected shape; it was not touched.
    #[error("{path}: {problem}. The file was not changed")]
    ClientConfigShape {
        /// The file.
        path: PathBuf,
        /// What is unexpected.
        problem: String,
    },

    /// A repair that would have to guess; nothing was written.
    #[error("{0}")]
    RepairRefused(String),

    /// A program we need is not installed.
    #[error("{0}")]
    ProgramNotFound(String),

    /// An external command failed.
    #[error("{command} failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

impl SetupError {
    /// True when the caller's input was wrong (exit status 2).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Core(e) => e.is_usage(),
            Self::InvalidRegistryName(_)
            | Self::InvalidEnvPair(_)
            | Self::RepairUnsupported(_)
            | Self::ProgramNotFound(_) => true,
            Self::Io { .. }
            | Self::MalformedClientConfig { .. }
            | Self::ClientConfigShape { .. }
            | Self::RepairRefused(_)
            | Self::CommandFailed { .. } => false,
        }
    }
}

/// Shorthand for results carrying [`SetupError`].
pub type Result<T, E = SetupError> = std::result::Result<T, E>;

/// The text of `path`, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SetupError::Io {
            action: "cannot read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A client's JSON (comments allowed) settings at `path`, parsed for an
/// in-place edit: its current text (`None` when there is no file) and the
/// tree, `{}` for a missing or empty file. A file that does not parse is
/// refused and left as it is.
fn parse_client_json(path: &Path) -> Result<(Option<String>, jsonc_parser::cst::CstRootNode)> {
    let existing = read_optional(path)?;
    let text = existing
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "{}\n".to_owned());
    let root = jsonc_parser::cst::CstRootNode::parse(&text, &jsonc_parser::ParseOptions::default())
        .map_err(|e| SetupError::MalformedClientConfig {
            path: path.to_path_buf(),
            format: "JSON",
            message: e.to_string(),
        })?;
    Ok((existing, root))
}

/// Copy `path` to `path.bak-<UTC time>` (a fresh name), returning it.
fn backup(path: &Path) -> Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let mut candidate = path.with_file_name(format!("{name}.bak-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{name}.bak-{stamp}-{n}"));
        n += 1;
    }
    fs::copy(path, &candidate).map_err(|source| SetupError::Io {
        action: "cannot back up",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(candidate)
}

/// Write `text` to `path` through a temporary file and a rename, after a
/// backup of the previous file when there was one (returned).
fn write_config(path: &Path, text: &str, had_file: bool) -> Result<Option<PathBuf>> {
    if let Some(dir) = path.parent() {
        mesh_core::paths::create_dir(dir, "client config", "HOME")?;
    }
    let kept = if had_file { Some(backup(path)?) } else { None };
    mesh_core::config::write_atomically(path, text.as_bytes())?;
    Ok(kept)
}
