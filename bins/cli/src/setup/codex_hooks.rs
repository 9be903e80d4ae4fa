//! Codex CLI hooks that inject unread mail (`mcp install --client codex-cli
//! --with-hooks`): the entries Claude Code gets ([`super::hooks`]), written
//! into the `hooks.json` beside Codex's `config.toml` (`~/.codex`, or
//! `$CODEX_HOME`), and trusted in that `config.toml`. Codex runs a hook only
//! when `[hooks.state."<hooks.json>:<event>:<group>:<handler>"]` holds the
//! `trusted_hash` of the hook's definition ([`trust_hash`]).
//!
//! Both files are edited in place, like the MCP registration: other hooks,
//! keys, tables and comments kept, the previous file backed up, and a file
//! that does not parse (either one) refused with neither touched. An entry
//! of ours (a single handler running `…/kioku-mesh msg hook --event <flag>`)
//! is replaced where it stands, or appended when there is none, so running
//! the command again changes nothing; the trust keys name the positions the
//! entries end up at, after any hooks of others.

use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstInputValue, CstNode};
use mesh_core::Environment;
use serde_json::Value;

use super::codex_trust::{Trust, parse_toml, set_trust, trust_hash};
use super::hooks::{
    HOOKS, HookSpec, HooksOutcome, command, group, parse_hooks_object, shape_error,
};
use super::mcp_clients::{McpClient, config_path};
use super::{Result, read_optional, write_config};

/// The files Codex's hooks involve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodexHookFiles {
    /// `hooks.json`, where the hooks are defined.
    pub hooks: PathBuf,
    /// `config.toml`, where they are trusted.
    pub config: PathBuf,
    /// `hooks.json` as Codex names it in trust keys: absolute, and with
    /// `$CODEX_HOME` canonical (Codex canonicalizes that directory).
    pub key_path: String,
}

/// Codex's hook files: `hooks.json` beside the `config.toml` the MCP server
/// is registered in.
pub fn codex_hook_files(env: &Environment) -> Result<CodexHookFiles> {
    let config = config_path(McpClient::CodexCli, env)?;
    let hooks = config.with_file_name("hooks.json");
    let dir = hooks.parent().map(Path::to_path_buf).unwrap_or_default();
    let absolute = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    let key_dir = if env.var("CODEX_HOME").is_some() {
        std::fs::canonicalize(&dir).unwrap_or(absolute)
    } else {
        absolute
    };
    Ok(CodexHookFiles {
        key_path: key_dir.join("hooks.json").display().to_string(),
        hooks,
        config,
    })
}

/// What [`install_codex_hooks`] did to each file.
#[derive(Debug, PartialEq, Eq)]
pub struct CodexHooksOutcome {
    /// `hooks.json`; `added` names the events whose entry was added or
    /// replaced.
    pub hooks: HooksOutcome,
    /// `config.toml`; `added` names the events whose trust was added or
    /// renewed.
    pub trust: HooksOutcome,
}

impl CodexHooksOutcome {
    /// What `mcp install` prints for this outcome.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.hooks.lines();
        match &self.trust {
            HooksOutcome::DryRun(text) => lines.push(text.clone()),
            HooksOutcome::Present(path) => {
                lines.push(format!("hooks already trusted in {}", path.display()));
            }
            HooksOutcome::Written {
                path,
                added,
                backup,
            } => {
                lines.push(format!(
                    "trusted hooks {} in {}",
                    added.join(", "),
                    path.display()
                ));
                if let Some(b) = backup {
                    lines.push(format!("previous file kept as {}", b.display()));
                }
            }
        }
        lines
    }
}

/// The planned `hooks.json` edit.
struct HooksEdit {
    /// The file's text before, `None` when there was no file.
    existing: Option<String>,
    /// The new text, `None` when nothing changes.
    text: Option<String>,
    /// Events whose entry was added or replaced.
    changed: Vec<&'static str>,
    /// The trust each entry needs at the position it ends up at.
    trust: Vec<Trust>,
}

/// The serde form of an entry, to compare with what a file holds.
fn to_value(input: &CstInputValue) -> Value {
    match input {
        CstInputValue::Null => Value::Null,
        CstInputValue::Bool(b) => Value::Bool(*b),
        CstInputValue::Number(n) => n
            .parse::<serde_json::Number>()
            .map_or(Value::Null, Value::Number),
        CstInputValue::String(s) => Value::String(s.clone()),
        CstInputValue::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        CstInputValue::Object(props) => Value::Object(
            props
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect(),
        ),
    }
}

/// True when `group` is an entry of ours for `spec`: one handler whose
/// command is `…/kioku-mesh msg hook --event <flag>` (any path).
fn is_ours(group: &Value, spec: &HookSpec) -> bool {
    let Some([handler]) = group
        .get("hooks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return false;
    };
    let suffix = format!(" msg hook --event {}", spec.flag);
    handler
        .get("command")
        .and_then(Value::as_str)
        .and_then(|c| c.strip_suffix(suffix.as_str()))
        .is_some_and(|program| {
            Path::new(program.trim_matches(['"', '\'']))
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("kioku-mesh"))
        })
}

/// Plan the `hooks.json` edit: each event's entry of ours replaced in place
/// (further copies removed) or appended.
fn edit_hooks_json(files: &CodexHookFiles, cli: &Path) -> Result<HooksEdit> {
    let path = &files.hooks;
    let (existing, root, hooks) = parse_hooks_object(path)?;
    let shape = |problem: &str| shape_error(path, problem);
    let mut changed = Vec::new();
    let mut trust = Vec::new();
    for spec in &HOOKS {
        let event = spec.event;
        let list = hooks
            .array_value_or_create(event)
            .ok_or_else(|| shape(&format!("hooks.{event} is not an array")))?;
        let wanted = group(cli, spec);
        let wanted_value = to_value(&wanted);
        let elements = list.elements();
        let mut ours = elements.iter().enumerate().filter(|(_, node)| {
            node.to_serde_value()
                .is_some_and(|value| is_ours(&value, spec))
        });
        let index = match ours.next() {
            None => {
                list.append(wanted);
                changed.push(event);
                elements.len()
            }
            Some((index, first)) => {
                let copies: Vec<CstNode> = ours.map(|(_, node)| node.clone()).collect();
                let stale = first.to_serde_value().as_ref() != Some(&wanted_value);
                if stale || !copies.is_empty() {
                    changed.push(event);
                }
                // The copies all come after the first, so its index stays.
                for node in copies {
                    node.remove();
                }
                if stale {
                    let object = first.as_object().ok_or_else(|| {
                        shape(&format!("hooks.{event}[{index}] is not an object"))
                    })?;
                    let _replaced = object.replace_with(wanted);
                }
                index
            }
        };
        trust.push(Trust {
            key: format!("{}:{}:{index}:0", files.key_path, spec.snake),
            hash: trust_hash(
                spec.snake,
                spec.matcher,
                &command(cli, spec.flag),
                spec.timeout,
            ),
            event,
        });
    }
    let text = if changed.is_empty() {
        None
    } else {
        let mut out = root.to_string();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        Some(out)
    };
    Ok(HooksEdit {
        existing,
        text,
        changed,
        trust,
    })
}

/// Write the mail hooks for `cli` into Codex's `hooks.json` and trust them
/// in its `config.toml` (see the module doc). Both files are checked before
/// either is written.
pub fn install_codex_hooks(
    files: &CodexHookFiles,
    cli: &Path,
    dry_run: bool,
) -> Result<CodexHooksOutcome> {
    let edit = edit_hooks_json(files, cli)?;
    let existing_config = read_optional(&files.config)?;
    let mut doc = parse_toml(&files.config, existing_config.as_deref())?;
    let trusted = set_trust(doc.as_table_mut(), &edit.trust, &files.config)?;
    if dry_run {
        let hooks = match &edit.text {
            Some(text) => HooksOutcome::DryRun(format!(
                "# would write to {}\n{text}",
                files.hooks.display()
            )),
            None => HooksOutcome::Present(files.hooks.clone()),
        };
        let trust = if trusted.is_empty() {
            HooksOutcome::Present(files.config.clone())
        } else {
            let wanted: Vec<Trust> = edit
                .trust
                .into_iter()
                .filter(|t| trusted.contains(&t.event))
                .collect();
            let mut only = toml_edit::DocumentMut::new();
            set_trust(only.as_table_mut(), &wanted, &files.config)?;
            HooksOutcome::DryRun(format!(
                "# would write to {}\n{}",
                files.config.display(),
                only.to_string().trim_start()
            ))
        };
        return Ok(CodexHooksOutcome { hooks, trust });
    }
    let hooks = match &edit.text {
        Some(text) => HooksOutcome::Written {
            path: files.hooks.clone(),
            backup: write_config(&files.hooks, text, edit.existing.is_some())?,
            added: edit.changed,
        },
        None => HooksOutcome::Present(files.hooks.clone()),
    };
    let trust = if trusted.is_empty() {
        HooksOutcome::Present(files.config.clone())
    } else {
        HooksOutcome::Written {
            path: files.config.clone(),
            backup: write_config(&files.config, &doc.to_string(), existing_config.is_some())?,
            added: trusted,
        }
    };
    Ok(CodexHooksOutcome { hooks, trust })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const CLI: &str = "/opt/km/kioku-mesh";

    fn files(dir: &Path) -> CodexHookFiles {
        CodexHookFiles {
            hooks: dir.join("hooks.json"),
            config: dir.join("config.toml"),
            key_path: dir.join("hooks.json").display().to_string(),
        }
    }

    fn json(path: &Path) -> Value {
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
    }

    fn trusted(f: &CodexHookFiles, key: &str) -> Option<String> {
        let text = fs::read_to_string(&f.config).unwrap();
        let doc = parse_toml(&f.config, Some(text.as_str())).unwrap();
        doc.get("hooks")?
            .get("state")?
            .get(format!("{}:{key}", f.key_path).as_str())?
            .get("trusted_hash")?
            .as_str()
            .map(str::to_owned)
    }

    fn hash(spec: usize, cli: &str) -> String {
        let s = &HOOKS[spec];
        trust_hash(
            s.snake,
            s.matcher,
            &command(Path::new(cli), s.flag),
            s.timeout,
        )
    }

    #[test]
    fn hooks_are_written_and_trusted_in_an_empty_dir() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let out = install_codex_hooks(&f, Path::new(CLI), false).unwrap();
        let all = vec!["SessionStart", "UserPromptSubmit", "Stop"];
        assert_eq!(
            out.hooks,
            HooksOutcome::Written {
                path: f.hooks.clone(),
                added: all.clone(),
                backup: None
            }
        );
        assert_eq!(
            out.trust,
            HooksOutcome::Written {
                path: f.config.clone(),
                added: all,
                backup: None
            }
        );
        let v = json(&f.hooks);
        for (i, spec) in HOOKS.iter().enumerate() {
            let groups = v["hooks"][spec.event].as_array().unwrap();
            assert_eq!(groups.len(), 1);
            assert_eq!(groups[0]["hooks"][0]["type"], "command");
            assert_eq!(
                groups[0]["hooks"][0]["command"],
                format!("{CLI} msg hook --event {}", spec.flag)
            );
            assert_eq!(
                trusted(&f, &format!("{}:0:0", spec.snake)),
                Some(hash(i, CLI))
            );
        }
        let lines = out.lines();
        assert_eq!(
            lines[0],
            format!(
                "wrote hooks SessionStart, UserPromptSubmit, Stop to {}",
                f.hooks.display()
            )
        );
        assert_eq!(
            lines[1],
            format!(
                "trusted hooks SessionStart, UserPromptSubmit, Stop in {}",
                f.config.display()
            )
        );
    }

    #[test]
    fn a_second_run_changes_nothing_and_a_new_path_replaces_ours() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        install_codex_hooks(&f, Path::new(CLI), false).unwrap();
        let hooks = fs::read_to_string(&f.hooks).unwrap();
        let config = fs::read_to_string(&f.config).unwrap();
        let again = install_codex_hooks(&f, Path::new(CLI), false).unwrap();
        assert_eq!(
            again,
            CodexHooksOutcome {
                hooks: HooksOutcome::Present(f.hooks.clone()),
                trust: HooksOutcome::Present(f.config.clone()),
            }
        );
        assert_eq!(fs::read_to_string(&f.hooks).unwrap(), hooks);
        assert_eq!(fs::read_to_string(&f.config).unwrap(), config);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no backups");

        let moved = "/usr/local/bin/kioku-mesh";
        install_codex_hooks(&f, Path::new(moved), false).unwrap();
        let v = json(&f.hooks);
        let stop = v["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 1, "{v}");
        assert_eq!(
            stop[0]["hooks"][0]["command"],
            format!("{moved} msg hook --event stop")
        );
        assert_eq!(trusted(&f, "stop:0:0"), Some(hash(2, moved)));
        let config = fs::read_to_string(&f.config).unwrap();
        assert_eq!(config.matches("trusted_hash").count(), 3, "{config}");
    }

    #[test]
    fn foreign_hooks_are_kept_and_counted_in_the_trust_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let before = "{\n  \"hooks\": {\n    \"SessionStart\": [\n      { \"matcher\": \"startup\", \"hooks\": [ { \"type\": \"command\", \"command\": \"/usr/bin/theirs\" } ] }\n    ],\n    \"Stop\": [\n      { \"hooks\": [ { \"type\": \"command\", \"command\": \"/old/kioku-mesh msg hook --event stop\" } ] },\n      { \"hooks\": [ { \"type\": \"command\", \"command\": \"/old/kioku-mesh msg hook --event stop\" } ] }\n    ]\n  }\n}\n";
        fs::write(&f.hooks, before).unwrap();
        let theirs = format!(
            "model = \"o3\" # mine\n\n[hooks.state.\"{}:session_start:0:0\"]\ntrusted_hash = \"sha256:theirs\"\n",
            f.key_path
        );
        fs::write(&f.config, &theirs).unwrap();
        let out = install_codex_hooks(&f, Path::new(CLI), false).unwrap();
        assert!(matches!(
            out.hooks,
            HooksOutcome::Written {
                backup: Some(_),
                ..
            }
        ));
        assert!(matches!(
            out.trust,
            HooksOutcome::Written {
                backup: Some(_),
                ..
            }
        ));
        let v = json(&f.hooks);
        let start = v["hooks"]["SessionStart"].as_array().unwrap();
        assert_eq!(start.len(), 2, "{v}");
        assert_eq!(start[0]["matcher"], "startup");
        assert_eq!(start[0]["hooks"][0]["command"], "/usr/bin/theirs");
        assert_eq!(
            start[1]["hooks"][0]["command"],
            format!("{CLI} msg hook --event session-start")
        );
        // The two old copies of ours in Stop became one, at 0.
        assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(trusted(&f, "session_start:1:0"), Some(hash(0, CLI)));
        assert_eq!(
            trusted(&f, "session_start:0:0").as_deref(),
            Some("sha256:theirs")
        );
        assert_eq!(trusted(&f, "user_prompt_submit:0:0"), Some(hash(1, CLI)));
        assert_eq!(trusted(&f, "stop:0:0"), Some(hash(2, CLI)));
        assert!(
            fs::read_to_string(&f.config).unwrap().starts_with(&theirs),
            "the rest of config.toml stays"
        );
    }

    #[test]
    fn a_malformed_file_is_refused_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let config = "model = \"o3\"\n";
        fs::write(&f.config, config).unwrap();
        for text in [
            "{ \"hooks\": ",
            "{ \"hooks\": [1] }",
            "{ \"hooks\": { \"Stop\": 3 } }",
        ] {
            fs::write(&f.hooks, text).unwrap();
            let err = install_codex_hooks(&f, Path::new(CLI), false).unwrap_err();
            assert!(
                err.to_string().contains("The file was not changed"),
                "{err}"
            );
            assert_eq!(fs::read_to_string(&f.hooks).unwrap(), text);
            assert_eq!(fs::read_to_string(&f.config).unwrap(), config);
        }
        // A broken config.toml: hooks.json is not written either.
        fs::remove_file(&f.hooks).unwrap();
        fs::write(&f.config, "[hooks\n").unwrap();
        assert!(install_codex_hooks(&f, Path::new(CLI), false).is_err());
        assert!(!f.hooks.exists());
        assert_eq!(fs::read_to_string(&f.config).unwrap(), "[hooks\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no backups");
    }

    #[test]
    fn a_dry_run_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let out = install_codex_hooks(&f, Path::new(CLI), true).unwrap();
        let lines = out.lines();
        assert!(
            lines[0].starts_with(&format!("# would write to {}\n{{", f.hooks.display())),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with(&format!(
                "# would write to {}\n[hooks.state.\"{}:session_start:0:0\"]\ntrusted_hash = \"sha256:",
                f.config.display(),
                f.key_path
            )),
            "{lines:?}"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn codex_home_is_canonical_in_trust_keys() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let env = Environment::empty(dir.path(), Some(home.clone()));
        let f = codex_hook_files(&env).unwrap();
        assert_eq!(f.hooks, home.join(".codex/hooks.json"));
        assert_eq!(f.config, home.join(".codex/config.toml"));
        assert_eq!(f.key_path, f.hooks.display().to_string());

        let real = dir.path().join("real");
        fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let link = dir.path().join("link");
        let env = env.with_var("CODEX_HOME", link.to_str().unwrap());
        let f = codex_hook_files(&env).unwrap();
        assert_eq!(f.hooks, link.join("hooks.json"));
        assert_eq!(
            f.key_path,
            fs::canonicalize(&real)
                .unwrap()
                .join("hooks.json")
                .display()
                .to_string()
        );
    }
}
