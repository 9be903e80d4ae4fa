//! The tools' arguments: names, types and defaults are the reference's, and
//! the JSON Schemas sent to clients are generated from these types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn note() -> String {
    "note".to_owned()
}
fn two() -> i64 {
    2
}
fn fifty() -> i64 {
    50
}
fn twenty() -> i64 {
    20
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveObservation {
    /// Full text of the observation.
    pub content: String,
    /// Required. Short topic, e.g. "retry policy"; placeholders such as "-", "N/A", "TBD" are refused.
    pub subject: String,
    /// Required. One line shown in search results; placeholders are refused.
    pub summary: String,
    /// Project the entry belongs to.
    #[serde(default)]
    pub project: String,
    /// Keywords.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// One of note, decision, bug, pattern, config, summary.
    #[serde(default = "note")]
    #[schemars(default = "note")]
    pub memory_type: String,
    /// 1 (trivial) to 5 (critical); clamped.
    #[serde(default = "two")]
    #[schemars(default = "two")]
    pub importance: i64,
    /// Related file paths.
    #[serde(default)]
    pub source_files: Option<Vec<String>>,
    /// Related PRs, issues or other identifiers.
    #[serde(default)]
    pub references: Option<Vec<String>>,
    /// Ids of the observations this one replaces.
    #[serde(default)]
    pub supersedes: Option<Vec<String>>,
    /// "" (configured default), "mesh", "user" or "team".
    #[serde(default)]
    pub visibility: String,
    /// ISO 8601 instant after which the entry is disposable.
    #[serde(default)]
    pub expires_at: String,
    /// Lifetime in seconds from now (when expires_at is empty).
    #[serde(default)]
    pub ttl_sec: i64,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchMemory {
    /// Search terms; empty lists the newest entries.
    #[serde(default)]
    pub query: String,
    /// Exact agent family of the writer.
    #[serde(default)]
    pub agent_family: String,
    /// Exact client id of the writer.
    #[serde(default)]
    pub client_id: String,
    /// Exact host id of the writer.
    #[serde(default)]
    pub pc_id: String,
    /// Exact session id of the writer.
    #[serde(default)]
    pub session_id: String,
    /// Project (its former names match too).
    #[serde(default)]
    pub project: String,
    /// Only entries created at or after this ISO 8601 instant.
    #[serde(default)]
    pub since_iso: String,
    /// Most results returned (1-10000).
    #[serde(default = "fifty")]
    #[schemars(default = "fifty")]
    pub limit: i64,
    /// Also return entries superseded by a newer one.
    #[serde(default)]
    pub include_superseded: bool,
    /// "hybrid" (meaning and words), "and", "or" or "and_or". Unset: "hybrid" when an embedding model is installed, else "and".
    #[serde(default)]
    pub search_mode: Option<String>,
    /// Other phrasings of the same question (the other language, synonyms, the likely wording of the note); results of all phrasings are merged.
    #[serde(default)]
    pub queries: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationId {
    /// Full 32-character observation id.
    pub observation_id: String,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMemory {
    /// Full 32-character observation id.
    pub observation_id: String,
    /// Why (kept in the tombstone).
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallContext {
    /// What to recall; empty browses the newest entries.
    #[serde(default)]
    pub query: String,
    /// Project (its former names match too).
    #[serde(default)]
    pub project: String,
    /// Only these memory types.
    #[serde(default)]
    pub memory_types: Option<Vec<String>>,
    /// Only entries naming one of these source files.
    #[serde(default)]
    pub source_files: Option<Vec<String>>,
    /// Only entries naming one of these references.
    #[serde(default)]
    pub references: Option<Vec<String>>,
    /// Only entries created at or after this ISO 8601 instant.
    #[serde(default)]
    pub since_iso: String,
    /// Most results (1-100).
    #[serde(default = "twenty")]
    #[schemars(default = "twenty")]
    pub limit: i64,
    /// "hybrid" (meaning and words), "and", "or" or "and_or". Unset: "hybrid" when an embedding model is installed, else "and_or".
    #[serde(default)]
    pub search_mode: Option<String>,
    /// Other phrasings of the same question (the other language, synonyms, the likely wording of the note); results of all phrasings are merged.
    #[serde(default)]
    pub queries: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrainPendingPuts {
    /// Most queued saves to send in this call.
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The recipient agent's id (its client id, e.g. alice@laptop); every session of that agent gets it.
    #[serde(default)]
    pub to_agent: String,
    /// One recipient session instead (its session id).
    #[serde(default)]
    pub to_session: String,
    /// The message text (at most 64 KiB). Store long content with save_observation and send its id.
    pub body: String,
    /// A short subject line.
    #[serde(default)]
    pub subject: String,
    /// Scope: 'mesh' (default), 'user' or 'team'.
    #[serde(default)]
    pub visibility: String,
    /// Lifetime in seconds; omit for no expiry.
    #[serde(default)]
    pub ttl_sec: Option<u64>,
    /// The msg_id this message answers (joins its thread).
    #[serde(default)]
    pub reply_to: String,
    /// Ask the recipient to acknowledge with ack_message.
    #[serde(default)]
    pub requires_ack: bool,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckMessages {
    /// At most this many messages (1-100).
    #[serde(default = "twenty")]
    #[schemars(default = "twenty")]
    pub limit: i64,
    /// '' for every scope, or 'mesh', 'user', 'team'.
    #[serde(default)]
    pub visibility: String,
    /// Include messages already acknowledged.
    #[serde(default)]
    pub include_acked: bool,
    /// Include expired messages.
    #[serde(default)]
    pub include_expired: bool,
    /// Only messages created at or after this ISO 8601 time.
    #[serde(default)]
    pub since_iso: String,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckMessage {
    /// The 32-hex msg_id from check_messages.
    pub msg_id: String,
    /// Scope hint when the message is not known locally.
    #[serde(default)]
    pub visibility: String,
}
