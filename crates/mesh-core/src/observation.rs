//! The observation: one small, immutable JSON note.
//!
//! Reading is tolerant, because payloads come from peers that may run a
//! newer schema: unknown fields are kept (and written back first, in their
//! original order), an unknown `memory_type` becomes `note` with the raw
//! value kept as `_raw_memory_type`, an unknown visibility becomes legacy,
//! and missing fields take their defaults. Writing is strict: new
//! observations are validated by the save path before they are built.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize};
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

    /// Parse a payload tolerantly (see the module documentation).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str::<Self>(text).map_err(|e| malformed(&e.to_string()))
    }

    /// Build from an already-parsed JSON object, tolerantly.
    pub fn from_map(map: Map<String, Value>) -> Result<Self> {
        serde_json::from_value::<Self>(Value::Object(map)).map_err(|e| malformed(&e.to_string()))
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

/// One field of the payload as read, before defaults apply.
#[derive(Default)]
struct Fields {
    content: Option<String>,
    agent_family: String,
    client_id: String,
    pc_id: String,
    session_id: String,
    project: String,
    tags: Vec<String>,
    observation_id: String,
    created_at: Option<String>,
    memory_type: MemoryType,
    importance: u8,
    subject: String,
    summary: String,
    source_files: Vec<String>,
    references: Vec<String>,
    supersedes: Vec<String>,
    visibility: Visibility,
    scope_id: String,
    expires_at: String,
    extras: Map<String, Value>,
    raw_memory_type: Option<Value>,
}

/// A string field: `null` reads as empty, anything else but a string is an error.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Self(Option::<String>::deserialize(d)?.unwrap_or_default()))
    }
}

/// A list of strings: `null` reads as empty.
struct TextList(Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Self(
            Option::<Vec<String>>::deserialize(d)?.unwrap_or_default(),
        ))
    }
}

impl<'de> Deserialize<'de> for Observation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(ObservationVisitor)
    }
}

struct ObservationVisitor;

impl<'de> Visitor<'de> for ObservationVisitor {
    type Value = Observation;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an observation JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Observation, A::Error> {
        let mut f = Fields {
            importance: 2,
            ..Fields::default()
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "content" => f.content = Some(map.next_value::<Text>()?.0),
                "agent_family" => f.agent_family = map.next_value::<Text>()?.0,
                "client_id" => f.client_id = map.next_value::<Text>()?.0,
                "pc_id" => f.pc_id = map.next_value::<Text>()?.0,
                "session_id" => f.session_id = map.next_value::<Text>()?.0,
                "project" => f.project = map.next_value::<Text>()?.0,
                "tags" => f.tags = map.next_value::<TextList>()?.0,
                "observation_id" => f.observation_id = map.next_value::<Text>()?.0,
                "created_at" => f.created_at = map.next_value::<Option<String>>()?,
                "memory_type" => {
                    // A type from a newer peer reads as `note`, keeping the raw value.
                    let raw = map.next_value::<Value>()?;
                    match raw.as_str().and_then(MemoryType::parse) {
                        Some(t) => f.memory_type = t,
                        None if raw.is_null() => f.memory_type = MemoryType::Note,
                        None => {
                            tracing::debug!("clamping unknown memory_type {raw} to note");
                            f.memory_type = MemoryType::Note;
                            f.raw_memory_type = Some(raw);
                        }
                    }
                }
                "importance" => {
                    f.importance = match map.next_value::<Option<Value>>()? {
                        None => 2,
                        Some(Value::Number(n)) => clamp_importance(
                            n.as_i64()
                                .or_else(|| n.as_f64().map(|v| v as i64))
                                .unwrap_or(2),
                        ),
                        Some(_) => return Err(de::Error::custom("'importance' must be a number")),
                    }
                }
                "subject" => f.subject = map.next_value::<Text>()?.0,
                "summary" => f.summary = map.next_value::<Text>()?.0,
                "source_files" => f.source_files = map.next_value::<TextList>()?.0,
                "references" => f.references = map.next_value::<TextList>()?.0,
                "supersedes" => f.supersedes = map.next_value::<TextList>()?.0,
                "visibility" => {
                    f.visibility = match map.next_value::<Value>()? {
                        Value::String(s) => Visibility::from_wire(&s),
                        _ => Visibility::Legacy,
                    }
                }
                "scope_id" => f.scope_id = map.next_value::<Text>()?.0,
                "expires_at" => f.expires_at = map.next_value::<Text>()?.0,
                _ => {
                    let value = map.next_value::<Value>()?;
                    f.extras.insert(key, value);
                }
            }
        }
        let content = f
            .content
            .ok_or_else(|| de::Error::custom("'content' must be a string"))?;
        if f.observation_id.is_empty() {
            return Err(de::Error::custom("'observation_id' is missing"));
        }
        if let Some(raw) = f.raw_memory_type {
            f.extras.insert("_raw_memory_type".to_owned(), raw);
        }
        Ok(Observation {
            content,
            agent_family: f.agent_family,
            client_id: f.client_id,
            pc_id: f.pc_id,
            session_id: f.session_id,
            project: f.project,
            tags: f.tags,
            observation_id: f.observation_id,
            created_at: f.created_at.unwrap_or_else(timestamp::now),
            memory_type: f.memory_type,
            importance: f.importance,
            subject: f.subject,
            summary: f.summary,
            source_files: f.source_files,
            references: f.references,
            supersedes: f.supersedes,
            visibility: f.visibility,
            scope_id: f.scope_id,
            expires_at: f.expires_at,
            extras: f.extras,
        })
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
