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
//! a rename, after a timestamped backup of the previous file. The file
//! edits are in [`super::client_files`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mesh_core::Environment;

use super::client_files::{install_codex, install_json};
use super::{Result, SetupError};

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
        Err(SetupError::InvalidRegistryName(name.to_owned()))
    }
}

/// Parse `KEY=VALUE` arguments.
pub fn parse_env_pairs(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|raw| match raw.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(SetupError::InvalidEnvPair(raw.clone())),
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
        SetupError::ProgramNotFound(
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
    let home = env.home().ok_or(mesh_core::CoreError::NoHome)?;
    Ok(match client {
        McpClient::CodexCli => env
            .var("CODEX_HOME")
            .map_or_else(|| home.join(".codex"), PathBuf::from)
            .join("config.toml"),
        McpClient::GeminiCli => home.join(".gemini").join("settings.json"),
        McpClient::ClaudeDesktop => {
            claude_desktop_dir(home, env).join("claude_desktop_config.json")
        }
        // CLAUDE_CONFIG_DIR moves the whole file, not a directory under HOME.
        McpClient::ClaudeCode => env
            .var("CLAUDE_CONFIG_DIR")
            .map_or_else(|| home.to_path_buf(), PathBuf::from)
            .join(".claude.json"),
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
        .map_err(|e| SetupError::CommandFailed {
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
        SetupError::ProgramNotFound(
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
            return Err(SetupError::CommandFailed {
                command: format!("claude mcp remove {}", plan.name),
                status: removed.status.to_string(),
                stderr: String::from_utf8_lossy(&removed.stderr).trim().to_owned(),
            });
        }
    }
    let added = run(&claude, &add)?;
    if !added.status.success() {
        return Err(SetupError::CommandFailed {
            command: "claude mcp add".into(),
            status: added.status.to_string(),
            stderr: String::from_utf8_lossy(&added.stderr).trim().to_owned(),
        });
    }
    Ok(Outcome::Registered { via: claude })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plan with a fixed server path and two variables (also used by the
    /// file editors' tests).
    pub(crate) fn plan_for(client: McpClient) -> InstallPlan {
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
}
