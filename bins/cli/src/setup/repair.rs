//! `kioku-mesh mcp install --repair`: rename the retired `MESH_MEM_*`
//! identity keys of an existing registration to `KIOKU_MESH_*`, in place.
//!
//! Only `MESH_MEM_AGENT_FAMILY` and `MESH_MEM_CLIENT_ID` are renamed, and
//! only when the current key is absent. The edit replaces the key tokens in
//! the file's text and copies every other byte through (values, comments,
//! quoting, other tables and servers), then re-parses the result and checks
//! that it is the intended document before anything is written.
//!
//! - Codex CLI: `mcp_servers.<name>.env` in `config.toml`.
//! - Claude Code: its own JSON, where a registration may sit in three scopes:
//!   `local` (`projects["<cwd>"].mcpServers` of `.claude.json`), `user`
//!   (`mcpServers` of `.claude.json`) and `project` (`<cwd>/.mcp.json`). A
//!   name found in more than one is refused rather than guessed at.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use mesh_core::Environment;
use serde_json::Value as Json;

use super::mcp_clients::{McpClient, config_path};
use super::{Result, SetupError, backup};

const LEGACY_PREFIX: &str = "MESH_MEM_";
const CURRENT_PREFIX: &str = "KIOKU_MESH_";
const IDENTITY_SUFFIXES: [&str; 2] = ["AGENT_FAMILY", "CLIENT_ID"];

/// What `--repair` found or did. Each carries the line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The legacy keys were renamed (legacy, current) and the file written.
    Renamed {
        /// The summary line.
        message: String,
        /// Each rename, in file order of the suffix list.
        renames: Vec<(String, String)>,
    },
    /// The entry already uses the current keys; nothing was written.
    Current(String),
    /// No such registration (or no file); the message starts with `error:`.
    Missing(String),
}

/// Repair the registration `name` of `client`.
pub fn repair(client: McpClient, name: &str, env: &Environment) -> Result<Repair> {
    match client {
        McpClient::CodexCli => repair_codex(name, &config_path(client, env)?),
        McpClient::ClaudeCode => repair_claude(name, &config_path(client, env)?, env.cwd()),
        McpClient::GeminiCli | McpClient::ClaudeDesktop => {
            Err(SetupError::RepairUnsupported(client.as_str().to_owned()))
        }
    }
}

/// The renames for an env map that has the keys `has` says it has.
fn identity_renames(has: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    IDENTITY_SUFFIXES
        .iter()
        .map(|s| {
            (
                format!("{LEGACY_PREFIX}{s}"),
                format!("{CURRENT_PREFIX}{s}"),
            )
        })
        .filter(|(legacy, current)| has(legacy) && !has(current))
        .collect()
}

/// Apply text replacements at non-overlapping byte ranges.
fn apply_edits(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut out = text.to_owned();
    for (range, token) in edits {
        out.replace_range(range, &token);
    }
    out
}

/// Rename `legacy` to `current` inside a map, keeping its position.
fn rename_in_place(map: &mut serde_json::Map<String, Json>, renames: &[(String, String)]) {
    let old = std::mem::take(map);
    for (k, v) in old {
        let k = renames
            .iter()
            .find(|(legacy, _)| *legacy == k)
            .map_or(k, |(_, current)| current.clone());
        map.insert(k, v);
    }
}

fn refused(message: String) -> SetupError {
    SetupError::RepairRefused(message)
}

fn unsupported_layout(path: &Path, what: &str) -> SetupError {
    refused(format!(
        "refusing to write {}: {what}; unsupported layout for --repair (edit the config by hand). \
         Nothing was changed",
        path.display()
    ))
}

// --- Codex CLI ---------------------------------------------------------------

fn repair_codex(name: &str, path: &Path) -> Result<Repair> {
    if !path.is_file() {
        return Ok(Repair::Missing(format!(
            "error: {} does not exist. Nothing to repair — run `kioku-mesh mcp install --client codex-cli` first.",
            path.display()
        )));
    }
    let missing = || {
        Repair::Missing(format!(
            "error: mcp_servers.{name} not found in {}. Run `kioku-mesh mcp install --client codex-cli` first.",
            path.display()
        ))
    };
    let text = fs::read_to_string(path).map_err(|source| SetupError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = |e: toml_edit::TomlError| SetupError::MalformedClientConfig {
        path: path.to_path_buf(),
        format: "TOML",
        message: e.to_string().trim().to_owned(),
    };
    let shape = |problem: String| SetupError::ClientConfigShape {
        path: path.to_path_buf(),
        problem,
    };
    // A parsed (not editable) document keeps each key's byte span.
    let doc = toml_edit::Document::parse(text.as_str()).map_err(malformed)?;
    let Some(servers) = doc.get("mcp_servers") else {
        return Ok(missing());
    };
    let servers = servers
        .as_table_like()
        .ok_or_else(|| shape("mcp_servers is not a table".into()))?;
    let Some(entry) = servers.get(name) else {
        return Ok(missing());
    };
    let entry = entry
        .as_table_like()
        .ok_or_else(|| shape(format!("mcp_servers.{name} is not a table")))?;
    let env = match entry.get("env") {
        None => None,
        Some(item) => Some(
            item.as_table_like()
                .ok_or_else(|| shape(format!("mcp_servers.{name}.env is not a table")))?,
        ),
    };
    let renames = identity_renames(|k| env.is_some_and(|e| e.contains_key(k)));
    let Some(env) = env.filter(|_| !renames.is_empty()) else {
        return Ok(Repair::Current(format!(
            "mcp_servers.{name} in {} already uses the current KIOKU_MESH_* prefix; nothing to repair.",
            path.display()
        )));
    };

    let mut edits = Vec::new();
    for (legacy, current) in &renames {
        let edit = env
            .key(legacy)
            .and_then(toml_edit::Key::span)
            .and_then(|span| {
                let token = text.get(span.clone())?;
                // The key as written: bare, "basic" or 'literal'.
                [("", ""), ("\"", "\""), ("'", "'")]
                    .iter()
                    .find(|(open, close)| *token == format!("{open}{legacy}{close}"))
                    .map(|(open, close)| (span, format!("{open}{current}{close}")))
            })
            .ok_or_else(|| {
                unsupported_layout(
                    path,
                    &format!("cannot locate the {legacy} key of mcp_servers.{name}.env"),
                )
            })?;
        edits.push(edit);
    }
    let repaired = apply_edits(&text, edits);
    check_codex(&text, &repaired, name, &renames, path)?;
    mesh_core::config::write_atomically(path, repaired.as_bytes())?;
    Ok(Repair::Renamed {
        message: format!(
            "repaired identity env for mcp_servers.{name} in {}",
            path.display()
        ),
        renames,
    })
}

/// The repaired text must parse and differ from the original only by the
/// renamed keys.
fn check_codex(
    before: &str,
    after: &str,
    name: &str,
    renames: &[(String, String)],
    path: &Path,
) -> Result<()> {
    let parse = |text: &str| text.parse::<toml_edit::DocumentMut>();
    let after = parse(after).map_err(|e| {
        refused(format!(
            "refusing to write {}: repaired content is not valid TOML: {}",
            path.display(),
            e.to_string().trim()
        ))
    })?;
    let before = parse(before).map_err(|e| unsupported_layout(path, &e.to_string()))?;
    let mut expected = toml_shape(before.as_item());
    let env = ["mcp_servers", name, "env"]
        .iter()
        .try_fold(&mut expected, |node, key| node.get_mut(*key))
        .and_then(Json::as_object_mut)
        .ok_or_else(|| unsupported_layout(path, "the env table moved"))?;
    rename_in_place(env, renames);
    if toml_shape(after.as_item()) == expected {
        Ok(())
    } else {
        Err(refused(format!(
            "refusing to write {}: repaired content does not match the intended mcp_servers.{name} \
             entry (unsupported layout for --repair).",
            path.display()
        )))
    }
}

/// A TOML document as plain data: tables as maps, scalars as their text
/// without surrounding whitespace or comments.
fn toml_shape(item: &toml_edit::Item) -> Json {
    match item {
        toml_edit::Item::None => Json::Null,
        toml_edit::Item::Value(v) => toml_value_shape(v),
        toml_edit::Item::Table(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), toml_shape(v)))
                .collect(),
        ),
        toml_edit::Item::ArrayOfTables(a) => Json::Array(
            a.iter()
                .map(|t| {
                    Json::Object(
                        t.iter()
                            .map(|(k, v)| (k.to_owned(), toml_shape(v)))
                            .collect(),
                    )
                })
                .collect(),
        ),
    }
}

fn toml_value_shape(value: &toml_edit::Value) -> Json {
    match value {
        toml_edit::Value::InlineTable(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), toml_value_shape(v)))
                .collect(),
        ),
        toml_edit::Value::Array(a) => Json::Array(a.iter().map(toml_value_shape).collect()),
        scalar => {
            let mut bare = scalar.clone();
            bare.decor_mut().clear();
            Json::String(bare.to_string())
        }
    }
}

// --- Claude Code -------------------------------------------------------------

/// One scope's registration of the name.
struct Location {
    scope: &'static str,
    path: PathBuf,
    container: Vec<String>,
    text: String,
    doc: Json,
}

impl Location {
    fn describe(&self) -> String {
        format!(
            "{} scope ({}, {})",
            self.scope,
            self.path.display(),
            self.container.join(".")
        )
    }
}

/// `path` as a strict JSON object, or `None` when it is not a file.
fn load_json(path: &Path) -> Result<Option<(String, Json)>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(path).map_err(|source| SetupError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    let doc: Json = serde_json::from_str(&text).map_err(|e| SetupError::MalformedClientConfig {
        path: path.to_path_buf(),
        format: "JSON",
        message: e.to_string(),
    })?;
    if !doc.is_object() {
        return Err(SetupError::ClientConfigShape {
            path: path.to_path_buf(),
            problem: "expected a JSON object at the top level".into(),
        });
    }
    Ok(Some((text, doc)))
}

fn dig<'a>(doc: &'a Json, container: &[String]) -> Option<&'a serde_json::Map<String, Json>> {
    container
        .iter()
        .try_fold(doc, |node, key| node.as_object()?.get(key))?
        .as_object()
}

fn find_claude_entries(name: &str, config: &Path, cwd: &Path) -> Result<Vec<Location>> {
    let mut found = Vec::new();
    let cwd_key = cwd.display().to_string();
    let mut look = |scope, path: &Path, container: Vec<String>, text: &str, doc: &Json| {
        if dig(doc, &container).is_some_and(|servers| servers.contains_key(name)) {
            found.push(Location {
                scope,
                path: path.to_path_buf(),
                container,
                text: text.to_owned(),
                doc: doc.clone(),
            });
        }
    };
    if let Some((text, doc)) = load_json(config)? {
        let local = vec!["projects".into(), cwd_key, "mcpServers".into()];
        look("local", config, local, &text, &doc);
        look("user", config, vec!["mcpServers".into()], &text, &doc);
    }
    let project = cwd.join(".mcp.json");
    if let Some((text, doc)) = load_json(&project)? {
        look("project", &project, vec!["mcpServers".into()], &text, &doc);
    }
    Ok(found)
}

fn json_type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "NoneType",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float",
        Json::Number(_) => "int",
        Json::String(_) => "str",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

fn repair_claude(name: &str, config: &Path, cwd: &Path) -> Result<Repair> {
    let mut locations = find_claude_entries(name, config, cwd)?;
    if locations.len() > 1 {
        let listed: Vec<String> = locations
            .iter()
            .map(|l| format!("  - {}", l.describe()))
            .collect();
        return Err(refused(format!(
            "refusing to repair '{name}': it is registered in {} scopes and --repair will not guess \
             which one you meant:\n{}\nNothing was changed. Remove the registrations you do not want \
             (`claude mcp remove {name} -s <scope>`) so exactly one is left, then re-run --repair; or \
             rename the MESH_MEM_* identity keys by hand in the file(s) above.",
            locations.len(),
            listed.join("\n")
        )));
    }
    let Some(location) = locations.pop() else {
        return Ok(Repair::Missing(format!(
            "error: '{name}' is not registered in {} (user or local scope) or {} (project scope). \
             Run `kioku-mesh mcp install --client claude-code` first.",
            config.display(),
            cwd.join(".mcp.json").display()
        )));
    };
    let path = &location.path;
    let entry = dig(&location.doc, &location.container)
        .and_then(|servers| servers.get(name))
        .cloned()
        .unwrap_or_default();
    let Json::Object(mut entry) = entry else {
        return Err(refused(format!(
            "refusing to repair '{name}' in {}: expected a JSON object for the entry, got {}.",
            path.display(),
            json_type_name(&entry)
        )));
    };
    let env = match entry.get("env") {
        None | Some(Json::Null) => serde_json::Map::new(),
        Some(Json::Object(env)) if env.values().all(Json::is_string) => env.clone(),
        Some(_) => {
            return Err(refused(format!(
                "refusing to repair '{name}' in {}: its \"env\" is not a mapping of strings.",
                path.display()
            )));
        }
    };
    let renames = identity_renames(|k| env.contains_key(k));
    if renames.is_empty() {
        return Ok(Repair::Current(format!(
            "'{name}' in {} ({} scope) already uses the current KIOKU_MESH_* prefix; nothing to repair.",
            path.display(),
            location.scope
        )));
    }

    let mut env_path = location.container.clone();
    env_path.extend([name.to_owned(), "env".to_owned()]);
    let edits = super::json_tokens::key_edits(&location.text, &env_path, &renames)
        .map_err(|what| unsupported_layout(path, &what))?;
    let repaired = apply_edits(&location.text, edits);

    let mut env = env;
    rename_in_place(&mut env, &renames);
    entry.insert("env".into(), Json::Object(env));
    let mut expected = location.doc.clone();
    let slot = location
        .container
        .iter()
        .chain(std::iter::once(&name.to_owned()))
        .try_fold(&mut expected, |node, key| node.get_mut(key.as_str()))
        .ok_or_else(|| unsupported_layout(path, "the entry moved"))?;
    *slot = Json::Object(entry);
    match serde_json::from_str::<Json>(&repaired) {
        Ok(doc) if doc == expected => {}
        _ => {
            return Err(refused(format!(
                "refusing to write {}: the repaired content does not match the intended document. \
                 Nothing was changed",
                path.display()
            )));
        }
    }

    let kept = write_repaired(path, &location.text, &repaired)?;
    Ok(Repair::Renamed {
        message: format!(
            "repaired identity env for '{name}' in {} ({} scope); previous file kept at {}",
            path.display(),
            location.scope,
            kept.display()
        ),
        renames,
    })
}

/// Replace the file behind `path` (following a symlink, so the link stays)
/// with `repaired`, after checking it still holds `original` and keeping a
/// timestamped copy, which is returned.
fn write_repaired(path: &Path, original: &str, repaired: &str) -> Result<PathBuf> {
    let io = |action, source| SetupError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let target = if path.is_symlink() {
        let real = fs::canonicalize(path).map_err(|e| io("cannot resolve", e))?;
        if !real.is_file() {
            return Err(refused(format!(
                "refusing to repair {}: it points at {}, which is not a regular file.",
                path.display(),
                real.display()
            )));
        }
        real
    } else {
        path.to_path_buf()
    };
    // Claude Code rewrites this file while it runs: never overwrite an edit
    // made since we read it.
    let now = fs::read_to_string(&target).map_err(|e| io("cannot read", e))?;
    if now != original {
        return Err(refused(format!(
            "refusing to repair {}: it changed after --repair read it (is Claude Code running?). \
             Nothing was written — re-run --repair.",
            path.display()
        )));
    }
    let kept = backup(&target)?;
    mesh_core::config::write_atomically(&target, repaired.as_bytes())?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_current_keys_are_renamed() {
        let has = |keys: &'static [&'static str]| move |k: &str| keys.contains(&k);
        assert_eq!(
            identity_renames(has(&[
                "MESH_MEM_AGENT_FAMILY",
                "MESH_MEM_CLIENT_ID",
                "OTHER"
            ])),
            vec![
                (
                    "MESH_MEM_AGENT_FAMILY".to_owned(),
                    "KIOKU_MESH_AGENT_FAMILY".to_owned()
                ),
                (
                    "MESH_MEM_CLIENT_ID".to_owned(),
                    "KIOKU_MESH_CLIENT_ID".to_owned()
                ),
            ]
        );
        assert!(identity_renames(has(&["MESH_MEM_CLIENT_ID", "KIOKU_MESH_CLIENT_ID"])).is_empty());
        assert!(identity_renames(has(&["MESH_MEM_USER_ID"])).is_empty());
    }

    #[test]
    fn codex_keys_are_renamed_in_every_layout_and_nothing_else_moves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for (before, after) in [
            (
                "# mine\n[mcp_servers.kioku_mesh]\ncommand = \"x\" # c\n\n[mcp_servers.kioku_mesh.env]\nMESH_MEM_CLIENT_ID = 'a' # keep\n\"MESH_MEM_AGENT_FAMILY\"=\"b\"\n",
                "# mine\n[mcp_servers.kioku_mesh]\ncommand = \"x\" # c\n\n[mcp_servers.kioku_mesh.env]\nKIOKU_MESH_CLIENT_ID = 'a' # keep\n\"KIOKU_MESH_AGENT_FAMILY\"=\"b\"\n",
            ),
            (
                "[mcp_servers.kioku_mesh]\nenv = { MESH_MEM_CLIENT_ID = \"a\", X = \"MESH_MEM_CLIENT_ID\" }\n",
                "[mcp_servers.kioku_mesh]\nenv = { KIOKU_MESH_CLIENT_ID = \"a\", X = \"MESH_MEM_CLIENT_ID\" }\n",
            ),
            (
                "[mcp_servers.kioku_mesh]\nenv.MESH_MEM_AGENT_FAMILY = \"codex\"\n",
                "[mcp_servers.kioku_mesh]\nenv.KIOKU_MESH_AGENT_FAMILY = \"codex\"\n",
            ),
        ] {
            fs::write(&path, before).unwrap();
            let out = repair_codex("kioku_mesh", &path).unwrap();
            assert!(matches!(out, Repair::Renamed { .. }), "{out:?}");
            assert_eq!(fs::read_to_string(&path).unwrap(), after);
            assert!(matches!(
                repair_codex("kioku_mesh", &path).unwrap(),
                Repair::Current(_)
            ));
        }
    }

    #[test]
    fn claude_scopes_are_found_and_two_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("proj");
        fs::create_dir_all(&cwd).unwrap();
        let config = dir.path().join(".claude.json");
        let local = format!(
            "{{\"projects\": {{\"{}\": {{\"mcpServers\": {{\"kioku_mesh\": {{\"env\": {{\"MESH_MEM_CLIENT_ID\": \"c\"}}}}}}}}}}}}",
            cwd.display()
        );
        fs::write(&config, &local).unwrap();
        let out = repair_claude("kioku_mesh", &config, &cwd).unwrap();
        let Repair::Renamed { message, .. } = out else {
            panic!("{out:?}")
        };
        assert!(message.contains("(local scope)"), "{message}");
        assert_eq!(
            fs::read_to_string(&config).unwrap(),
            local.replace("MESH_MEM_CLIENT_ID", "KIOKU_MESH_CLIENT_ID")
        );

        fs::write(
            cwd.join(".mcp.json"),
            "{\"mcpServers\": {\"kioku_mesh\": {}}}",
        )
        .unwrap();
        let err = repair_claude("kioku_mesh", &config, &cwd).unwrap_err();
        assert!(err.to_string().contains("registered in 2 scopes"), "{err}");
    }
}
