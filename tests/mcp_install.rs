//! `kioku-mesh mcp install` for each client, against files in a temporary
//! HOME (and a stand-in `claude` program for Claude Code).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::{Sandbox, bin};

fn server_path() -> String {
    bin("kioku-mesh-mcp").display().to_string()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".bak-"))
        .collect()
}

#[test]
fn codex_config_is_edited_in_place() {
    let s = Sandbox::new();
    let dir = s.home().join(".codex");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    let before = "# Codex settings, hand-written\nmodel = \"gpt-5\" # favourite\n\n[mcp_servers.other]\ncommand = \"/usr/bin/other\"\nargs = [\"--x\"]\n";
    std::fs::write(&path, before).unwrap();

    let dry = s.km(&["mcp", "install", "--client", "codex-cli", "--dry-run"]);
    assert!(
        dry.ok()
            .starts_with(&format!("# would write to {}\n# Added by", path.display())),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("\n[mcp_servers.kioku_mesh]\ncommand = "),
        "{}",
        dry.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "--dry-run writes nothing"
    );

    let out = s.km(&["mcp", "install", "--client", "codex-cli"]);
    assert!(
        out.ok().starts_with(&format!(
            "wrote mcp_servers.kioku_mesh to {}\nprevious file kept as ",
            path.display()
        )),
        "{}",
        out.stdout
    );
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(
        after.starts_with(before),
        "the rest of the file is untouched:\n{after}"
    );
    assert!(
        after.contains(&format!(
            "[mcp_servers.kioku_mesh]\ncommand = \"{}\"",
            server_path()
        )),
        "{after}"
    );
    assert!(after.contains("[mcp_servers.kioku_mesh.env]\nZENOH_CONNECT = \"tcp/127.0.0.1:7447\"\nKIOKU_MESH_AGENT_FAMILY = \"codex\"\nKIOKU_MESH_CLIENT_ID = \"codex-cli\""), "{after}");
    let kept = backups(&dir);
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), before);

    let again = s.km(&["mcp", "install", "--client", "codex-cli"]);
    assert!(
        again
            .fails_with(1)
            .contains("error: mcp_servers.kioku_mesh already exists in"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);

    s.km(&[
        "mcp",
        "install",
        "--client",
        "codex-cli",
        "--force",
        "-e",
        "KIOKU_MESH_USER_ID=me",
    ])
    .ok();
    let forced = std::fs::read_to_string(&path).unwrap();
    assert!(forced.contains("KIOKU_MESH_USER_ID = \"me\""), "{forced}");
    assert_eq!(
        forced.matches("[mcp_servers.kioku_mesh]").count(),
        1,
        "{forced}"
    );
    assert!(forced.starts_with(before));
}

#[test]
fn codex_home_moves_the_codex_config() {
    let mut s = Sandbox::new();
    let codex_home = s.dir.path().join("codex-home");
    s.set("CODEX_HOME", codex_home.to_str().unwrap());
    s.km(&["mcp", "install", "--client", "codex-cli", "--name", "km"])
        .ok();
    let text = std::fs::read_to_string(codex_home.join("config.toml")).unwrap();
    assert!(text.contains("[mcp_servers.km]"), "{text}");
}

#[test]
fn malformed_client_configs_are_refused_untouched() {
    let s = Sandbox::new();
    for (client, rel, garbage) in [
        ("codex-cli", ".codex/config.toml", "[mcp_servers\nbroken = "),
        (
            "gemini-cli",
            ".gemini/settings.json",
            "{ \"mcpServers\": { \"a\": } }",
        ),
        (
            "claude-desktop",
            ".config/Claude/claude_desktop_config.json",
            "{ \"mcpServers\": [] }",
        ),
    ] {
        let path = s.home().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, garbage).unwrap();
        let err = s
            .km(&["mcp", "install", "--client", client, "--force"])
            .fails_with(1)
            .to_owned();
        assert!(err.contains("The file was not changed"), "{client}: {err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), garbage, "{client}");
        assert!(backups(path.parent().unwrap()).is_empty(), "{client}");
    }
}

#[test]
fn json_clients_keep_other_servers_keys_and_comments() {
    let s = Sandbox::new();
    for (client, rel, family) in [
        ("gemini-cli", ".gemini/settings.json", "gemini"),
        (
            "claude-desktop",
            ".config/Claude/claude_desktop_config.json",
            "claude",
        ),
    ] {
        let path = s.home().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let before = "{\n  // chosen after a long evening\n  \"theme\": \"Dracula\",\n  \"mcpServers\": {\n    \"github\": {\n      \"command\": \"gh-mcp\"\n    }\n  }\n}\n";
        std::fs::write(&path, before).unwrap();
        let dry = s.km(&["mcp", "install", "--client", client, "--dry-run"]);
        assert!(dry.ok().contains("\"kioku_mesh\""), "{}", dry.stdout);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

        let out = s.km(&["mcp", "install", "--client", client]);
        assert!(out.ok().starts_with(&format!(
            "wrote mcpServers.kioku_mesh to {}",
            path.display()
        )));
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.contains("// chosen after a long evening"), "{after}");
        assert!(after.contains("\"theme\": \"Dracula\""), "{after}");
        assert!(
            after.contains("\"github\": {\n      \"command\": \"gh-mcp\"\n    }"),
            "{after}"
        );
        assert!(
            after.contains(&format!("\"command\": \"{}\"", server_path())),
            "{after}"
        );
        assert!(
            after.contains(&format!("\"KIOKU_MESH_AGENT_FAMILY\": \"{family}\"")),
            "{after}"
        );
        assert!(
            after.contains(&format!("\"KIOKU_MESH_CLIENT_ID\": \"{client}\"")),
            "{after}"
        );

        assert!(
            s.km(&["mcp", "install", "--client", client])
                .fails_with(1)
                .contains("already exists")
        );
        s.km(&[
            "mcp", "install", "--client", client, "--force", "-e", "EXTRA=1",
        ])
        .ok();
        let forced = std::fs::read_to_string(&path).unwrap();
        assert_eq!(forced.matches("\"kioku_mesh\"").count(), 1, "{forced}");
        assert!(forced.contains("\"EXTRA\": \"1\""), "{forced}");
        assert_eq!(
            backups(path.parent().unwrap()).len(),
            2,
            "one backup per write"
        );
    }
}

#[test]
fn a_missing_json_config_is_created() {
    let s = Sandbox::new();
    s.km(&["mcp", "install", "--client", "claude-desktop"]).ok();
    let path = s.home().join(".config/Claude/claude_desktop_config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["mcpServers"]["kioku_mesh"]["command"],
        server_path().as_str()
    );
    assert_eq!(
        doc["mcpServers"]["kioku_mesh"]["args"],
        serde_json::json!([])
    );
}

/// A stand-in `claude` that logs its arguments and keeps a registry file.
fn fake_claude(s: &Sandbox) -> (PathBuf, PathBuf) {
    let dir = s.dir.path().join("fakebin");
    std::fs::create_dir_all(&dir).unwrap();
    let log = s.dir.path().join("claude.log");
    let registry = s.dir.path().join("claude.registry");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{log}'\ncase \"$1 $2\" in\n  'mcp list') cat '{reg}' 2>/dev/null ;;\n  'mcp add') echo \"$3: $(eval echo \\${{$#}})\" >> '{reg}' ;;\n  'mcp remove') grep -v \"^$3:\" '{reg}' > '{reg}.new'; mv '{reg}.new' '{reg}' ;;\nesac\n",
        log = log.display(),
        reg = registry.display()
    );
    let claude = dir.join("claude");
    std::fs::write(&claude, script).unwrap();
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, log)
}

#[test]
fn claude_code_registers_through_its_own_command() {
    let mut s = Sandbox::new();
    let no_claude = s.km(&["mcp", "install", "--client", "claude-code"]);
    assert!(
        no_claude
            .fails_with(2)
            .contains("claude binary not on PATH"),
        "{}",
        no_claude.stderr
    );

    let (dir, log) = fake_claude(&s);
    s.set(
        "PATH",
        &format!("{}:{}", dir.display(), std::env::var("PATH").unwrap()),
    );
    let claude = dir.join("claude");
    let expected_add = format!(
        "mcp add kioku_mesh -s user -e ZENOH_CONNECT=tcp/127.0.0.1:7447 -e KIOKU_MESH_AGENT_FAMILY=claude -e KIOKU_MESH_CLIENT_ID=claude-code -- {}",
        server_path()
    );

    let dry = s.km(&["mcp", "install", "--client", "claude-code", "--dry-run"]);
    assert_eq!(
        dry.ok().trim(),
        format!("{} {expected_add}", claude.display())
    );
    assert!(!log.exists(), "--dry-run runs nothing");

    let out = s.km(&["mcp", "install", "--client", "claude-code"]);
    assert_eq!(
        out.ok().trim(),
        format!(
            "registered kioku_mesh with Claude Code via {}",
            claude.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("mcp list\n{expected_add}\n")
    );

    let again = s.km(&["mcp", "install", "--client", "claude-code"]);
    assert!(again.fails_with(1).contains(
        "error: 'kioku_mesh' is already registered with Claude Code. Use --force to overwrite."
    ));

    std::fs::remove_file(&log).unwrap();
    s.km(&["mcp", "install", "--client", "claude-code", "--force"])
        .ok();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("mcp list\nmcp remove kioku_mesh -s user\n{expected_add}\n")
    );
}

#[test]
fn bad_names_and_env_pairs_are_usage_errors() {
    let s = Sandbox::new();
    assert!(
        s.km(&["mcp", "install", "--client", "codex-cli", "--name", "a.b"])
            .fails_with(2)
            .contains("must match [A-Za-z0-9_-]+")
    );
    assert!(
        s.km(&["mcp", "install", "--client", "codex-cli", "-e", "NOEQUALS"])
            .fails_with(2)
            .contains("--env value must be KEY=VALUE")
    );
    assert!(
        s.km(&["mcp", "install", "--client", "vscode"])
            .fails_with(2)
            .contains("invalid value")
    );
    assert!(!s.home().join(".codex").exists());
}

#[test]
fn codex_repair_renames_legacy_identity_keys_in_place() {
    let s = Sandbox::new();
    let dir = s.home().join(".codex");
    let path = dir.join("config.toml");

    let no_file = s.km(&["mcp", "install", "--client", "codex-cli", "--repair"]);
    assert!(
        no_file.fails_with(1).starts_with(&format!(
            "error: {} does not exist. Nothing to repair — run `kioku-mesh mcp install --client codex-cli` first.",
            path.display()
        )),
        "{}",
        no_file.stderr
    );

    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&path, "# mine\n[mcp_servers.other]\ncommand = \"o\"\n").unwrap();
    let absent = s.km(&["mcp", "install", "--client", "codex-cli", "--repair"]);
    assert!(
        absent.fails_with(1).contains(&format!(
            "error: mcp_servers.kioku_mesh not found in {}. Run `kioku-mesh mcp install --client codex-cli` first.",
            path.display()
        )),
        "{}",
        absent.stderr
    );

    let before = "# Codex settings\nmodel = \"gpt-5\" # favourite\n\n[mcp_servers.kioku_mesh]\ncommand = \"/opt/km\" # pinned\nstartup_timeout_sec = 20\n\n[mcp_servers.kioku_mesh.env]\nZENOH_CONNECT = \"tcp/10.0.0.5:7447\"\nMESH_MEM_AGENT_FAMILY = \"codex\" # family\n'MESH_MEM_CLIENT_ID' = 'codex-cli'\nMESH_MEM_USER_ID = \"me\"\n\n[mcp_servers.other]\ncommand = \"o\"\nenv = { MESH_MEM_CLIENT_ID = \"x\" }\n";
    std::fs::write(&path, before).unwrap();
    let out = s.km(&["mcp", "install", "--client", "codex-cli", "--repair"]);
    assert_eq!(
        out.ok(),
        format!(
            "repaired identity env for mcp_servers.kioku_mesh in {}\n  MESH_MEM_AGENT_FAMILY -> KIOKU_MESH_AGENT_FAMILY\n  MESH_MEM_CLIENT_ID -> KIOKU_MESH_CLIENT_ID\n",
            path.display()
        )
    );
    let expected = before
        .replace(
            "MESH_MEM_AGENT_FAMILY = \"codex\"",
            "KIOKU_MESH_AGENT_FAMILY = \"codex\"",
        )
        .replace("'MESH_MEM_CLIENT_ID' =", "'KIOKU_MESH_CLIENT_ID' =");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        expected,
        "only the two key tokens of this entry change; comments, quoting, other keys and tables stay"
    );

    let again = s.km(&["mcp", "install", "--client", "codex-cli", "--repair"]);
    assert_eq!(
        again.ok(),
        format!(
            "mcp_servers.kioku_mesh in {} already uses the current KIOKU_MESH_* prefix; nothing to repair.\n",
            path.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

    std::fs::write(&path, "[mcp_servers\nbroken = ").unwrap();
    let bad = s.km(&["mcp", "install", "--client", "codex-cli", "--repair"]);
    assert!(
        bad.fails_with(1)
            .contains(&format!("error: cannot parse {} as TOML", path.display())),
        "{}",
        bad.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "[mcp_servers\nbroken = "
    );
}

#[test]
fn claude_code_repair_edits_its_json_and_keeps_a_copy() {
    let s = Sandbox::new();
    let path = s.home().join(".claude.json");

    let absent = s.km(&["mcp", "install", "--client", "claude-code", "--repair"]);
    assert!(
        absent.fails_with(1).contains(&format!(
            "error: 'kioku_mesh' is not registered in {} (user or local scope) or {} (project scope). Run `kioku-mesh mcp install --client claude-code` first.",
            path.display(),
            s.dir.path().join(".mcp.json").display()
        )),
        "{}",
        absent.stderr
    );

    // Odd spacing, escapes and number spellings survive byte for byte.
    let before = "{\n  \"numStartups\": 1.50,\n  \"tip\": \"caf\\u00e9 \\/ x\",\n  \"mcpServers\": {\n    \"other\": {\"command\": \"o\", \"env\": {\"MESH_MEM_CLIENT_ID\": \"x\"}},\n    \"kioku_mesh\" : {\"type\": \"stdio\", \"command\": \"/opt/km\", \"args\": [\"a b\"],\n      \"env\": {\"ZENOH_CONNECT\": \"tcp/h:1\", \"MESH_MEM_AGENT_FAMILY\":\"claude\", \"MESH_MEM_CLIENT_ID\" : \"claude-code\"}}\n  }\n}\n";
    std::fs::write(&path, before).unwrap();
    let out = s.km(&["mcp", "install", "--client", "claude-code", "--repair"]);
    let text = out.ok();
    let prefix = format!(
        "repaired identity env for 'kioku_mesh' in {} (user scope); previous file kept at {}.bak-",
        path.display(),
        path.display()
    );
    assert!(text.starts_with(&prefix), "{text}");
    assert!(
        text.ends_with(
            "\n  MESH_MEM_AGENT_FAMILY -> KIOKU_MESH_AGENT_FAMILY\n  MESH_MEM_CLIENT_ID -> KIOKU_MESH_CLIENT_ID\n"
        ),
        "{text}"
    );
    let expected = before
        .replace(
            "\"MESH_MEM_AGENT_FAMILY\":\"claude\"",
            "\"KIOKU_MESH_AGENT_FAMILY\":\"claude\"",
        )
        .replace(
            "\"MESH_MEM_CLIENT_ID\" : \"claude-code\"",
            "\"KIOKU_MESH_CLIENT_ID\" : \"claude-code\"",
        );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    let kept = backups(&s.home());
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), before);

    let again = s.km(&["mcp", "install", "--client", "claude-code", "--repair"]);
    assert_eq!(
        again.ok(),
        format!(
            "'kioku_mesh' in {} (user scope) already uses the current KIOKU_MESH_* prefix; nothing to repair.\n",
            path.display()
        )
    );

    // The same name in the project scope too: refused, nothing written.
    let project = s.dir.path().join(".mcp.json");
    let project_text =
        "{\"mcpServers\": {\"kioku_mesh\": {\"env\": {\"MESH_MEM_CLIENT_ID\": \"p\"}}}}";
    std::fs::write(&project, project_text).unwrap();
    let two = s.km(&["mcp", "install", "--client", "claude-code", "--repair"]);
    assert!(
        two.fails_with(1)
            .contains("refusing to repair 'kioku_mesh': it is registered in 2 scopes"),
        "{}",
        two.stderr
    );
    assert_eq!(std::fs::read_to_string(&project).unwrap(), project_text);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

    std::fs::write(&path, "{ \"mcpServers\": ").unwrap();
    let bad = s.km(&["mcp", "install", "--client", "claude-code", "--repair"]);
    assert!(
        bad.fails_with(1)
            .contains(&format!("error: cannot parse {} as JSON", path.display())),
        "{}",
        bad.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{ \"mcpServers\": "
    );
    assert_eq!(backups(&s.home()).len(), 1, "no copy of a refused file");
}

#[test]
fn claude_config_dir_moves_the_file_repair_reads() {
    let mut s = Sandbox::new();
    let dir = s.dir.path().join("claude-config");
    std::fs::create_dir_all(&dir).unwrap();
    s.set("CLAUDE_CONFIG_DIR", dir.to_str().unwrap());
    let path = dir.join(".claude.json");
    std::fs::write(
        &path,
        "{\"mcpServers\": {\"km\": {\"env\": {\"MESH_MEM_AGENT_FAMILY\": \"claude\"}}}}",
    )
    .unwrap();
    s.km(&[
        "mcp",
        "install",
        "--client",
        "claude-code",
        "--repair",
        "--name",
        "km",
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"mcpServers\": {\"km\": {\"env\": {\"KIOKU_MESH_AGENT_FAMILY\": \"claude\"}}}}"
    );
}

#[test]
fn repair_is_for_the_clients_that_had_legacy_keys() {
    let s = Sandbox::new();
    assert!(
        s.km(&["mcp", "install", "--client", "gemini-cli", "--repair"])
            .fails_with(2)
            .contains("--repair supports --client claude-code and codex-cli")
    );
}

#[test]
fn with_hooks_adds_the_mail_hooks_to_claude_code_settings_once() {
    let mut s = Sandbox::new();
    let (dir, _log) = fake_claude(&s);
    s.set(
        "PATH",
        &format!("{}:{}", dir.display(), std::env::var("PATH").unwrap()),
    );
    let settings = s.home().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{\n  // theirs\n  \"model\": \"opus\"\n}\n").unwrap();

    let wrong = s.km(&["mcp", "install", "--client", "gemini-cli", "--with-hooks"]);
    assert!(
        wrong
            .fails_with(2)
            .contains("--with-hooks writes Claude Code and Codex CLI hooks")
    );

    let out = s.km(&["mcp", "install", "--client", "claude-code", "--with-hooks"]);
    let text = out.ok().to_owned();
    assert!(
        text.contains("wrote hooks SessionStart, UserPromptSubmit, Stop to"),
        "{text}"
    );
    let written = std::fs::read_to_string(&settings).unwrap();
    assert!(
        written.contains("// theirs") && written.contains("\"model\": \"opus\""),
        "{written}"
    );
    for event in ["session-start", "user-prompt-submit", "stop"] {
        assert!(
            written.contains(&format!("msg hook --event {event}")),
            "{written}"
        );
    }
    // The hook command runs and, with no mail, prints nothing.
    let cmd = written
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"command\": \""))
        .and_then(|c| c.strip_suffix('"'))
        .unwrap()
        .to_owned();
    let program = cmd.split(' ').next().unwrap().to_owned();
    let args: Vec<&str> = cmd.split(' ').skip(1).collect();
    let run = s.run(std::path::Path::new(&program), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let again = s.km(&[
        "mcp",
        "install",
        "--client",
        "claude-code",
        "--force",
        "--with-hooks",
    ]);
    assert!(again.ok().contains("hooks already in"), "{}", again.stdout);
}

#[test]
fn with_hooks_for_codex_writes_hooks_json_and_trusts_it_once() {
    let mut s = Sandbox::new();
    let codex_home = s.dir.path().join("codex-home");
    std::fs::create_dir_all(&codex_home).unwrap();
    s.set("CODEX_HOME", codex_home.to_str().unwrap());
    let config = codex_home.join("config.toml");
    let hooks = codex_home.join("hooks.json");
    let before = "# Codex settings, hand-written\nmodel = \"gpt-5\" # favourite\n";
    std::fs::write(&config, before).unwrap();
    // A hook of someone else's comes first; ours goes after it.
    let theirs = "{\n  \"hooks\": {\n    \"SessionStart\": [\n      { \"matcher\": \"startup\", \"hooks\": [ { \"type\": \"command\", \"command\": \"/usr/bin/theirs\" } ] }\n    ]\n  }\n}\n";
    std::fs::write(&hooks, theirs).unwrap();

    let dry = s.km(&[
        "mcp",
        "install",
        "--client",
        "codex-cli",
        "--with-hooks",
        "--dry-run",
    ]);
    assert!(
        dry.ok()
            .contains(&format!("# would write to {}\n", hooks.display())),
        "{}",
        dry.stdout
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    assert_eq!(std::fs::read_to_string(&hooks).unwrap(), theirs);

    let out = s.km(&["mcp", "install", "--client", "codex-cli", "--with-hooks"]);
    let text = out.ok().to_owned();
    assert!(
        text.contains(&format!(
            "wrote hooks SessionStart, UserPromptSubmit, Stop to {}\nprevious file kept as ",
            hooks.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "trusted hooks SessionStart, UserPromptSubmit, Stop in {}\nprevious file kept as ",
            config.display()
        )),
        "{text}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hooks).unwrap()).unwrap();
    let start = doc["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(start.len(), 2, "{doc}");
    assert_eq!(start[0]["hooks"][0]["command"], "/usr/bin/theirs");
    for (event, flag) in [
        ("SessionStart", "session-start"),
        ("UserPromptSubmit", "user-prompt-submit"),
        ("Stop", "stop"),
    ] {
        let command =
            doc["hooks"][event].as_array().unwrap().last().unwrap()["hooks"][0]["command"]
                .as_str()
                .unwrap()
                .to_owned();
        assert!(
            command.ends_with(&format!("kioku-mesh msg hook --event {flag}")),
            "{command}"
        );
    }
    // Trust keys name the canonical hooks.json and where each entry is.
    let key_path = std::fs::canonicalize(&codex_home)
        .unwrap()
        .join("hooks.json")
        .display()
        .to_string();
    let trusted = std::fs::read_to_string(&config).unwrap();
    assert!(trusted.starts_with(before), "{trusted}");
    assert!(trusted.contains("[mcp_servers.kioku_mesh]"), "{trusted}");
    for key in ["session_start:1:0", "user_prompt_submit:0:0", "stop:0:0"] {
        assert!(
            trusted.contains(&format!(
                "[hooks.state.\"{key_path}:{key}\"]\ntrusted_hash = \"sha256:"
            )),
            "{key}: {trusted}"
        );
    }
    assert!(!trusted.contains("session_start:0:0"), "{trusted}");
    let written = std::fs::read_to_string(&hooks).unwrap();

    let again = s.km(&[
        "mcp",
        "install",
        "--client",
        "codex-cli",
        "--force",
        "--with-hooks",
    ]);
    let text = again.ok().to_owned();
    assert!(
        text.contains(&format!(
            "hooks already in {}\nhooks already trusted in {}",
            hooks.display(),
            config.display()
        )),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&hooks).unwrap(), written);
    assert_eq!(
        std::fs::read_to_string(&config)
            .unwrap()
            .matches("trusted_hash")
            .count(),
        3
    );

    std::fs::write(&hooks, "{ \"hooks\": ").unwrap();
    let bad = s.km(&[
        "mcp",
        "install",
        "--client",
        "codex-cli",
        "--force",
        "--with-hooks",
    ]);
    assert!(
        bad.fails_with(1)
            .contains(&format!("error: cannot parse {} as JSON", hooks.display())),
        "{}",
        bad.stderr
    );
    assert_eq!(std::fs::read_to_string(&hooks).unwrap(), "{ \"hooks\": ");
}
