//! Project aliases: one logical project stored under several names.
//!
//! A rename leaves old observations under the old `project` value. Read
//! paths (MCP `search_memory`, `recall_context`) expand a project filter to
//! every equivalent name, in both directions; writes are never rewritten.
//! The product's own rename (`mesh-mem` to `kioku-mesh`) is built in, and
//! `project_aliases:` in config.yaml adds more (`old-name: new-name`).

/// Aliases every installation knows: legacy name to canonical name.
pub const BUILT_IN: [(&str, &str); 1] = [("mesh-mem", "kioku-mesh")];

/// The canonical name of `project` under `aliases` (one hop).
pub fn canonical<'a>(project: &'a str, aliases: &'a [(String, String)]) -> &'a str {
    BUILT_IN
        .iter()
        .map(|(a, b)| (*a, *b))
        .chain(aliases.iter().map(|(a, b)| (a.as_str(), b.as_str())))
        .find(|(legacy, _)| *legacy == project)
        .map_or(project, |(_, canonical)| canonical)
}

/// Every stored name equivalent to `project`: the canonical name first, then
/// its legacy names sorted. Empty for an empty filter.
pub fn expand(project: &str, aliases: &[(String, String)]) -> Vec<String> {
    if project.is_empty() {
        return Vec::new();
    }
    let canonical = canonical(project, aliases);
    let mut legacy: Vec<String> = BUILT_IN
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .chain(aliases.iter().cloned())
        .filter(|(old, new)| new == canonical && old != canonical)
        .map(|(old, _)| old)
        .collect();
    legacy.sort();
    legacy.dedup();
    let mut out = vec![canonical.to_owned()];
    out.extend(legacy);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_both_directions() {
        let aliases = vec![
            ("old-app".to_owned(), "app".to_owned()),
            ("older-app".to_owned(), "app".to_owned()),
        ];
        assert_eq!(expand("app", &aliases), vec!["app", "old-app", "older-app"]);
        assert_eq!(
            expand("old-app", &aliases),
            vec!["app", "old-app", "older-app"]
        );
        assert_eq!(expand("kioku-mesh", &[]), vec!["kioku-mesh", "mesh-mem"]);
        assert_eq!(expand("mesh-mem", &[]), vec!["kioku-mesh", "mesh-mem"]);
        assert_eq!(expand("solo", &aliases), vec!["solo"]);
        assert!(expand("", &aliases).is_empty());
    }
}
