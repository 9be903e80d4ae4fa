//! The file-based registrations: the `[mcp_servers.<name>]` table of
//! Codex's `config.toml`, and the `mcpServers.<name>` entry of Gemini CLI's
//! and Claude Desktop's JSON (comments allowed). Both are edited in place:
//! other tables, servers, keys and comments stay as they were.

use std::path::Path;

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstRootNode};

use super::mcp_clients::{InstallPlan, Outcome};
use super::{Result, SetupError, parse_client_json, read_optional, write_config};

/// The TOML text of the Codex registration.
pub fn codex_table(plan: &InstallPlan) -> toml_edit::Table {
    let mut table = toml_edit::Table::new();
    table.decor_mut().set_prefix(format!(
        "\n# Added by `kioku-mesh mcp install --client {}`. Re-run with --force to update.\n",
        plan.client
    ));
    table["command"] = toml_edit::value(plan.command.display().to_string());
    let mut env = toml_edit::Table::new();
    for (k, v) in &plan.env {
        env[k.as_str()] = toml_edit::value(v.as_str());
    }
    table["env"] = toml_edit::Item::Table(env);
    table
}

/// Write the Codex registration into `path` (see the module doc).
pub fn install_codex(
    plan: &InstallPlan,
    path: &Path,
    force: bool,
    dry_run: bool,
) -> Result<Outcome> {
    let existing = read_optional(path)?;
    let mut doc = super::codex_trust::parse_toml(path, existing.as_deref())?;
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| SetupError::ClientConfigShape {
            path: path.to_path_buf(),
            problem: "mcp_servers is not a table".into(),
        })?;
    let key = format!("mcp_servers.{}", plan.name);
    if servers.contains_key(&plan.name) && !force && !dry_run {
        return Ok(Outcome::AlreadyRegistered {
            key,
            location: path.display().to_string(),
        });
    }
    servers.remove(&plan.name);
    servers.insert(&plan.name, toml_edit::Item::Table(codex_table(plan)));
    if dry_run {
        let mut only = toml_edit::DocumentMut::new();
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        t.insert(&plan.name, toml_edit::Item::Table(codex_table(plan)));
        only.insert("mcp_servers", toml_edit::Item::Table(t));
        return Ok(Outcome::DryRun(format!(
            "# would write to {}\n{}",
            path.display(),
            only.to_string().trim_start()
        )));
    }
    let backup = write_config(path, &doc.to_string(), existing.is_some())?;
    Ok(Outcome::Written {
        key,
        path: path.to_path_buf(),
        backup,
    })
}

fn json_entry(plan: &InstallPlan) -> CstInputValue {
    CstInputValue::Object(vec![
        (
            "command".into(),
            CstInputValue::String(plan.command.display().to_string()),
        ),
        ("args".into(), CstInputValue::Array(Vec::new())),
        (
            "env".into(),
            CstInputValue::Object(
                plan.env
                    .iter()
                    .map(|(k, v)| (k.clone(), CstInputValue::String(v.clone())))
                    .collect(),
            ),
        ),
    ])
}

/// Write a Gemini CLI or Claude Desktop registration into `path`.
pub fn install_json(
    plan: &InstallPlan,
    path: &Path,
    force: bool,
    dry_run: bool,
) -> Result<Outcome> {
    let (existing, root) = parse_client_json(path)?;
    let shape = |problem: &str| SetupError::ClientConfigShape {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    };
    let top = root
        .object_value_or_create()
        .ok_or_else(|| shape("the top level is not a JSON object"))?;
    let servers = top
        .object_value_or_create("mcpServers")
        .ok_or_else(|| shape("mcpServers is not an object"))?;
    let key = format!("mcpServers.{}", plan.name);
    if let Some(prop) = servers.get(&plan.name) {
        if !force && !dry_run {
            return Ok(Outcome::AlreadyRegistered {
                key,
                location: path.display().to_string(),
            });
        }
        prop.remove();
    }
    servers.append(&plan.name, json_entry(plan));
    if dry_run {
        let only = CstRootNode::parse("{}", &ParseOptions::default())
            .map_err(|e| shape(&e.to_string()))?;
        let obj = only.object_value_or_set();
        obj.append(
            "mcpServers",
            CstInputValue::Object(vec![(plan.name.clone(), json_entry(plan))]),
        );
        return Ok(Outcome::DryRun(format!(
            "# would write to {}\n{only}",
            path.display()
        )));
    }
    let mut out = root.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let backup = write_config(path, &out, existing.is_some())?;
    Ok(Outcome::Written {
        key,
        path: path.to_path_buf(),
        backup,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::setup::mcp_clients::McpClient;
    use crate::setup::mcp_clients::tests::plan_for;

    #[test]
    fn codex_edit_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let before =
            "# my settings\nmodel = \"o3\"  # keep\n\n[mcp_servers.other]\ncommand = \"other\"\n";
        fs::write(&path, before).unwrap();
        let p = plan_for(McpClient::CodexCli);
        let out = install_codex(&p, &path, false, false).unwrap();
        assert!(matches!(
            out,
            Outcome::Written {
                backup: Some(_),
                ..
            }
        ));
        let after = fs::read_to_string(&path).unwrap();
        assert!(after.starts_with(before), "{after}");
        let doc: toml_edit::DocumentMut = after.parse().unwrap();
        assert_eq!(
            doc["mcp_servers"]["kioku_mesh"]["command"].as_str(),
            Some("/opt/km/bin/kioku-mesh-mcp")
        );
        assert_eq!(
            doc["mcp_servers"]["kioku_mesh"]["env"]["EXTRA"].as_str(),
            Some("1")
        );
        assert!(matches!(
            install_codex(&p, &path, false, false).unwrap(),
            Outcome::AlreadyRegistered { .. }
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), after);
    }

    #[test]
    fn json_edit_keeps_other_servers_keys_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let before = "{\n  // theme chosen by hand\n  \"theme\": \"dark\",\n  \"mcpServers\": {\n    \"other\": { \"command\": \"x\" }\n  }\n}\n";
        fs::write(&path, before).unwrap();
        let p = plan_for(McpClient::GeminiCli);
        install_json(&p, &path, false, false).unwrap();
        let after = fs::read_to_string(&path).unwrap();
        assert!(after.contains("// theme chosen by hand"), "{after}");
        assert!(
            after.contains("\"other\": { \"command\": \"x\" }"),
            "{after}"
        );
        let parsed = CstRootNode::parse(&after, &ParseOptions::default())
            .unwrap()
            .to_serde_value()
            .unwrap();
        assert_eq!(
            parsed["mcpServers"]["kioku_mesh"]["command"],
            "/opt/km/bin/kioku-mesh-mcp"
        );
        assert_eq!(parsed["theme"], "dark");
    }

    #[test]
    fn malformed_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("config.toml");
        fs::write(&toml, "[broken\n").unwrap();
        assert!(install_codex(&plan_for(McpClient::CodexCli), &toml, true, false).is_err());
        assert_eq!(fs::read_to_string(&toml).unwrap(), "[broken\n");
        let json = dir.path().join("settings.json");
        fs::write(&json, "{ \"mcpServers\": [1, 2] }").unwrap();
        let err = install_json(&plan_for(McpClient::GeminiCli), &json, true, false).unwrap_err();
        assert!(
            err.to_string().contains("mcpServers is not an object"),
            "{err}"
        );
        fs::write(&json, "{ oops").unwrap();
        assert!(install_json(&plan_for(McpClient::GeminiCli), &json, true, false).is_err());
        assert_eq!(fs::read_to_string(&json).unwrap(), "{ oops");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no backups or temporaries left"
        );
    }
}
