//! Where kioku-mesh keeps its state and configuration on disk.
//!
//! State: `KIOKU_MESH_STATE_DIR` when set, else `~/.local/share/kioku-mesh`
//! on Linux. Configuration: `${XDG_CONFIG_HOME:-~/.config}/kioku-mesh`.
//! Both fall back to a legacy `mesh-mem` directory when only that exists, so
//! hosts that ran the reference under its old name keep their data.

use std::path::{Path, PathBuf};

use crate::environment::Environment;
use crate::error::{CoreError, Result};

/// The directory name under the platform base directories.
pub const APP_DIR: &str = "kioku-mesh";
const LEGACY_APP_DIR: &str = "mesh-mem";

/// Environment variable that moves the state directory.
pub const STATE_DIR_ENV: &str = "KIOKU_MESH_STATE_DIR";

/// Resolved locations of kioku-mesh's files. Nothing is created here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Writable state: pc_id, databases, queues.
    pub state_dir: PathBuf,
    /// Configuration: config.yaml, daemon config, TLS material.
    pub config_dir: PathBuf,
}

impl Paths {
    /// Resolve both directories from `env` without touching the filesystem
    /// beyond checking which candidate directories exist.
    pub fn resolve(env: &Environment) -> Result<Self> {
        let state_dir = state_dir(env)?;
        // Without a home, configuration lives beside the state rather than
        // making every command fail (service managers may not set HOME).
        let config_dir = config_dir(env).unwrap_or_else(|_| state_dir.join("config"));
        Ok(Self {
            state_dir,
            config_dir,
        })
    }

    /// Paths rooted at explicit directories (for embedding and tests).
    pub fn at(state_dir: impl Into<PathBuf>, config_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            config_dir: config_dir.into(),
        }
    }

    /// The global configuration file, `config.yaml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.yaml")
    }

    /// The local-mode database: raw observations, tombstones and the index.
    pub fn local_db(&self) -> PathBuf {
        self.state_dir.join("local").join("raw.db")
    }

    /// The mesh-mode read index: a mirror of what this host's daemon
    /// stores, plus the search index over it. Disposable: it is rebuilt
    /// from the mesh when missing.
    pub fn mesh_index_db(&self) -> PathBuf {
        self.state_dir.join("mesh").join("index.db")
    }

    /// The mesh-mode queue of writes the daemon has not confirmed yet. Not
    /// disposable: it holds saves that exist nowhere else.
    pub fn pending_db(&self) -> PathBuf {
        self.state_dir.join("mesh").join("pending.db")
    }

    /// The RocksDB root the daemon's storages live under.
    pub fn rocksdb_root(&self) -> PathBuf {
        self.state_dir.clone()
    }

    /// The daemon's Zenoh configuration, in zenohd's JSON5 format.
    pub fn daemon_config_file(&self) -> PathBuf {
        self.config_dir.join("zenohd.json5")
    }

    /// The persisted host id.
    pub fn pc_id_file(&self) -> PathBuf {
        self.state_dir.join("pc_id")
    }

    /// Create the state directory (and parents) if needed.
    pub fn ensure_state_dir(&self) -> Result<&Path> {
        create_dir(&self.state_dir, "state", STATE_DIR_ENV)?;
        Ok(&self.state_dir)
    }

    /// Create the configuration directory (and parents) if needed.
    pub fn ensure_config_dir(&self) -> Result<&Path> {
        create_dir(&self.config_dir, "config", "XDG_CONFIG_HOME")?;
        Ok(&self.config_dir)
    }
}

/// Create `dir` and its parents, mapping failure to an actionable error.
pub fn create_dir(dir: &Path, what: &'static str, env_var: &'static str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| CoreError::CreateDir {
        what,
        path: dir.to_path_buf(),
        env_var,
        source,
    })
}

fn state_dir(env: &Environment) -> Result<PathBuf> {
    // An empty value means "unset", matching the reference (set "." for cwd).
    if let Some(dir) = env.raw_var(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(dir);
        return Ok(if p.is_absolute() {
            p
        } else {
            env.cwd().join(p)
        });
    }
    let home = env.home().ok_or(CoreError::NoHome)?;
    Ok(app_dir_under(&platform_data_base(home)))
}

fn config_dir(env: &Environment) -> Result<PathBuf> {
    let base = match env.var("XDG_CONFIG_HOME") {
        Some(xdg) => PathBuf::from(xdg),
        None => env.home().ok_or(CoreError::NoHome)?.join(".config"),
    };
    Ok(app_dir_under(&base))
}

#[cfg(target_os = "macos")]
fn platform_data_base(home: &Path) -> PathBuf {
    home.join("Library").join("Application Support")
}

#[cfg(not(target_os = "macos"))]
fn platform_data_base(home: &Path) -> PathBuf {
    // XDG_DATA_HOME is deliberately not honoured: the reference fixed this
    // base so that upgrades never silently move a host's store.
    home.join(".local").join("share")
}

/// `base/kioku-mesh`, unless only the legacy `base/mesh-mem` exists.
fn app_dir_under(base: &Path) -> PathBuf {
    let current = base.join(APP_DIR);
    let legacy = base.join(LEGACY_APP_DIR);
    if !current.exists() && legacy.exists() {
        tracing::warn!(
            "using legacy path {}; kioku-mesh now prefers {}. Migrate with: mv {} {}",
            legacy.display(),
            current.display(),
            legacy.display(),
            current.display()
        );
        return legacy;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_env_wins_and_empty_means_unset() {
        let home = tempfile::tempdir().unwrap();
        let env = Environment::empty("/", Some(home.path().to_path_buf()))
            .with_var(STATE_DIR_ENV, "/srv/km");
        assert_eq!(
            Paths::resolve(&env).unwrap().state_dir,
            PathBuf::from("/srv/km")
        );
        let env = env.with_var(STATE_DIR_ENV, "");
        assert_eq!(
            Paths::resolve(&env).unwrap().state_dir,
            home.path().join(".local/share/kioku-mesh")
        );
    }

    #[test]
    fn relative_state_dir_is_taken_from_the_working_directory() {
        let env = Environment::empty("/work", None).with_var(STATE_DIR_ENV, "st");
        assert_eq!(
            Paths::resolve(&env).unwrap().state_dir,
            PathBuf::from("/work/st")
        );
    }

    #[test]
    fn legacy_directory_is_used_only_when_alone() {
        let home = tempfile::tempdir().unwrap();
        let share = home.path().join(".local/share");
        std::fs::create_dir_all(share.join("mesh-mem")).unwrap();
        let env = Environment::empty("/", Some(home.path().to_path_buf()));
        assert_eq!(
            Paths::resolve(&env).unwrap().state_dir,
            share.join("mesh-mem")
        );
        std::fs::create_dir_all(share.join("kioku-mesh")).unwrap();
        assert_eq!(
            Paths::resolve(&env).unwrap().state_dir,
            share.join("kioku-mesh")
        );
    }

    #[test]
    fn xdg_config_home_moves_the_config_dir() {
        let env =
            Environment::empty("/", Some(PathBuf::from("/h"))).with_var("XDG_CONFIG_HOME", "/cfg");
        assert_eq!(
            Paths::resolve(&env).unwrap().config_dir,
            PathBuf::from("/cfg/kioku-mesh")
        );
        let env = Environment::empty("/", Some(PathBuf::from("/h")));
        assert_eq!(
            Paths::resolve(&env).unwrap().config_dir,
            PathBuf::from("/h/.config/kioku-mesh")
        );
    }

    #[test]
    fn missing_home_is_an_actionable_error() {
        let env = Environment::empty("/", None);
        let err = Paths::resolve(&env).unwrap_err().to_string();
        assert!(err.contains("KIOKU_MESH_STATE_DIR"), "{err}");
    }
}
