//! Turning a save request into a validated observation. Every check runs
//! before anything is written, so a refused save changes nothing.

use mesh_core::keyspace::is_observation_id;
use mesh_core::{Identity, MemoryType, Observation, Settings, Visibility, timestamp};

use crate::error::{MemoryError, Result};
use crate::lint::find_tool_call_fragment;
use crate::metadata;

/// Largest serialised observation accepted, in bytes.
pub const MAX_OBSERVATION_BYTES: usize = 256 * 1024;

/// What a caller asks to save. Identity and scope ids are never part of
/// it: they come from the process and its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveRequest {
    /// The body.
    pub content: String,
    /// Short topic (required).
    pub subject: String,
    /// One-line abstract (required).
    pub summary: String,
    /// Project name.
    pub project: String,
    /// Free tags.
    pub tags: Vec<String>,
    /// What kind of note this is.
    pub memory_type: MemoryType,
    /// 1..=5; other values are clamped.
    pub importance: i64,
    /// Related files.
    pub source_files: Vec<String>,
    /// Related PRs or issues.
    pub references: Vec<String>,
    /// Ids (32 hex) this observation replaces.
    pub supersedes: Vec<String>,
    /// Who may read it; `None` for the configured default.
    pub visibility: Option<Visibility>,
    /// Absolute end of life (ISO 8601, checked on save).
    pub expires_at: Option<String>,
    /// Lifetime in seconds from now when `expires_at` is unset; 0 for none.
    pub ttl_sec: i64,
    /// Refuse fields carrying leaked tool-call markup (MCP saves).
    pub refuse_tool_call_fragments: bool,
}

impl Default for SaveRequest {
    fn default() -> Self {
        Self {
            content: String::new(),
            subject: String::new(),
            summary: String::new(),
            project: String::new(),
            tags: Vec::new(),
            memory_type: MemoryType::Note,
            importance: 2,
            source_files: Vec::new(),
            references: Vec::new(),
            supersedes: Vec::new(),
            visibility: None,
            expires_at: None,
            ttl_sec: 0,
            refuse_tool_call_fragments: false,
        }
    }
}

impl SaveRequest {
    /// A request with the three required texts.
    pub fn new(
        content: impl Into<String>,
        subject: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Self {
            content: content.into(),
            subject: subject.into(),
            summary: summary.into(),
            ..Self::default()
        }
    }
}

/// Validate `req` and build the observation it describes, stamped with
/// `identity` and scoped by `settings`.
pub fn build_observation(
    req: &SaveRequest,
    settings: &Settings,
    identity: &Identity,
) -> Result<Observation> {
    if req.refuse_tool_call_fragments {
        for (field, value) in [
            ("content", &req.content),
            ("subject", &req.subject),
            ("summary", &req.summary),
        ] {
            if let Some(fragment) = find_tool_call_fragment(value) {
                return Err(MemoryError::ToolCallFragment { field, fragment });
            }
        }
    }
    let (visibility, scope_id) = settings.resolve_write_visibility(req.visibility)?;
    metadata::validate_required(&req.subject, &req.summary)?;
    let memory_type = req.memory_type;
    for id in &req.supersedes {
        if !is_observation_id(id) {
            return Err(MemoryError::InvalidArgument(format!(
                "supersedes entries must be full 32-character observation ids; got '{id}'"
            )));
        }
    }
    identity.check_key_segments()?;
    let created_at = timestamp::now();
    let expires_at = timestamp::resolve_expires_at(
        req.expires_at.as_deref().map_or("", str::trim),
        req.ttl_sec,
        &created_at,
    )?;
    let obs = Observation {
        content: req.content.clone(),
        agent_family: identity.agent_family.clone(),
        client_id: identity.client_id.clone(),
        pc_id: identity.pc_id.clone(),
        session_id: identity.session_id.clone(),
        project: req.project.clone(),
        tags: clean_list(&req.tags),
        observation_id: Observation::new_id(),
        created_at,
        memory_type,
        importance: mesh_core::observation::clamp_importance(req.importance),
        subject: req.subject.clone(),
        summary: req.summary.clone(),
        source_files: clean_list(&req.source_files),
        references: clean_list(&req.references),
        supersedes: clean_list(&req.supersedes),
        visibility,
        scope_id,
        expires_at,
        extras: serde_json::Map::new(),
    };
    // The key must be buildable before anything is written.
    obs.key()?;
    let size = obs.to_json().len();
    if size > MAX_OBSERVATION_BYTES {
        return Err(MemoryError::TooLarge {
            size,
            limit: MAX_OBSERVATION_BYTES,
        });
    }
    Ok(obs)
}

fn clean_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::identity::IdentitySource;
    use mesh_core::{Environment, Paths};

    fn settings(env: Environment) -> Settings {
        let dir = std::env::temp_dir();
        Settings::load_with_paths(
            &env,
            Paths::at(dir.join("no-such-state"), dir.join("no-such-config")),
        )
        .unwrap()
    }

    fn identity() -> Identity {
        Identity {
            agent_family: "claude".into(),
            agent_family_source: IdentitySource::Env,
            client_id: "alice@mbp".into(),
            client_id_source: IdentitySource::Env,
            pc_id: "fceb8fdac7294bf1a986de3608142308".into(),
            session_id: "20261123T162414Z-43c46b9d".into(),
        }
    }

    fn env() -> Environment {
        Environment::empty("/", None)
    }

    #[test]
    fn a_good_request_builds_a_keyable_observation() {
        let mut req = SaveRequest::new("body", "subj", "sum");
        req.memory_type = MemoryType::Decision;
        req.importance = 9;
        req.tags = vec![" a ".into(), String::new()];
        req.ttl_sec = 60;
        let obs = build_observation(&req, &settings(env()), &identity()).unwrap();
        assert_eq!(obs.importance, 5);
        assert_eq!(obs.tags, vec!["a"]);
        assert_eq!(obs.visibility, Visibility::Mesh);
        assert!(obs.expires_at > obs.created_at);
        assert!(
            obs.key()
                .unwrap()
                .starts_with("mem/mesh/obs/claude/alice@mbp/")
        );
    }

    #[test]
    fn bad_inputs_are_refused_with_their_reason() {
        let cases: Vec<(SaveRequest, &str)> = vec![
            (SaveRequest::new("c", "", "m"), "subject required"),
            (
                SaveRequest::new("c", "n/a", "-"),
                "subject and summary required",
            ),
            (
                SaveRequest {
                    supersedes: vec!["abc".into()],
                    ..SaveRequest::new("c", "s", "m")
                },
                "supersedes entries",
            ),
            (
                SaveRequest {
                    expires_at: Some("tomorrow".into()),
                    ..SaveRequest::new("c", "s", "m")
                },
                "expires_at must be ISO 8601",
            ),
            (
                SaveRequest {
                    visibility: Some(Visibility::User),
                    ..SaveRequest::new("c", "s", "m")
                },
                "requires a user_id",
            ),
            (
                SaveRequest::new("x".repeat(MAX_OBSERVATION_BYTES), "s", "m"),
                "the limit is",
            ),
            (
                SaveRequest {
                    refuse_tool_call_fragments: true,
                    ..SaveRequest::new("c</content>\n<summary>", "s", "m")
                },
                "tool-call markup",
            ),
        ];
        for (req, expected) in cases {
            let err = build_observation(&req, &settings(env()), &identity())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn identity_that_would_inject_into_the_key_is_refused() {
        let mut id = identity();
        id.client_id = "a/b".into();
        let err = build_observation(&SaveRequest::new("c", "s", "m"), &settings(env()), &id)
            .unwrap_err()
            .to_string();
        assert!(err.contains("KIOKU_MESH_CLIENT_ID"), "{err}");
    }
}
