//! Suggesting which live entries a new decision or config entry replaces.
//!
//! Observations are immutable; an update is a new observation that lists
//! the old ids in `supersedes`. Callers often forget, leaving stale and
//! current entries both live, so a save suggests candidates: live entries
//! of the same project, type (decision or config only), normalised subject
//! and scope. Nothing is superseded automatically.

use mesh_core::{MemoryType, Observation};

/// Types whose new entries revise old ones.
pub const SUPERSEDE_TYPES: [MemoryType; 2] = [MemoryType::Decision, MemoryType::Config];

/// Most candidates suggested.
pub const CANDIDATE_LIMIT: usize = 5;

/// Case-folded subject with whitespace runs collapsed.
pub fn normalize_subject(subject: &str) -> String {
    subject
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `obs` is of a type and shape that can have candidates.
pub fn wants_candidates(obs: &Observation) -> bool {
    SUPERSEDE_TYPES.contains(&obs.memory_type) && !normalize_subject(&obs.subject).is_empty()
}

/// Filter `pool` (live entries of the same project and type, newest first)
/// down to the candidates `obs` plausibly supersedes.
pub fn candidates_from(obs: &Observation, pool: Vec<Observation>) -> Vec<Observation> {
    let key = normalize_subject(&obs.subject);
    if !wants_candidates(obs) {
        return Vec::new();
    }
    pool.into_iter()
        .filter(|c| {
            c.observation_id != obs.observation_id
                && c.project == obs.project
                && c.memory_type == obs.memory_type
                && normalize_subject(&c.subject) == key
                && c.visibility == obs.visibility
                && c.scope_id == obs.scope_id
        })
        .take(CANDIDATE_LIMIT)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(id: char, subject: &str, t: MemoryType) -> Observation {
        Observation::from_json(&format!(
            r#"{{"content": "c", "observation_id": "{}", "subject": "{subject}", "memory_type": "{}", "visibility": "mesh"}}"#,
            id.to_string().repeat(32),
            t.as_str()
        ))
        .unwrap()
    }

    #[test]
    fn same_normalised_subject_type_and_scope_only() {
        let new = obs('a', "FTS  Tokenizer", MemoryType::Decision);
        let pool = vec![
            obs('a', "fts tokenizer", MemoryType::Decision),
            obs('b', "fts tokenizer", MemoryType::Decision),
            obs('c', "fts tokenizers", MemoryType::Decision),
            obs('d', "fts tokenizer", MemoryType::Config),
        ];
        let got: Vec<String> = candidates_from(&new, pool)
            .into_iter()
            .map(|o| o.observation_id)
            .collect();
        assert_eq!(got, vec!["b".repeat(32)]);
    }

    #[test]
    fn notes_and_empty_subjects_have_no_candidates() {
        assert!(!wants_candidates(&obs('a', "x", MemoryType::Note)));
        assert!(!wants_candidates(&obs('a', "  ", MemoryType::Decision)));
    }
}
