//! Registering `kioku-mesh-mcp` with MCP clients.
//!
//! - Claude Code: through its own `claude mcp add <name> -s user ...`
//!   command, the only registration it reads.
//! - Codex CLI: the `[mcp_servers.<name>]` table of `~/.codex/config.toml`
//!   (`$CODEX_HOME` when set), edited with the rest of the file, comments
//!   included, left as it was.
//! - Gemini CLI (`~/.gemini/settings.json`) and Claude Desktop
//!   (`claude_desktop_config.json`): the `mcpServers.<name>` entry, edited in
//!   place so other servers, keys and comments survive.
//!
//! An existing entry is kept unless `force`; a file that does not parse is
//! refused and left untouched; every write goes through a temporary file and
//! a rename, after a timestamped backup of the previous file.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstRootNode};

use crate::config::write_atomically;
use crate::environment::Environment;
use crate::error::{CoreError, Result};

/// The default registration name.
pub const DEFAULT_NAME: &str = "kioku_mesh";
/// The Zenoh endpoint written into every registration's environment.
pub const DEFAULT_ZENOH_CONNECT: &str = "tcp/127.0.0.1:7447";

/// An MCP client we can register with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpClient {
    /// Anthropic's Claude Code CLI.
    ClaudeCode,
    /// OpenAI's Codex CLI.
    CodexCli,
    /// Google's Gemini CLI.
    GeminiCli,
    /// Anthropic's Claude Desktop app.
    ClaudeDesktop,
}

impl McpClient {
    /// The `--client` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude-code",
            Self::CodexCli => "codex-cli",
            Self::GeminiCli => "gemini-cli",
            Self::ClaudeDesktop => "claude-desktop",
        }
    }

    fn agent_family(self) -> &'static str {
        match self {
            Self::ClaudeCode | Self::ClaudeDesktop => "claude",
            Self::CodexCli => "codex",
            Self::GeminiCli => "gemini",
        }
    }

    /// The client's product name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::ClaudeCode => "Claude Code",
            Self::CodexCli => "Codex CLI",
            Self::GeminiCli => "Gemini CLI",
            Self::ClaudeDesktop => "Claude Desktop",
        }
    }
}

impl fmt::Display for McpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one registration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    /// The client.
    pub client: McpClient,
    /// The name the client lists the server under.
    pub name: String,
    /// Absolute path of `kioku-mesh-mcp`.
    pub command: PathBuf,
    /// Environment of the server process, defaults first, overrides merged.
    pub env: Vec<(String, String)>,
}

/// Check a registration name: `[A-Za-z0-9_-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(CoreError::InvalidRegistryName(name.to_owned()))
    }
}

/// Parse `KEY=VALUE` arguments.
pub fn parse_env_pairs(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|raw| match raw.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(CoreError::InvalidEnvPair(raw.clone())),
        })
        .collect()
}

/// Resolve the plan: validated name, the client's default environment
/// (`ZENOH_CONNECT`, `KIOKU_MESH_AGENT_FAMILY`, `KIOKU_MESH_CLIENT_ID`), and
/// the overrides on top.
pub fn plan(
    client: McpClient,
    name: &str,
    command: PathBuf,
    overrides: &[(String, String)],
) -> Result<InstallPlan> {
    validate_name(name)?;
    let mut env: Vec<(String, String)> = vec![
        ("ZENOH_CONNECT".into(), DEFAULT_ZENOH_CONNECT.into()),
        (
            "KIOKU_MESH_AGENT_FAMILY".into(),
            client.agent_family().into(),
        ),
        ("KIOKU_MESH_CLIENT_ID".into(), client.as_str().into()),
    ];
    for (k, v) in overrides {
        match env.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    Ok(InstallPlan {
        client,
        name: name.to_owned(),
        command,
        env,
    })
}

/// Find `kioku-mesh-mcp`: beside `next_to` (the running `kioku-mesh`), else
/// on `PATH`.
pub fn find_server_binary(next_to: Option<&Path>, env: &Environment) -> Result<PathBuf> {
    let name = "kioku-mesh-mcp";
    if let Some(candidate) = next_to
        .and_then(Path::parent)
        .map(|d| d.join(name))
        .filter(|p| p.is_file())
    {
        return Ok(candidate);
    }
    which(name, env).ok_or_else(|| {
        CoreError::ProgramNotFound(
            "kioku-mesh-mcp is neither next to kioku-mesh nor on PATH; install both binaries \
             (cargo install --path bins/cli && cargo install --path bins/mcp)"
                .to_owned(),
        )
    })
}

/// The first `program` on `env`'s PATH.
pub fn which(program: &str, env: &Environment) -> Option<PathBuf> {
    std::env::split_paths(env.raw_var("PATH").unwrap_or_default())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The configuration file a file-based client reads.
pub fn config_path(client: McpClient, env: &Environment) -> Result<PathBuf> {
    let home = env.home().ok_or(CoreError::NoHome)?;
    Ok(match client {
        McpClient::CodexCli => env
            .var("CODEX_HOME")
            .map_or_else(|| home.join(".codex"), PathBuf::from)
            .join("config.toml"),
        McpClient::GeminiCli => home.join(".gemini").join("settings.json"),
        McpClient::ClaudeDesktop => {
            claude_desktop_dir(home, env).join("claude_desktop_config.json")
        }
        McpClient::ClaudeCode => home.join(".claude.json"),
    })
}

#[cfg(target_os = "macos")]
fn claude_desktop_dir(home: &Path, _env: &Environment) -> PathBuf {
    home.join("Library/Application Support/Claude")
}

#[cfg(target_os = "windows")]
fn claude_desktop_dir(home: &Path, env: &Environment) -> PathBuf {
    env.var("APPDATA")
        .map_or_else(|| home.join("AppData").join("Roaming"), PathBuf::from)
        .join("Claude")
}

#[cfg(not(any(target_os = "macos", target_os = "windows")))]
fn claude_desktop_dir(home: &Path, env: &Environment) -> PathBuf {
    env.var("XDG_CONFIG_HOME")
        .map_or_else(|| home.join(".config"), PathBuf::from)
        .join("Claude")
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Registered through the client's own command (Claude Code).
    Registered {
        /// The client program used.
        via: PathBuf,
    },
    /// The entry was written into a configuration file.
    Written {
        /// The entry's key, e.g. `mcp_servers.kioku_mesh`.
        key: String,
        /// The file.
        path: PathBuf,
        /// Where the previous file was kept.
        backup: Option<PathBuf>,
    },
    /// An entry of that name exists and `force` was not given.
    AlreadyRegistered {
        /// The entry's key.
        key: String,
        /// Where it was found (a client name or a file).
        location: String,
    },
    /// Nothing was done; this is what would be.
    DryRun(String),
}

/// Register `plan` with its client.
pub fn install(
    plan: &InstallPlan,
    env: &Environment,
    force: bool,
    dry_run: bool,
) -> Result<Outcome> {
    match plan.client {
        McpClient::ClaudeCode => install_claude_code(plan, env, force, dry_run),
        McpClient::CodexCli => install_codex(plan, &config_path(plan.client, env)?, force, dry_run),
        McpClient::GeminiCli | McpClient::ClaudeDesktop => {
            install_json(plan, &config_path(plan.client, env)?, force, dry_run)
        }
    }
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The `claude mcp add` arguments for `plan`.
pub fn claude_add_args(plan: &InstallPlan) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "mcp".into(),
        "add".into(),
        plan.name.clone(),
        "-s".into(),
        "user".into(),
    ];
    for (k, v) in &plan.env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push("--".into());
    args.push(plan.command.display().to_string());
    args
}

fn run(program: &Path, args: &[String]) -> Result<std::process::Output> {
    Command::new(program)
        .args(args)
        .output()
        .map_err(|e| CoreError::CommandFailed {
            command: format!("{} {}", program.display(), args.join(" ")),
            status: "not started".into(),
            stderr: e.to_string(),
        })
}

fn install_claude_code(
    plan: &InstallPlan,
    env: &Environment,
    force: bool,
    dry_run: bool,
) -> Result<Outcome> {
    let claude = which("claude", env).ok_or_else(|| {
        CoreError::ProgramNotFound(
            "claude binary not on PATH. Install Claude Code first (https://docs.claude.com/en/docs/claude-code).".into(),
        )
    })?;
    let add = claude_add_args(plan);
    if dry_run {
        let line = std::iter::once(claude.display().to_string())
            .chain(add.iter().cloned())
            .map(|a| shell_quote(&a))
            .collect::<Vec<_>>()
            .join(" ");
        return Ok(Outcome::DryRun(line));
    }
    let listed = run(&claude, &["mcp".into(), "list".into()])?;
    if listed.status.success()
        && String::from_utf8_lossy(&listed.stdout).contains(&format!("{}:", plan.name))
    {
        if !force {
            return Ok(Outcome::AlreadyRegistered {
                key: plan.name.clone(),
                location: plan.client.display_name().to_owned(),
            });
        }
        let removed = run(
            &claude,
            &[
                "mcp".into(),
                "remove".into(),
                plan.name.clone(),
                "-s".into(),
                "user".into(),
            ],
        )?;
        if !removed.status.success() {
            return Err(CoreError::CommandFailed {
                command: format!("claude mcp remove {}", plan.name),
                status: removed.status.to_string(),
                stderr: String::from_utf8_lossy(&removed.stderr).trim().to_owned(),
            });
        }
    }
    let added = run(&claude, &add)?;
    if !added.status.success() {
        return Err(CoreError::CommandFailed {
            command: "claude mcp add".into(),
            status: added.status.to_string(),
            stderr: String::from_utf8_lossy(&added.stderr).trim().to_owned(),
        });
    }
    Ok(Outcome::Registered { via: claude })
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CoreError::Io {
            action: "cannot read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Copy `path` to `path.bak-<time>` (a fresh name), returning it.
fn backup(path: &Path) -> Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let mut candidate = path.with_file_name(format!("{name}.bak-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{name}.bak-{stamp}-{n}"));
        n += 1;
    }
    fs::copy(path, &candidate).map_err(|source| CoreError::Io {
        action: "cannot back up",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(candidate)
}

fn write_config(path: &Path, text: &str, had_file: bool) -> Result<Option<PathBuf>> {
    if let Some(dir) = path.parent() {
        crate::paths::create_dir(dir, "client config", "HOME")?;
    }
    let kept = if had_file { Some(backup(path)?) } else { None };
    write_atomically(path, text.as_bytes())?;
    Ok(kept)
}

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

fn install_codex(plan: &InstallPlan, path: &Path, force: bool, dry_run: bool) -> Result<Outcome> {
    let existing = read_optional(path)?;
    let mut doc: toml_edit::DocumentMut =
        existing
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e: toml_edit::TomlError| CoreError::MalformedClientConfig {
                path: path.to_path_buf(),
                format: "TOML",
                message: e.to_string().trim().to_owned(),
            })?;
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| CoreError::ClientConfigShape {
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

fn install_json(plan: &InstallPlan, path: &Path, force: bool, dry_run: bool) -> Result<Outcome> {
    let existing = read_optional(path)?;
    let text = existing
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "{}\n".to_owned());
    let root = CstRootNode::parse(&text, &ParseOptions::default()).map_err(|e| {
        CoreError::MalformedClientConfig {
            path: path.to_path_buf(),
            format: "JSON",
            message: e.to_string(),
        }
    })?;
    let shape = |problem: &str| CoreError::ClientConfigShape {
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
    use super::*;

    fn plan_for(client: McpClient) -> InstallPlan {
        plan(
            client,
            DEFAULT_NAME,
            PathBuf::from("/opt/km/bin/kioku-mesh-mcp"),
            &[
                ("KIOKU_MESH_CLIENT_ID".into(), "mine".into()),
                ("EXTRA".into(), "1".into()),
            ],
        )
        .unwrap()
    }

    #[test]
    fn names_and_env_pairs_are_validated() {
        assert!(validate_name("kioku_mesh-2").is_ok());
        for bad in ["", "a.b", "a b", "ä"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_env_pairs(&["A=b=c".into()]).unwrap(),
            vec![("A".into(), "b=c".into())]
        );
        assert!(parse_env_pairs(&["novalue".into()]).is_err());
        assert!(parse_env_pairs(&["=x".into()]).is_err());
    }

    #[test]
    fn overrides_replace_defaults_in_place() {
        let p = plan_for(McpClient::CodexCli);
        let keys: Vec<&str> = p.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ZENOH_CONNECT",
                "KIOKU_MESH_AGENT_FAMILY",
                "KIOKU_MESH_CLIENT_ID",
                "EXTRA"
            ]
        );
        assert_eq!(p.env[1].1, "codex");
        assert_eq!(p.env[2].1, "mine");
    }

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
