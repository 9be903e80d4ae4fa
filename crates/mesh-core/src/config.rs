//! Settings from `config.yaml`, the project's `.kioku-mesh.yaml` and the
//! environment, resolved in the reference's order.
//!
//! | setting              | order (first wins)                                  |
//! |----------------------|-----------------------------------------------------|
//! | backend              | `KIOKU_MESH_BACKEND`, config.yaml, `local`          |
//! | user_id              | `KIOKU_MESH_USER_ID`, config.yaml                   |
//! | team_id              | `KIOKU_MESH_TEAM_ID`, project file, config.yaml     |
//! | default_visibility   | `KIOKU_MESH_DEFAULT_VISIBILITY`, project, global, `mesh` |
//!
//! A project file may be committed to a repository, so it can never set
//! `user_id`: cloning a repository must not redirect your writes into
//! somebody else's user scope.
//!
//! The one deliberate difference from the reference: with no configuration
//! at all the backend is `local`, so a fresh machine works without set-up.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::config_doc::ConfigDoc;
use crate::environment::Environment;
use crate::error::{CoreError, Result};
use crate::keyspace::{Visibility, validate_scope_slug};
use crate::paths::Paths;

/// The project configuration file searched upward from the working directory.
pub const PROJECT_CONFIG_NAME: &str = ".kioku-mesh.yaml";

/// Where observations are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendMode {
    /// One SQLite database on this host, no daemon.
    #[default]
    Local,
    /// A Zenoh mesh through the host's `kioku-mesh serve` daemon.
    Zenoh,
}

impl BackendMode {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Zenoh => "zenoh",
        }
    }

    fn parse(value: &str, origin: &str) -> Result<Self> {
        match value {
            "local" => Ok(Self::Local),
            "zenoh" => Ok(Self::Zenoh),
            other => Err(CoreError::ConfigValue {
                origin: origin.to_owned(),
                field: "backend".to_owned(),
                problem: format!("must be 'local' or 'zenoh'; got '{other}'"),
            }),
        }
    }
}

impl fmt::Display for BackendMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The opt-in tmux delivery adapter of messaging (off unless enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmuxAdapterConfig {
    /// Whether bodies may be typed into panes at all.
    pub enabled: bool,
    /// Panes that may receive messages.
    pub pane_allowlist: Vec<String>,
    /// Senders whose messages may be delivered.
    pub sender_allowlist: Vec<String>,
    /// Scopes whose messages may be delivered.
    pub scope_allowlist: Vec<String>,
    /// Largest body typed into a pane, in UTF-8 bytes.
    pub max_body_bytes: u64,
}

impl Default for TmuxAdapterConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            pane_allowlist: Vec::new(),
            sender_allowlist: Vec::new(),
            scope_allowlist: vec!["user".to_owned()],
            max_body_bytes: 8192,
        }
    }
}

/// Every setting, resolved once per process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// State and config directories.
    pub paths: Paths,
    /// Which store to use.
    pub backend: BackendMode,
    /// Where the backend setting came from.
    pub backend_origin: String,
    /// The user scope id, if set (a blank value counts as unset). Checked
    /// when a key is built from it, so a bad id fails the write that uses
    /// it with the reference's message, not every command.
    pub user_id: Option<String>,
    /// The team scope id, if set (a blank value counts as unset).
    pub team_id: Option<String>,
    /// The visibility of writes that do not name one; parsed when a write
    /// uses it, as the reference does, so a bad value fails only writes.
    pub default_visibility: String,
    /// Where `default_visibility` came from.
    pub default_visibility_origin: String,
    /// Scopes this host stores (`mesh`, `user/<id>`, `team/<id>`).
    pub storage_scopes: Vec<String>,
    /// Extra project aliases: legacy name to canonical name.
    pub project_aliases: Vec<(String, String)>,
    /// The project file in effect, if any.
    pub project_file: Option<PathBuf>,
    /// Messaging's tmux adapter.
    pub tmux: TmuxAdapterConfig,
}

impl Settings {
    /// Resolve every setting from `env` and the configuration files.
    pub fn load(env: &Environment) -> Result<Self> {
        let paths = Paths::resolve(env)?;
        Self::load_with_paths(env, paths)
    }

    /// Resolve settings with explicit directories.
    pub fn load_with_paths(env: &Environment, paths: Paths) -> Result<Self> {
        let global_path = paths.config_file();
        let global = ConfigDoc::read(&global_path)?;
        let project_file = find_project_config(env.cwd());
        let project = match &project_file {
            Some(p) => ConfigDoc::read(p)?,
            None => ConfigDoc::default(),
        };

        let (backend, backend_origin) = match env.var("KIOKU_MESH_BACKEND") {
            Some(v) => (
                BackendMode::parse(v, "KIOKU_MESH_BACKEND")?,
                "KIOKU_MESH_BACKEND".to_owned(),
            ),
            None => match global.string("backend")? {
                Some(v) => (BackendMode::parse(&v, &global.origin())?, global.origin()),
                None => (BackendMode::Local, "default".to_owned()),
            },
        };

        let user_id = env
            .var("KIOKU_MESH_USER_ID")
            .map(str::to_owned)
            .or(global.string("user_id")?)
            .filter(|v| !v.trim().is_empty());
        let team_id = first_of(
            env.var("KIOKU_MESH_TEAM_ID"),
            &[&project, &global],
            "team_id",
        )?
        .map(|(v, _)| v)
        .filter(|v| !v.trim().is_empty());
        let (default_visibility, default_visibility_origin) =
            match env.var("KIOKU_MESH_DEFAULT_VISIBILITY") {
                Some(v) => (v.to_owned(), "KIOKU_MESH_DEFAULT_VISIBILITY".to_owned()),
                None => first_of(None, &[&project, &global], "default_visibility")?
                    .unwrap_or_else(|| ("mesh".to_owned(), "default".to_owned())),
            };

        let storage_scopes = global.string_list("storage_scopes")?.unwrap_or_default();
        let project_aliases = global.string_map("project_aliases")?;
        let tmux = global.tmux()?;

        Ok(Self {
            paths,
            backend,
            backend_origin,
            user_id,
            team_id,
            default_visibility,
            default_visibility_origin,
            storage_scopes,
            project_aliases,
            project_file,
            tmux,
        })
    }

    /// Resolve `(visibility, scope_id)` for a new write. An explicit value
    /// (CLI flag or tool argument) wins over the configured default; scope
    /// ids come from configuration only, never from the caller.
    pub fn resolve_write_visibility(
        &self,
        explicit: Option<Visibility>,
    ) -> Result<(Visibility, String)> {
        let visibility = match explicit {
            Some(v) => v,
            None => Visibility::for_write(&self.default_visibility)?,
        };
        let scope_id = match visibility {
            Visibility::User => {
                let Some(user_id) = &self.user_id else {
                    return Err(CoreError::MissingScopeId {
                        visibility: "user",
                        field: "user_id",
                        env_var: "KIOKU_MESH_USER_ID",
                        where_to: format!(
                            "{} (use the same value on all your machines)",
                            self.paths.config_file().display()
                        ),
                    });
                };
                user_id.clone()
            }
            Visibility::Team => {
                let Some(team_id) = &self.team_id else {
                    return Err(CoreError::MissingScopeId {
                        visibility: "team",
                        field: "team_id",
                        env_var: "KIOKU_MESH_TEAM_ID",
                        where_to: format!(
                            "{PROJECT_CONFIG_NAME} (project) or {}",
                            self.paths.config_file().display()
                        ),
                    });
                };
                team_id.clone()
            }
            Visibility::Mesh | Visibility::Legacy => String::new(),
        };
        if visibility.is_scoped() {
            validate_scope_slug(visibility, &scope_id)?;
        }
        Ok((visibility, scope_id))
    }
}

/// The human form of a scope for save messages: `mesh`, `user/alice`.
pub fn format_visibility(visibility: Visibility, scope_id: &str) -> String {
    match (visibility, scope_id) {
        (Visibility::Legacy, _) => "legacy".to_owned(),
        (v, "") => v.as_str().to_owned(),
        (v, id) => format!("{}/{id}", v.as_str()),
    }
}

/// The nearest `.kioku-mesh.yaml` from `start` upward.
pub fn find_project_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(PROJECT_CONFIG_NAME))
        .find(|candidate| candidate.is_file())
}

/// Set the top-level `backend:` key of `config.yaml`, keeping every other
/// line (and comment) of the file. Returns the file written.
pub fn write_backend(paths: &Paths, backend: BackendMode) -> Result<PathBuf> {
    let path = paths.config_file();
    let existing = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(CoreError::Io {
                action: "cannot read",
                path,
                source,
            });
        }
    };
    let line = format!("backend: {}", backend.as_str());
    let mut replaced = false;
    let mut lines: Vec<String> = existing
        .lines()
        .map(|l| {
            if !replaced && l.starts_with("backend:") {
                replaced = true;
                line.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !replaced {
        lines.insert(0, line);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    paths.ensure_config_dir()?;
    write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// Write `bytes` to `path` through a synced temporary file and a rename, so
/// a reader sees the old file or the new one, never a torn one. An existing
/// file's permissions carry over.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| CoreError::Io {
            action,
            path: p,
            source,
        }
    };
    let mut file = fs::File::create(&tmp).map_err(io("cannot write", &tmp))?;
    file.write_all(bytes).map_err(io("cannot write", &tmp))?;
    file.sync_all().map_err(io("cannot write", &tmp))?;
    drop(file);
    if let Ok(meta) = fs::metadata(path) {
        let _ = fs::set_permissions(&tmp, meta.permissions());
    }
    fs::rename(&tmp, path).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        CoreError::Io {
            action: "cannot replace",
            path: path.to_path_buf(),
            source,
        }
    })
}

fn first_of(
    env_value: Option<&str>,
    docs: &[&ConfigDoc],
    field: &str,
) -> Result<Option<(String, String)>> {
    if let Some(v) = env_value {
        return Ok(Some((v.to_owned(), "env".to_owned())));
    }
    for doc in docs {
        if let Some(v) = doc.string(field)? {
            return Ok(Some((v, doc.origin())));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        home: PathBuf,
        project: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("repo/sub/dir");
        fs::create_dir_all(&project).unwrap();
        fs::create_dir_all(home.join(".config/kioku-mesh")).unwrap();
        Fixture {
            _dir: dir,
            home,
            project,
        }
    }

    impl Fixture {
        fn env(&self) -> Environment {
            Environment::empty(&self.project, Some(self.home.clone()))
        }
        fn global(&self, text: &str) {
            fs::write(self.home.join(".config/kioku-mesh/config.yaml"), text).unwrap();
        }
        fn project_file(&self, text: &str) {
            // Two levels above the working directory: found by walking up.
            fs::write(self.project.join("../..").join(PROJECT_CONFIG_NAME), text).unwrap();
        }
    }

    #[test]
    fn zero_configuration_means_local_and_mesh() {
        let f = fixture();
        let s = Settings::load(&f.env()).unwrap();
        assert_eq!(s.backend, BackendMode::Local);
        assert_eq!(s.default_visibility, "mesh");
        assert_eq!(
            s.resolve_write_visibility(None).unwrap(),
            (Visibility::Mesh, String::new())
        );
    }

    #[test]
    fn resolution_order_matches_the_reference() {
        let f = fixture();
        f.global("backend: zenoh\nuser_id: g-user\nteam_id: g-team\ndefault_visibility: user\n");
        f.project_file("team_id: p-team\ndefault_visibility: team\nuser_id: evil\n");
        let s = Settings::load(&f.env()).unwrap();
        assert_eq!(s.backend, BackendMode::Zenoh);
        assert_eq!(
            s.user_id.as_deref(),
            Some("g-user"),
            "a project file never sets user_id"
        );
        assert_eq!(s.team_id.as_deref(), Some("p-team"));
        assert_eq!(s.default_visibility, "team");

        let e = f
            .env()
            .with_var("KIOKU_MESH_TEAM_ID", "e-team")
            .with_var("KIOKU_MESH_USER_ID", "e-user")
            .with_var("KIOKU_MESH_DEFAULT_VISIBILITY", "mesh")
            .with_var("KIOKU_MESH_BACKEND", "local");
        let s = Settings::load(&e).unwrap();
        assert_eq!(
            (s.backend, s.user_id.as_deref(), s.team_id.as_deref()),
            (BackendMode::Local, Some("e-user"), Some("e-team"))
        );
        assert_eq!(s.default_visibility, "mesh");
    }

    #[test]
    fn scoped_writes_need_their_ids() {
        let f = fixture();
        let s = Settings::load(&f.env()).unwrap();
        let err = s
            .resolve_write_visibility(Some(Visibility::User))
            .unwrap_err()
            .to_string();
        assert!(err.contains("KIOKU_MESH_USER_ID"), "{err}");
        let err = s
            .resolve_write_visibility(Some(Visibility::Team))
            .unwrap_err()
            .to_string();
        assert!(err.contains("KIOKU_MESH_TEAM_ID"), "{err}");
        let err = Visibility::for_write("galaxy").unwrap_err().to_string();
        assert!(err.contains("'galaxy'"), "{err}");
    }

    #[test]
    fn scope_ids_that_would_inject_into_keys_are_refused() {
        let f = fixture();
        for bad in ["a/b", "a*", "$x", "a#", "a?b", "-lead"] {
            let e = f.env().with_var("KIOKU_MESH_USER_ID", bad);
            let s = Settings::load(&e).unwrap();
            let err = s
                .resolve_write_visibility(Some(Visibility::User))
                .unwrap_err()
                .to_string();
            assert!(err.contains("scope_id"), "{bad}: {err}");
        }
        let e = f.env().with_var("KIOKU_MESH_TEAM_ID", "core/x");
        let s = Settings::load(&e).unwrap();
        assert!(s.resolve_write_visibility(Some(Visibility::Team)).is_err());
    }

    #[test]
    fn malformed_files_are_errors_that_name_the_file() {
        let f = fixture();
        f.global("backend: [local\n");
        let err = Settings::load(&f.env()).unwrap_err().to_string();
        assert!(
            err.contains("config.yaml") && err.contains("not valid YAML"),
            "{err}"
        );
        f.global("- a\n- b\n");
        assert!(Settings::load(&f.env()).is_err());
        f.global("backend: sqlite\n");
        let err = Settings::load(&f.env()).unwrap_err().to_string();
        assert!(err.contains("'local' or 'zenoh'"), "{err}");
        f.global("");
        assert!(Settings::load(&f.env()).is_ok(), "an empty file is fine");
    }

    #[test]
    fn format_visibility_matches_the_reference() {
        assert_eq!(format_visibility(Visibility::Mesh, ""), "mesh");
        assert_eq!(format_visibility(Visibility::User, "hw"), "user/hw");
        assert_eq!(format_visibility(Visibility::Legacy, ""), "legacy");
    }

    #[test]
    fn write_backend_keeps_the_rest_of_the_file() {
        let f = fixture();
        f.global("# mine\nuser_id: me\nbackend: zenoh\n");
        let paths = Paths::resolve(&f.env()).unwrap();
        write_backend(&paths, BackendMode::Local).unwrap();
        let text = fs::read_to_string(paths.config_file()).unwrap();
        assert_eq!(text, "# mine\nuser_id: me\nbackend: local\n");
        fs::remove_file(paths.config_file()).unwrap();
        write_backend(&paths, BackendMode::Local).unwrap();
        assert_eq!(
            fs::read_to_string(paths.config_file()).unwrap(),
            "backend: local\n"
        );
    }

    #[test]
    fn tmux_adapter_defaults_off() {
        let f = fixture();
        f.global("messaging:\n  tmux:\n    enabled: true\n    pane_allowlist: ['%1']\n");
        let s = Settings::load(&f.env()).unwrap();
        assert!(s.tmux.enabled);
        assert_eq!(s.tmux.pane_allowlist, vec!["%1"]);
        assert_eq!(s.tmux.scope_allowlist, vec!["user"]);
        assert_eq!(s.tmux.max_body_bytes, 8192);
    }
}
