//! The Zenoh key space of memory: key builders, read selectors and the strict
//! canonical parser.
//!
//! ```text
//! mesh:    mem/mesh/{obs|tomb}/{agent}/{client}/{pc}/{session}/{obs_id}
//! user:    mem/user/{user_id}/{obs|tomb}/{agent}/{client}/{pc}/{session}/{obs_id}
//! team:    mem/team/{team_id}/{obs|tomb}/{agent}/{client}/{pc}/{session}/{obs_id}
//! legacy:  mem/{obs|tomb}/{agent}/{client}/{pc}/{session}/{obs_id}   (read only)
//! ```
//!
//! Every segment that comes from configuration or the environment is checked
//! before it is put into a key: a `/` would add a level, and `*`, `$`, `#`,
//! `?` are Zenoh wildcard or reserved characters. The parser accepts only the
//! shapes above, so a stray key can never drive a delete of a real row.

use std::fmt;

use crate::error::{CoreError, Result};

/// The segment between the tier prefix and the identity that marks a live
/// observation.
pub const OBS_MARKER: &str = "obs";
/// The segment that marks a tombstone.
pub const TOMB_MARKER: &str = "tomb";

/// Selector matching every observation key of every tier.
pub const OBS_READ_SELECTOR: &str = "mem/**/obs/**";
/// Selector matching every tombstone key of every tier.
pub const TOMB_READ_SELECTOR: &str = "mem/**/tomb/**";

/// Replication scope of an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Visibility {
    /// Pre-tier layout `mem/{obs|tomb}/...`; read but never written.
    #[default]
    Legacy,
    /// Every peer of the mesh.
    Mesh,
    /// The machines of one user (`mem/user/<user_id>/...`).
    User,
    /// The members of one team (`mem/team/<team_id>/...`).
    Team,
}

impl Visibility {
    /// The wire spelling (`""` for legacy).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "",
            Self::Mesh => "mesh",
            Self::User => "user",
            Self::Team => "team",
        }
    }

    /// Read a stored value; unknown tiers clamp to legacy, as the reference
    /// does, so a payload from a newer peer still parses.
    pub fn from_wire(value: &str) -> Self {
        match value {
            "mesh" => Self::Mesh,
            "user" => Self::User,
            "team" => Self::Team,
            _ => Self::Legacy,
        }
    }

    /// Parse a visibility requested for a new write: mesh, user or team.
    pub fn for_write(value: &str) -> Result<Self> {
        match value.trim() {
            "mesh" => Ok(Self::Mesh),
            "user" => Ok(Self::User),
            "team" => Ok(Self::Team),
            other => Err(CoreError::InvalidVisibility(other.to_owned())),
        }
    }

    /// Parse a visibility a caller may leave blank: blank means the
    /// configured default (`None`).
    pub fn requested(value: &str) -> Result<Option<Self>> {
        if value.trim().is_empty() {
            Ok(None)
        } else {
            Self::for_write(value).map(Some)
        }
    }

    /// True for the tiers that carry a scope id segment.
    pub fn is_scoped(self) -> bool {
        matches!(self, Self::User | Self::Team)
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which half of the mirrored key space a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    /// `obs`: an observation.
    Obs,
    /// `tomb`: a tombstone.
    Tomb,
}

impl Marker {
    /// The key segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Obs => OBS_MARKER,
            Self::Tomb => TOMB_MARKER,
        }
    }

    fn parse(segment: &str) -> Option<Self> {
        match segment {
            OBS_MARKER => Some(Self::Obs),
            TOMB_MARKER => Some(Self::Tomb),
            _ => None,
        }
    }
}

/// Why a value cannot be a key segment, or `None` when it can.
pub fn key_segment_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("it is empty".to_owned());
    }
    for c in value.chars() {
        let problem = match c {
            '/' => "it contains '/', which would add a key level",
            '*' => "it contains '*', a Zenoh wildcard",
            '$' => "it contains '$', reserved in Zenoh keys",
            '#' => "it contains '#', reserved in Zenoh keys",
            '?' => "it contains '?', which starts a Zenoh selector's parameters",
            c if c.is_control() => "it contains a control character",
            _ => continue,
        };
        return Some(problem.to_owned());
    }
    None
}

/// Check that `value`, taken from `origin`, is usable as one key segment.
pub fn validate_key_segment(origin: &str, value: &str, fix: &str) -> Result<()> {
    match key_segment_problem(value) {
        None => Ok(()),
        Some(problem) => Err(CoreError::InvalidKeySegment {
            origin: origin.to_owned(),
            value: value.escape_debug().to_string(),
            problem,
            fix: fix.to_owned(),
        }),
    }
}

/// True when `scope_id` matches `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
pub fn is_scope_slug(scope_id: &str) -> bool {
    let bytes = scope_id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Check a scope id for a scoped tier.
pub fn validate_scope_slug(visibility: Visibility, scope_id: &str) -> Result<()> {
    if is_scope_slug(scope_id) {
        Ok(())
    } else {
        Err(CoreError::InvalidScopeId {
            visibility: visibility.as_str().to_owned(),
            value: scope_id.to_owned(),
        })
    }
}

/// True for a 32-character lowercase hexadecimal observation id.
pub fn is_observation_id(value: &str) -> bool {
    value.len() == 32
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The four identity segments of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyIdentity<'a> {
    /// Agent family, e.g. `claude`.
    pub agent_family: &'a str,
    /// Client id, e.g. `alice@laptop`.
    pub client_id: &'a str,
    /// Host id (32 hex).
    pub pc_id: &'a str,
    /// Session id.
    pub session_id: &'a str,
}

/// The prefix up to, not including, the marker.
pub fn tier_prefix(visibility: Visibility, scope_id: &str) -> Result<String> {
    Ok(match visibility {
        Visibility::Legacy => "mem".to_owned(),
        Visibility::Mesh => "mem/mesh".to_owned(),
        Visibility::User | Visibility::Team => {
            validate_scope_slug(visibility, scope_id)?;
            format!("mem/{}/{scope_id}", visibility.as_str())
        }
    })
}

/// Build the key of an observation or tombstone. Every identity segment is
/// validated, so the result always parses back with [`parse_key`].
pub fn build_key(
    marker: Marker,
    visibility: Visibility,
    scope_id: &str,
    identity: KeyIdentity<'_>,
    observation_id: &str,
) -> Result<String> {
    let prefix = tier_prefix(visibility, scope_id)?;
    for (origin, value) in [
        ("agent_family", identity.agent_family),
        ("client_id", identity.client_id),
        ("pc_id", identity.pc_id),
        ("session_id", identity.session_id),
    ] {
        validate_key_segment(origin, value, "Identity values must be plain key segments.")?;
    }
    if !is_observation_id(observation_id) {
        return Err(CoreError::InvalidKeySegment {
            origin: "observation_id".to_owned(),
            value: observation_id.escape_debug().to_string(),
            problem: "it is not 32 lowercase hexadecimal characters".to_owned(),
            fix: "Observation ids are uuid4 hex strings.".to_owned(),
        });
    }
    Ok(format!(
        "{prefix}/{}/{}/{}/{}/{}/{observation_id}",
        marker.as_str(),
        identity.agent_family,
        identity.client_id,
        identity.pc_id,
        identity.session_id
    ))
}

/// Swap the marker of a canonical key (obs to tomb or back). The key is
/// rebuilt from its parsed parts, so a scope id spelled `obs` is left alone.
pub fn mirror_key(key: &str, to: Marker) -> Option<String> {
    let p = parse_key(key)?;
    let prefix = match &p.tier {
        Tier::Legacy => "mem".to_owned(),
        Tier::Mesh => "mem/mesh".to_owned(),
        Tier::User(id) => format!("mem/user/{id}"),
        Tier::Team(id) => format!("mem/team/{id}"),
    };
    Some(format!(
        "{prefix}/{}/{}/{}/{}/{}/{}",
        to.as_str(),
        p.agent_family,
        p.client_id,
        p.pc_id,
        p.session_id,
        p.observation_id
    ))
}

/// Selector for one observation id across every tier.
pub fn find_by_id_selector(observation_id: &str) -> String {
    format!("mem/**/{OBS_MARKER}/**/{observation_id}")
}

/// Selector for one id's tombstones across every tier.
pub fn tomb_by_id_selector(observation_id: &str) -> String {
    format!("mem/**/{TOMB_MARKER}/**/{observation_id}")
}

/// The tier a parsed key lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tier {
    /// `mem/{obs|tomb}/...`
    Legacy,
    /// `mem/mesh/...`
    Mesh,
    /// `mem/user/<id>/...`
    User(String),
    /// `mem/team/<id>/...`
    Team(String),
}

impl Tier {
    /// The matching visibility.
    pub fn visibility(&self) -> Visibility {
        match self {
            Self::Legacy => Visibility::Legacy,
            Self::Mesh => Visibility::Mesh,
            Self::User(_) => Visibility::User,
            Self::Team(_) => Visibility::Team,
        }
    }

    /// The scope id (empty for legacy and mesh).
    pub fn scope_id(&self) -> &str {
        match self {
            Self::User(id) | Self::Team(id) => id,
            Self::Legacy | Self::Mesh => "",
        }
    }
}

/// A key that has the canonical shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// Tier and scope.
    pub tier: Tier,
    /// obs or tomb.
    pub marker: Marker,
    /// Identity segments.
    pub agent_family: String,
    /// Identity segments.
    pub client_id: String,
    /// Identity segments.
    pub pc_id: String,
    /// Identity segments.
    pub session_id: String,
    /// The 32-hex id in the last segment.
    pub observation_id: String,
}

/// Parse a key of exactly one of the canonical shapes, else `None`.
///
/// The marker must sit at its tier's position, exactly four non-empty
/// identity segments must follow, and the last segment must be a 32-hex id.
pub fn parse_key(key: &str) -> Option<ParsedKey> {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.first() != Some(&"mem") || parts.len() < 3 {
        return None;
    }
    let (tier, marker_idx) = match parts[1] {
        OBS_MARKER | TOMB_MARKER => (Tier::Legacy, 1),
        "mesh" => (Tier::Mesh, 2),
        "user" | "team" => {
            let scope = parts[2];
            if !is_scope_slug(scope) {
                return None;
            }
            let tier = if parts[1] == "user" {
                Tier::User(scope.to_owned())
            } else {
                Tier::Team(scope.to_owned())
            };
            (tier, 3)
        }
        _ => return None,
    };
    if parts.len() != marker_idx + 6 {
        return None;
    }
    let marker = Marker::parse(parts[marker_idx])?;
    let ident = &parts[marker_idx + 1..marker_idx + 5];
    if ident.iter().any(|s| key_segment_problem(s).is_some()) {
        return None;
    }
    let id = parts[marker_idx + 5];
    if !is_observation_id(id) {
        return None;
    }
    Some(ParsedKey {
        tier,
        marker,
        agent_family: ident[0].to_owned(),
        client_id: ident[1].to_owned(),
        pc_id: ident[2].to_owned(),
        session_id: ident[3].to_owned(),
        observation_id: id.to_owned(),
    })
}

/// True for keys in the pre-tier layout `mem/{obs|tomb}/...`.
pub fn is_legacy_key(key: &str) -> bool {
    let mut parts = key.split('/');
    parts.next() == Some("mem") && matches!(parts.next(), Some(OBS_MARKER | TOMB_MARKER))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "f597bcfe09de41d3a9e048f63a37942a";
    const WHO: KeyIdentity<'static> = KeyIdentity {
        agent_family: "claude",
        client_id: "alice@mbp",
        pc_id: "fceb8fdac7294bf1a986de3608142308",
        session_id: "20261123T162414Z-43c46b9d",
    };

    #[test]
    fn builds_every_tier() {
        let k = build_key(Marker::Obs, Visibility::Mesh, "", WHO, ID).unwrap();
        assert_eq!(
            k,
            "mem/mesh/obs/claude/alice@mbp/fceb8fdac7294bf1a986de3608142308/20261123T162414Z-43c46b9d/f597bcfe09de41d3a9e048f63a37942a"
        );
        let k = build_key(Marker::Tomb, Visibility::User, "hwata", WHO, ID).unwrap();
        assert!(k.starts_with("mem/user/hwata/tomb/claude/"));
        let k = build_key(Marker::Obs, Visibility::Team, "core.team-1", WHO, ID).unwrap();
        assert!(k.starts_with("mem/team/core.team-1/obs/"));
        let k = build_key(Marker::Obs, Visibility::Legacy, "", WHO, ID).unwrap();
        assert!(k.starts_with("mem/obs/claude/"));
    }

    #[test]
    fn every_built_key_parses_back() {
        for (vis, scope) in [
            (Visibility::Mesh, ""),
            (Visibility::User, "u1"),
            (Visibility::Team, "t-2"),
            (Visibility::Legacy, ""),
        ] {
            for marker in [Marker::Obs, Marker::Tomb] {
                let k = build_key(marker, vis, scope, WHO, ID).unwrap();
                let p = parse_key(&k).unwrap();
                assert_eq!(p.marker, marker);
                assert_eq!(p.tier.visibility(), vis);
                assert_eq!(p.tier.scope_id(), scope);
                assert_eq!(p.observation_id, ID);
                assert_eq!(p.client_id, "alice@mbp");
            }
        }
    }

    #[test]
    fn injection_characters_are_refused_in_every_segment() {
        for bad in ["a/b", "a*", "**", "$x", "a#b", "what?", "", "tab\there"] {
            let who = KeyIdentity {
                client_id: bad,
                ..WHO
            };
            let err = build_key(Marker::Obs, Visibility::Mesh, "", who, ID).unwrap_err();
            assert!(err.to_string().contains("client_id"), "{bad}: {err}");
            for vis in [Visibility::User, Visibility::Team] {
                let err = build_key(Marker::Obs, vis, bad, WHO, ID).unwrap_err();
                assert!(err.to_string().contains("scope_id"), "{bad}: {err}");
            }
        }
    }

    #[test]
    fn scope_slugs_follow_the_reference_pattern() {
        assert!(is_scope_slug("a"));
        assert!(is_scope_slug("A1._-"));
        assert!(is_scope_slug(&"a".repeat(64)));
        assert!(!is_scope_slug(&"a".repeat(65)));
        assert!(!is_scope_slug("-a"));
        assert!(!is_scope_slug(".a"));
        assert!(!is_scope_slug("a b"));
        assert!(!is_scope_slug("日本"));
    }

    #[test]
    fn parser_rejects_off_shape_keys() {
        let good = build_key(Marker::Obs, Visibility::Mesh, "", WHO, ID).unwrap();
        assert!(parse_key(&good).is_some());
        let bad = [
            "mem/mesh/obs/claude/alice/pc/sess".to_owned(),
            format!("mem/mesh/obs/claude/alice/pc/sess/extra/{ID}"),
            format!("mem/mesh/obs/claude/alice/pc/{ID}"),
            format!("mem/mesh/other/claude/alice/pc/sess/{ID}"),
            format!("mem/mesh/obs/claude/alice/pc/sess/{}", ID.to_uppercase()),
            format!("mem/mesh/obs/claude/alice/pc/sess/{}", &ID[..31]),
            format!("mem/user//obs/claude/alice/pc/sess/{ID}"),
            format!("mem/galaxy/obs/claude/alice/pc/sess/{ID}"),
            format!("mem/mesh/obs/claude//pc/sess/{ID}"),
            format!("msg/mesh/obs/claude/alice/pc/sess/{ID}"),
            format!("mem/team/t/tomb/a/b/c/d/e/{ID}"),
        ];
        for k in bad {
            assert!(parse_key(&k).is_none(), "{k}");
        }
    }

    #[test]
    fn mirror_swaps_only_the_marker() {
        let k = build_key(Marker::Obs, Visibility::User, "obs", WHO, ID).unwrap();
        let t = mirror_key(&k, Marker::Tomb).unwrap();
        assert_eq!(
            t,
            build_key(Marker::Tomb, Visibility::User, "obs", WHO, ID).unwrap()
        );
        assert_eq!(mirror_key(&t, Marker::Obs).unwrap(), k);
    }

    #[test]
    fn legacy_keys_are_recognised() {
        assert!(is_legacy_key(&format!("mem/obs/a/b/c/d/{ID}")));
        assert!(is_legacy_key("mem/tomb/x"));
        assert!(!is_legacy_key("mem/mesh/obs/a"));
    }

    #[test]
    fn write_visibility_parsing() {
        assert_eq!(Visibility::for_write("team").unwrap(), Visibility::Team);
        assert!(Visibility::for_write("").is_err());
        assert!(Visibility::for_write("galaxy").is_err());
        assert_eq!(Visibility::from_wire("galaxy"), Visibility::Legacy);
    }
}
