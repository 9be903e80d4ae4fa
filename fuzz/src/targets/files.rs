//! Targets for what users write by hand: `config.yaml`, `.kioku-mesh.yaml`,
//! the daemon's JSON5 configuration, scope labels and endpoint specs.

use std::fs;
use std::path::PathBuf;

use mesh_core::daemon_config::{self, StorageScope};
use mesh_core::session::DaemonConfig;
use mesh_core::{Environment, Paths, Settings, Visibility};
use tempfile::TempDir;

use super::tokens;
use crate::engine::{Target, outcome, signature};

/// The separator between the two files in one input.
const SPLIT: &[u8] = b"\n%%\n";

/// `config.yaml` and `.kioku-mesh.yaml`, read through [`Settings`] exactly
/// as every command reads them (from files, in a scratch directory).
pub struct Config {
    dir: TempDir,
    project: PathBuf,
}

impl Config {
    /// A scratch directory for the two files.
    pub fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kioku-fuzz-config")
            .tempdir()?;
        let project = dir.path().join("project");
        fs::create_dir_all(&project)?;
        fs::create_dir_all(dir.path().join("config"))?;
        Ok(Self { dir, project })
    }
}

impl Target for Config {
    fn name(&self) -> &'static str {
        "config"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "backend: mesh\nuser_id: alice\nteam_id: core\ndefault_visibility: user\nstorage_scopes:\n  - mesh\n  - user/alice\nproject_aliases:\n  old: new\ntmux:\n  enabled: true\n  session: agents\n%%\nteam_id: core\ndefault_visibility: team\n",
            "backend: local\n%%\n",
            "storage_scopes: [mesh, team/core]\n# comment\n%%\ndefault_visibility: mesh\n",
            "project_aliases: {a: b, c: d}\n%%\nuser_id: mallory\n",
        ])
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "backend: ",
            "user_id: ",
            "team_id: ",
            "default_visibility: ",
            "storage_scopes:",
            "project_aliases:",
            "tmux:",
            "\n  - ",
            "\n",
            ": ",
            "[",
            "]",
            "{",
            "}",
            "&a ",
            "*a",
            "!!str ",
            "!!binary ",
            "---\n",
            "...\n",
            "|\n  ",
            ">-\n  ",
            "? ",
            "~",
            "null",
            "yes",
            "0x1F",
            "'",
            "\"",
            "#",
            "%%",
        ])
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let (global, project) = match input.windows(SPLIT.len()).position(|w| w == SPLIT) {
            Some(at) => (&input[..at], &input[at + SPLIT.len()..]),
            None => (input, &[][..]),
        };
        let config_dir = self.dir.path().join("config");
        let project_file = self.project.join(".kioku-mesh.yaml");
        if fs::write(config_dir.join("config.yaml"), global).is_err()
            || fs::write(&project_file, project).is_err()
        {
            return 0;
        }
        let env = Environment::empty(&self.project, None);
        let paths = Paths::at(self.dir.path().join("state"), &config_dir);
        let settings = Settings::load_with_paths(&env, paths);
        if let Ok(s) = &settings {
            let _ = daemon_config::declared_scopes(s);
            for explicit in [
                None,
                Some(Visibility::Mesh),
                Some(Visibility::User),
                Some(Visibility::Team),
            ] {
                if let Ok((_, scope_id)) = s.resolve_write_visibility(explicit) {
                    assert!(
                        !scope_id.contains('/'),
                        "a scope id must never hold a key separator"
                    );
                }
            }
        }
        outcome("config", &settings, |s| {
            signature(&[
                s.backend.as_str().as_bytes(),
                &[
                    u8::from(s.user_id.is_some()),
                    u8::from(s.team_id.is_some()),
                    s.storage_scopes.len().min(8) as u8,
                    s.project_aliases.len().min(8) as u8,
                ],
            ])
        })
    }
}

/// The daemon's configuration file (`serve --config`), zenohd's JSON5.
pub struct DaemonJson5;

impl Target for DaemonJson5 {
    fn name(&self) -> &'static str {
        "daemon_config"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        let scopes = [StorageScope::mesh()];
        let hub = daemon_config::render_daemon_config(
            daemon_config::MeshRole::Hub,
            &["tcp/0.0.0.0:7447".to_owned()],
            &[],
            &scopes,
            None,
        );
        let spoke = daemon_config::render_daemon_config(
            daemon_config::MeshRole::Spoke,
            &["tcp/127.0.0.1:0".to_owned()],
            &["tcp/10.0.0.1:7447".to_owned()],
            &scopes,
            None,
        );
        vec![
            hub.into_bytes(),
            spoke.into_bytes(),
            b"{}".to_vec(),
            b"{mode: 'router', // c\n}".to_vec(),
        ]
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "mode: ",
            "'router'",
            "'peer'",
            "'client'",
            "listen: ",
            "connect: ",
            "endpoints: ",
            "plugins: ",
            "storage_manager: ",
            "storages: ",
            "key_expr: ",
            "volume: ",
            "\"rocksdb\"",
            "[",
            "]",
            "{",
            "}",
            "//",
            "/*",
            "*/",
            ",",
            "Infinity",
            "0x",
            "'",
            "\"",
        ])
    }
    fn max_len(&self) -> usize {
        8192
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let parsed = DaemonConfig::from_json5(&String::from_utf8_lossy(input));
        outcome("daemon_config", &parsed, |_| 0)
    }
}

/// Scope labels (`storage_scopes`, `--scope`) and endpoint specs
/// (`--connect`, `--listen`).
pub struct ScopeAndEndpoint;

impl Target for ScopeAndEndpoint {
    fn name(&self) -> &'static str {
        "scope_endpoint"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "mesh",
            "user/alice",
            "team/core.team-1",
            "10.0.0.1",
            "hub.local:7448",
            "tls/[::1]:7447",
            "fe80::1",
        ])
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "tcp/", "tls/", "udp/", "quic/", "user/", "team/", ":", "[", "]", "65535", "65536",
            "0", "/", ".",
        ])
    }
    fn max_len(&self) -> usize {
        256
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let text = String::from_utf8_lossy(input);
        let scope = StorageScope::parse(&text);
        if let Ok(s) = &scope {
            assert_eq!(
                StorageScope::parse(&s.label()).as_ref().ok(),
                Some(s),
                "a label must parse to its scope"
            );
            let key_expr = s.key_expr();
            assert!(
                !key_expr.contains("//"),
                "a scope must not make an empty key segment: {key_expr}"
            );
        }
        let endpoint = daemon_config::normalize_endpoint(&text);
        if let Ok(e) = &endpoint {
            assert_eq!(
                daemon_config::normalize_endpoint(e).as_ref().ok(),
                Some(e),
                "normalising an endpoint twice must change nothing"
            );
        }
        signature(&[
            &outcome("scope", &scope, |s| {
                signature(&[s.visibility().as_str().as_bytes()])
            })
            .to_le_bytes(),
            &outcome("endpoint", &endpoint, |e| {
                signature(&[e.split('/').next().unwrap_or("").as_bytes()])
            })
            .to_le_bytes(),
        ])
    }
}
