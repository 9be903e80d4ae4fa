//! The arguments of `kioku-mesh msg ...` and `kioku-mesh watch`.

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum MsgCommand {
    /// Send a message to an agent (all its sessions) or one session; prints the msg_id.
    Send(MsgSendArgs),
    /// Unread mail for this session and agent.
    Inbox(MsgInboxArgs),
    /// Mark a message read (for every session of this agent, when it was sent to the agent).
    Ack(MsgIdArgs),
    /// Who received and who acknowledged a message sent from this host.
    Status(MsgIdArgs),
    /// The thread a message belongs to, oldest first.
    Thread(MsgIdArgs),
    /// Delete expired messages, with their acks and receipts.
    Purge,
    /// Who is online: sessions that sent a presence heartbeat in the last 90 s.
    Who,
    /// Save a message (received or sent here) as an observation.
    Promote(MsgIdArgs),
    /// Print unread mail for a client hook (Claude Code / Codex SessionStart, UserPromptSubmit, Stop).
    Hook(MsgHookArgs),
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// New mail for this agent and session (default: both kinds).
    #[arg(long)]
    pub messages: bool,
    /// New observations in this host's memory (default: both kinds).
    #[arg(long)]
    pub observations: bool,
    /// Output format: a line of text, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = MsgFormat::Text)]
    pub format: MsgFormat,
    /// Also type each new message into this tmux pane (e.g. %3), when
    /// messaging.tmux in config.yaml allows the pane, sender and scope.
    #[arg(long, value_name = "PANE")]
    pub tmux_pane: Option<String>,
}

#[derive(Debug, Args)]
pub struct MsgHookArgs {
    /// The hook event this runs for.
    #[arg(long, value_enum, default_value_t = HookEvent::UserPromptSubmit)]
    pub event: HookEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookEvent {
    SessionStart,
    UserPromptSubmit,
    Stop,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("recipient").required(true).args(["to", "session"])))]
pub struct MsgSendArgs {
    /// The recipient agent's id (its client id, e.g. alice@laptop).
    #[arg(long, value_name = "AGENT-ID")]
    pub to: Option<String>,
    /// One recipient session instead (its KIOKU_MESH_SESSION_ID).
    #[arg(long, value_name = "SESSION-ID")]
    pub session: Option<String>,
    /// Scope: mesh (default), user or team.
    #[arg(long, value_parser = parse_visibility)]
    pub visibility: Option<mesh_core::Visibility>,
    /// Lifetime in seconds (default: no expiry).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
    /// A subject line.
    #[arg(long)]
    pub subject: Option<String>,
    /// The msg_id this message answers (joins its thread).
    #[arg(long, value_name = "MSG-ID")]
    pub reply_to: Option<String>,
    /// Ask the recipient to acknowledge.
    #[arg(long)]
    pub requires_ack: bool,
    /// Ask recipients to keep the message as memory (`msg promote` does it).
    #[arg(long)]
    pub promote: bool,
    /// The text, or - to read it from standard input.
    pub body: String,
}

/// Parse `mesh`, `user` or `team` at the boundary.
fn parse_visibility(text: &str) -> Result<mesh_core::Visibility, String> {
    match text {
        "mesh" => Ok(mesh_core::Visibility::Mesh),
        "user" => Ok(mesh_core::Visibility::User),
        "team" => Ok(mesh_core::Visibility::Team),
        other => Err(format!("'{other}' is not a scope; use mesh, user or team")),
    }
}

#[derive(Debug, Args)]
pub struct MsgInboxArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = MsgFormat::Text)]
    pub format: MsgFormat,
    /// Include mail already acknowledged.
    #[arg(long)]
    pub all: bool,
    /// At most this many (1-100).
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: i64,
    /// Only this scope: mesh, user or team.
    #[arg(long, value_parser = parse_visibility)]
    pub visibility: Option<mesh_core::Visibility>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MsgFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct MsgIdArgs {
    /// The message id (32 hex characters).
    pub msg_id: String,
}
