//! The observation: one small, immutable JSON note.
//!
//! Reading is tolerant, because payloads come from peers that may run a
//! newer schema: unknown fields are kept (and written back first, in their
//! original order), an unknown `memory_type` becomes `note` with the raw
//! value kept as `_raw_memory_type`, an unknown visibility becomes legacy,
//! and missing fields take their defaults. Writing is strict: new
//! observations are validated by the save path before they are built.

use std::fmt;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use crate::error::{CoreError, Result};
use crate::json_text;
use crate::keyspace::{KeyIdentity, Marker, Visibility, build_key};
use crate::timestamp;

/// The closed set of observation categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum MemoryType {
    /// Anything else worth keeping.
    #[default]
    Note,
    /// A choice made, with its reason.
    Decision,
    /// A defect and its root cause.
    Bug,
    /// A recurring way of doing things.
    Pattern,
    /// A configuration fact or change.
    Config,
    /// A conclusion of a session or piece of work.
    Summary,
}

impl MemoryType {
    /// Every type, in the order the reference lists them (sorted).
    pub const ALL: [Self; 6] = [
        Self::Bug,
        Self::Config,
        Self::Decision,
        Self::Note,
        Self::Pattern,
        Self::Summary,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Note => "note",
            Self::Decision => "decision",
            Self::Bug => "bug",
            Self::Pattern => "pattern",
            Self::Config => "config",
            Self::Summary => "summary",
        }
    }

    /// Parse a wire spelling.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// Parse a value given to a write path, with the reference's error.
    pub fn for_write(value: &str) -> Result<Self> {
        Self::parse(value).ok_or_else(|| CoreError::InvalidMemoryType(value.to_owned()))
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Field names of an observation, in wire order.
pub const OBSERVATION_FIELDS: [&str; 19] = [
    "content",
    "agent_family",
    "client_id",
    "pc_id",
    "session_id",
    "project",
    "tags",
    "observation_id",
    "created_at",
    "memory_type",
    "importance",
    "subject",
    "summary",
    "source_files",
    "references",
    "supersedes",
    "visibility",
    "scope_id",
    "expires_at",
];

/// One observation as stored and replicated.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The body.
    pub content: String,
    /// Writer's agent family.
    pub agent_family: String,
    /// Writer's client id.
    pub client_id: String,
    /// Writer's host id.
    pub pc_id: String,
    /// Writer's session id.
    pub session_id: String,
    /// Project name (may be empty).
    pub project: String,
    /// Free tags.
    pub tags: Vec<String>,
    /// 32 lowercase hex characters.
    pub observation_id: String,
    /// Wire timestamp of creation.
    pub created_at: String,
    /// Category.
    pub memory_type: MemoryType,
    /// 1 (trivial) to 5 (critical).
    pub importance: u8,
    /// Short topic.
    pub subject: String,
    /// One-line abstract.
    pub summary: String,
    /// Related file paths.
    pub source_files: Vec<String>,
    /// Related PRs or issues.
    pub references: Vec<String>,
    /// Ids this observation replaces.
    pub supersedes: Vec<String>,
    /// Replication scope.
    pub visibility: Visibility,
    /// user_id or team_id for scoped tiers.
    pub scope_id: String,
    /// Wire timestamp after which the entry is stale, or `""`.
    pub expires_at: String,
    /// Unknown fields, kept in their original order and written back first.
    pub extras: Map<String, Value>,
}

impl Observation {
    /// A new random observation id.
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    /// Parse a payload tolerantly.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
        match value {
            Value::Object(map) => Self::from_map(map),
            _ => Err(malformed("the payload is not a JSON object")),
        }
    }

    /// Build from an already-parsed JSON object, tolerantly.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Self> {
        let mut raw_memory_type = None;
        let memory_type = match map.get("memory_type") {
            None | Some(Value::Null) => MemoryType::Note,
            Some(Value::String(s)) if MemoryType::parse(s).is_some() => {
                MemoryType::parse(s).unwrap_or_default()
            }
            Some(other) => {
                tracing::debug!("clamping unknown memory_type {other} to note");
                raw_memory_type = Some(other.clone());
                MemoryType::Note
            }
        };
        let content = match map.get("content") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(malformed("'content' must be a string")),
        };
        let observation_id = string_field(&map, "observation_id")?;
        if observation_id.is_empty() {
            return Err(malformed("'observation_id' is missing"));
        }
        let visibility = match map.get("visibility") {
            Some(Value::String(s)) => Visibility::from_wire(s),
            _ => Visibility::Legacy,
        };
        let importance = match map.get("importance") {
            None | Some(Value::Null) => 2,
            Some(Value::Number(n)) => {
                let v = n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|f| f as i64))
                    .unwrap_or(2);
                clamp_importance(v)
            }
            Some(_) => return Err(malformed("'importance' must be a number")),
        };
        let created_at = match map.get("created_at") {
            None | Some(Value::Null) => timestamp::now(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(malformed("'created_at' must be a string")),
        };
        let obs = Self {
            content,
            agent_family: string_field(&map, "agent_family")?,
            client_id: string_field(&map, "client_id")?,
            pc_id: string_field(&map, "pc_id")?,
            session_id: string_field(&map, "session_id")?,
            project: string_field(&map, "project")?,
            tags: list_field(&map, "tags")?,
            observation_id,
            created_at,
            memory_type,
            importance,
            subject: string_field(&map, "subject")?,
            summary: string_field(&map, "summary")?,
            source_files: list_field(&map, "source_files")?,
            references: list_field(&map, "references")?,
            supersedes: list_field(&map, "supersedes")?,
            visibility,
            scope_id: string_field(&map, "scope_id")?,
            expires_at: string_field(&map, "expires_at")?,
            extras: Map::new(),
        };
        map.retain(|k, _| !OBSERVATION_FIELDS.contains(&k.as_str()));
        if let Some(raw) = raw_memory_type {
            map.insert("_raw_memory_type".to_owned(), raw);
        }
        Ok(Self { extras: map, ..obs })
    }

    /// The payload in the reference's exact JSON text.
    pub fn to_json(&self) -> String {
        json_text::to_string(self)
    }

    /// The identity segments of this observation's key.
    pub fn key_identity(&self) -> KeyIdentity<'_> {
        KeyIdentity {
            agent_family: &self.agent_family,
            client_id: &self.client_id,
            pc_id: &self.pc_id,
            session_id: &self.session_id,
        }
    }

    /// The key this observation is stored under.
    pub fn key(&self) -> Result<String> {
        build_key(
            Marker::Obs,
            self.visibility,
            &self.scope_id,
            self.key_identity(),
            &self.observation_id,
        )
    }

    /// The mirrored tombstone key.
    pub fn tombstone_key(&self) -> Result<String> {
        build_key(
            Marker::Tomb,
            self.visibility,
            &self.scope_id,
            self.key_identity(),
            &self.observation_id,
        )
    }

    /// True when a lifetime is set and `now` (wire form) has reached it.
    pub fn is_expired_at(&self, now: &str) -> bool {
        !self.expires_at.is_empty() && self.expires_at.as_str() <= now
    }
}

/// Clamp an importance to 1..=5, as the reference does on every construction.
pub fn clamp_importance(value: i64) -> u8 {
    // The clamp guarantees the value fits.
    value.clamp(1, 5) as u8
}

impl Serialize for Observation {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        for (k, v) in &self.extras {
            if !OBSERVATION_FIELDS.contains(&k.as_str()) {
                m.serialize_entry(k, v)?;
            }
        }
        m.serialize_entry("content", &self.content)?;
        m.serialize_entry("agent_family", &self.agent_family)?;
        m.serialize_entry("client_id", &self.client_id)?;
        m.serialize_entry("pc_id", &self.pc_id)?;
        m.serialize_entry("session_id", &self.session_id)?;
        m.serialize_entry("project", &self.project)?;
        m.serialize_entry("tags", &self.tags)?;
        m.serialize_entry("observation_id", &self.observation_id)?;
        m.serialize_entry("created_at", &self.created_at)?;
        m.serialize_entry("memory_type", self.memory_type.as_str())?;
        m.serialize_entry("importance", &self.importance)?;
        m.serialize_entry("subject", &self.subject)?;
        m.serialize_entry("summary", &self.summary)?;
        m.serialize_entry("source_files", &self.source_files)?;
        m.serialize_entry("references", &self.references)?;
        m.serialize_entry("supersedes", &self.supersedes)?;
        m.serialize_entry("visibility", self.visibility.as_str())?;
        m.serialize_entry("scope_id", &self.scope_id)?;
        m.serialize_entry("expires_at", &self.expires_at)?;
        m.end()
    }
}

fn malformed(message: &str) -> CoreError {
    CoreError::MalformedJson {
        what: "observation",
        message: message.to_owned(),
    }
}

pub(crate) fn string_field(map: &Map<String, Value>, name: &str) -> Result<String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(malformed(&format!("'{name}' must be a string"))),
    }
}

fn list_field(map: &Map<String, Value>, name: &str) -> Result<Vec<String>> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(malformed(&format!("'{name}' must be a list of strings"))),
            })
            .collect(),
        Some(_) => Err(malformed(&format!("'{name}' must be a list of strings"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload as the reference writes it (copied from a real save).
    const REFERENCE_PAYLOAD: &str = r##"{"content": "Use FTS5 trigram for Japanese search 日本語", "agent_family": "unknown", "client_id": "root@vm", "pc_id": "7af8c71292bb460985fd0dca2293ceb4", "session_id": "20261123T195100Z-3170f176", "project": "demo", "tags": ["fts", "search"], "observation_id": "933f1c1cdce6404db34d991e229affc7", "created_at": "2026-11-23T19:51:00.638673Z", "memory_type": "decision", "importance": 4, "subject": "FTS tokenizer", "summary": "trigram chosen", "source_files": [], "references": ["#67", "PR#68"], "supersedes": [], "visibility": "mesh", "scope_id": "", "expires_at": ""}"##;

    #[test]
    fn reference_payload_round_trips_byte_for_byte() {
        let obs = Observation::from_json(REFERENCE_PAYLOAD).unwrap();
        assert_eq!(obs.memory_type, MemoryType::Decision);
        assert_eq!(obs.importance, 4);
        assert_eq!(obs.visibility, Visibility::Mesh);
        assert_eq!(obs.to_json(), REFERENCE_PAYLOAD);
    }

    #[test]
    fn unknown_fields_are_kept_first_and_in_order() {
        let text = r#"{"zeta": 1, "content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "alpha": {"x": [true, null]}}"#;
        let obs = Observation::from_json(text).unwrap();
        let out = obs.to_json();
        assert!(
            out.starts_with(r#"{"zeta": 1, "alpha": {"x": [true, null]}, "content": "c""#),
            "{out}"
        );
        assert_eq!(Observation::from_json(&out).unwrap(), obs);
    }

    #[test]
    fn unknown_memory_type_is_clamped_and_kept_raw() {
        let text = r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "memory_type": "insight"}"#;
        let obs = Observation::from_json(text).unwrap();
        assert_eq!(obs.memory_type, MemoryType::Note);
        assert_eq!(obs.extras["_raw_memory_type"], Value::from("insight"));
        let again = Observation::from_json(&obs.to_json()).unwrap();
        assert_eq!(again.extras["_raw_memory_type"], Value::from("insight"));
    }

    #[test]
    fn unknown_visibility_clamps_to_legacy_and_importance_clamps() {
        let text = r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "visibility": "galaxy", "importance": 9}"#;
        let obs = Observation::from_json(text).unwrap();
        assert_eq!(obs.visibility, Visibility::Legacy);
        assert_eq!(obs.importance, 5);
        let text = r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "importance": -3}"#;
        assert_eq!(Observation::from_json(text).unwrap().importance, 1);
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let obs = Observation::from_json(
            r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7"}"#,
        )
        .unwrap();
        assert_eq!(obs.importance, 2);
        assert_eq!(obs.memory_type, MemoryType::Note);
        assert!(obs.tags.is_empty());
        assert_eq!(obs.created_at.len(), 27);
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for bad in [
            "",
            "[]",
            "\"x\"",
            "{",
            r#"{"observation_id": "933f1c1cdce6404db34d991e229affc7"}"#,
            r#"{"content": 5, "observation_id": "933f1c1cdce6404db34d991e229affc7"}"#,
            r#"{"content": "c"}"#,
            r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "tags": "a,b"}"#,
            r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "tags": [1]}"#,
            r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "importance": "high"}"#,
        ] {
            let err = Observation::from_json(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("malformed observation JSON"),
                "{bad}"
            );
        }
    }

    #[test]
    fn memory_type_write_validation_message() {
        assert_eq!(
            MemoryType::for_write("insight").unwrap_err().to_string(),
            "memory_type must be one of ['bug', 'config', 'decision', 'note', 'pattern', 'summary']; got 'insight'"
        );
    }

    #[test]
    fn expiry_is_inclusive() {
        let mut obs = Observation::from_json(REFERENCE_PAYLOAD).unwrap();
        obs.expires_at = "2026-11-23T10:00:00.000000Z".to_owned();
        assert!(obs.is_expired_at("2026-11-23T10:00:00.000000Z"));
        assert!(!obs.is_expired_at("2026-11-23T09:59:59.999999Z"));
        obs.expires_at.clear();
        assert!(!obs.is_expired_at("2999-01-01T00:00:00.000000Z"));
    }
}
