//! Claude Code hooks that inject unread mail (`mcp install --with-hooks`):
//! `SessionStart`, `UserPromptSubmit` and `Stop` entries running
//! `kioku-mesh msg hook --event ...`, written into Claude Code's user
//! settings (`~/.claude/settings.json`, or `$CLAUDE_CONFIG_DIR/settings.json`)
//! the way MCP entries are written: in place, other keys and comments kept,
//! the previous file backed up, a malformed file refused untouched, and an
//! entry that is already there left alone. The entries themselves
//! ([`HOOKS`], [`group`]) are shared with Codex's hooks
//! ([`super::codex_hooks`]), which reads the same format.

use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstInputValue, CstRootNode};
use mesh_core::Environment;

use super::{Result, SetupError, parse_client_json, write_config};

/// One mail hook: the event it runs on and how its entry looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookSpec {
    /// The event as Claude Code and Codex spell it in their hook files.
    pub event: &'static str,
    /// Codex's snake_case name of the event (its trust keys and hashes).
    pub snake: &'static str,
    /// The `msg hook --event` value the command passes.
    pub flag: &'static str,
    /// The group's `matcher`, when it has one.
    pub matcher: Option<&'static str>,
    /// The handler's `timeout` in seconds, when it sets one.
    pub timeout: Option<u64>,
}

/// The mail hooks, in the order they are written.
pub const HOOKS: [HookSpec; 3] = [
    HookSpec {
        event: "SessionStart",
        snake: "session_start",
        flag: "session-start",
        matcher: None,
        timeout: None,
    },
    HookSpec {
        event: "UserPromptSubmit",
        snake: "user_prompt_submit",
        flag: "user-prompt-submit",
        matcher: None,
        timeout: None,
    },
    HookSpec {
        event: "Stop",
        snake: "stop",
        flag: "stop",
        matcher: None,
        timeout: None,
    },
];

/// What `install_hooks` did.
#[derive(Debug, PartialEq, Eq)]
pub enum HooksOutcome {
    /// The file was written; `added` names the events that gained an entry.
    Written {
        /// The settings file.
        path: PathBuf,
        /// Events that gained an entry.
        added: Vec<&'static str>,
        /// The previous file, when there was one.
        backup: Option<PathBuf>,
    },
    /// Every entry was already there.
    Present(PathBuf),
    /// What would be written.
    DryRun(String),
}

impl HooksOutcome {
    /// What `mcp install` prints for this outcome.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Self::DryRun(text) => vec![text.clone()],
            Self::Present(path) => vec![format!("hooks already in {}", path.display())],
            Self::Written {
                path,
                added,
                backup,
            } => {
                let mut lines = vec![format!(
                    "wrote hooks {} to {}",
                    added.join(", "),
                    path.display()
                )];
                if let Some(b) = backup {
                    lines.push(format!("previous file kept as {}", b.display()));
                }
                lines
            }
        }
    }
}

/// Claude Code's user settings file.
pub fn settings_path(env: &Environment) -> Result<PathBuf> {
    if let Some(dir) = env.var("CLAUDE_CONFIG_DIR") {
        return Ok(PathBuf::from(dir).join("settings.json"));
    }
    let home = env
        .home()
        .ok_or(SetupError::Core(mesh_core::CoreError::NoHome))?;
    Ok(home.join(".claude").join("settings.json"))
}

/// The command line a hook runs: `<cli> msg hook --event <flag>`.
pub fn command(cli: &Path, flag: &str) -> String {
    format!("{} msg hook --event {flag}", cli.display())
}

/// The matcher group of one hook, as both clients read it:
/// `{"matcher"?, "hooks": [{"type": "command", "command", "timeout"?}]}`.
pub fn group(cli: &Path, spec: &HookSpec) -> CstInputValue {
    let mut handler = vec![
        (
            "type".to_owned(),
            CstInputValue::String("command".to_owned()),
        ),
        (
            "command".to_owned(),
            CstInputValue::String(command(cli, spec.flag)),
        ),
    ];
    if let Some(seconds) = spec.timeout {
        handler.push((
            "timeout".to_owned(),
            CstInputValue::Number(seconds.to_string()),
        ));
    }
    let mut group = Vec::with_capacity(2);
    if let Some(matcher) = spec.matcher {
        group.push((
            "matcher".to_owned(),
            CstInputValue::String(matcher.to_owned()),
        ));
    }
    group.push((
        "hooks".to_owned(),
        CstInputValue::Array(vec![CstInputValue::Object(handler)]),
    ));
    CstInputValue::Object(group)
}

/// The settings file at `path` does not have the expected shape.
pub(super) fn shape_error(path: &Path, problem: &str) -> SetupError {
    SetupError::ClientConfigShape {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    }
}

/// The hook settings file at `path` (Claude Code's or Codex's, one
/// format), parsed, and its `hooks` object, created when absent.
pub(super) fn parse_hooks_object(
    path: &Path,
) -> Result<(Option<String>, CstRootNode, jsonc_parser::cst::CstObject)> {
    let (existing, root) = parse_client_json(path)?;
    let shape = |problem: &str| shape_error(path, problem);
    let top = root
        .object_value_or_create()
        .ok_or_else(|| shape("the top level is not a JSON object"))?;
    let hooks = top
        .object_value_or_create("hooks")
        .ok_or_else(|| shape("hooks is not an object"))?;
    Ok((existing, root, hooks))
}

/// Add the three hook entries for `cli` to the settings at `path`.
pub fn install_hooks(path: &Path, cli: &Path, dry_run: bool) -> Result<HooksOutcome> {
    let (existing, root, hooks) = parse_hooks_object(path)?;
    let shape = |problem: &str| shape_error(path, problem);
    let mut added = Vec::new();
    for spec in &HOOKS {
        let event = spec.event;
        let wanted = command(cli, spec.flag);
        let list = hooks
            .array_value_or_create(event)
            .ok_or_else(|| shape(&format!("hooks.{event} is not an array")))?;
        let present = list.elements().iter().any(|node| {
            node.to_serde_value().is_some_and(|v| {
                v.to_string()
                    .contains(&serde_json::Value::String(wanted.clone()).to_string())
            })
        });
        if !present {
            list.append(group(cli, spec));
            added.push(event);
        }
    }
    if added.is_empty() {
        return Ok(HooksOutcome::Present(path.to_path_buf()));
    }
    let mut out = root.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if dry_run {
        return Ok(HooksOutcome::DryRun(format!(
            "# would write to {}\n{out}",
            path.display()
        )));
    }
    let backup = write_config(path, &out, existing.is_some())?;
    Ok(HooksOutcome::Written {
        path: path.to_path_buf(),
        added,
        backup,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use jsonc_parser::ParseOptions;
    use jsonc_parser::cst::CstRootNode;

    use super::*;

    #[test]
    fn hooks_are_added_once_and_the_rest_of_the_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        fs::write(
            &path,
            "{\n  // mine\n  \"model\": \"opus\",\n  \"hooks\": { \"Stop\": [ { \"hooks\": [ { \"type\": \"command\", \"command\": \"other\" } ] } ] }\n}\n",
        )
        .unwrap();
        let cli = Path::new("/opt/km/kioku-mesh");
        let HooksOutcome::Written { added, backup, .. } = install_hooks(&path, cli, false).unwrap()
        else {
            panic!("not written");
        };
        assert_eq!(added, ["SessionStart", "UserPromptSubmit", "Stop"]);
        assert!(backup.is_some());
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("// mine") && text.contains("\"model\": \"opus\""),
            "{text}"
        );
        assert!(text.contains("\"command\": \"other\""), "{text}");
        assert!(
            text.contains("/opt/km/kioku-mesh msg hook --event user-prompt-submit"),
            "{text}"
        );
        let v = CstRootNode::parse(&text, &ParseOptions::default())
            .unwrap()
            .object_value_or_create()
            .unwrap()
            .to_serde_value()
            .unwrap();
        assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 2);
        // Again: nothing to add, nothing written.
        assert_eq!(
            install_hooks(&path, cli, false).unwrap(),
            HooksOutcome::Present(path.clone())
        );
    }

    #[test]
    fn a_malformed_or_misshapen_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        for text in [
            "{ \"hooks\": ",
            "{ \"hooks\": [1] }",
            "{ \"hooks\": { \"Stop\": 3 } }",
        ] {
            fs::write(&path, text).unwrap();
            assert!(
                install_hooks(&path, Path::new("/x"), false).is_err(),
                "{text}"
            );
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
    }
}
