//! One YAML configuration file (`config.yaml` or `.kioku-mesh.yaml`) and
//! typed reads of its fields, each failure naming the file and the field.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::config::TmuxAdapterConfig;
use crate::error::{CoreError, Result};

/// One parsed YAML configuration file.
#[derive(Debug, Default)]
pub(crate) struct ConfigDoc {
    path: Option<PathBuf>,
    root: Option<yaml_rust2::yaml::Hash>,
}

impl ConfigDoc {
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(CoreError::Io {
                    action: "cannot read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let docs = YamlLoader::load_from_str(&text).map_err(|e| CoreError::ConfigSyntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let root = match docs.into_iter().next() {
            None | Some(Yaml::Null) => None,
            Some(Yaml::Hash(h)) => Some(h),
            Some(_) => {
                return Err(CoreError::ConfigSyntax {
                    path: path.to_path_buf(),
                    message: "the top level must be a mapping of keys to values".to_owned(),
                });
            }
        };
        Ok(Self {
            path: Some(path.to_path_buf()),
            root,
        })
    }

    pub(crate) fn origin(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "default".to_owned(), |p| p.display().to_string())
    }

    pub(crate) fn get(&self, field: &str) -> Option<&Yaml> {
        self.root
            .as_ref()?
            .get(&Yaml::String(field.to_owned()))
            .filter(|v| !v.is_null())
    }

    pub(crate) fn bad(&self, field: &str, problem: &str) -> CoreError {
        CoreError::ConfigValue {
            origin: self.origin(),
            field: field.to_owned(),
            problem: problem.to_owned(),
        }
    }

    /// A scalar as text; `None` when absent or blank.
    pub(crate) fn string(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                .ok_or_else(|| self.bad(field, "must be a single value, not a list or mapping")),
        }
    }

    pub(crate) fn string_list(&self, field: &str) -> Result<Option<Vec<String>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Yaml::Array(items)) => items
                .iter()
                .map(|i| scalar_text(i).ok_or_else(|| self.bad(field, "must be a list of strings")))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.bad(field, "must be a list of strings")),
        }
    }

    pub(crate) fn string_map(&self, field: &str) -> Result<Vec<(String, String)>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Yaml::Hash(h)) => h
                .iter()
                .map(|(k, v)| match (scalar_text(k), scalar_text(v)) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err(self.bad(field, "must map names to names")),
                })
                .collect(),
            Some(_) => Err(self.bad(field, "must map names to names")),
        }
    }

    pub(crate) fn tmux(&self) -> Result<TmuxAdapterConfig> {
        let mut cfg = TmuxAdapterConfig::default();
        let Some(messaging) = self.get("messaging") else {
            return Ok(cfg);
        };
        let Some(tmux) = messaging["tmux"].as_hash() else {
            return Ok(cfg);
        };
        let field = |name: &str| tmux.get(&Yaml::String(name.to_owned()));
        let list = |name: &str| -> Result<Option<Vec<String>>> {
            match field(name) {
                None | Some(Yaml::Null) => Ok(None),
                Some(Yaml::Array(items)) => items
                    .iter()
                    .map(|i| {
                        scalar_text(i).ok_or_else(|| {
                            self.bad(
                                &format!("messaging.tmux.{name}"),
                                "must be a list of strings",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some),
                Some(_) => Err(self.bad(
                    &format!("messaging.tmux.{name}"),
                    "must be a list of strings",
                )),
            }
        };
        if let Some(v) = field("enabled") {
            cfg.enabled = v
                .as_bool()
                .ok_or_else(|| self.bad("messaging.tmux.enabled", "must be true or false"))?;
        }
        if let Some(v) = list("pane_allowlist")? {
            cfg.pane_allowlist = v;
        }
        if let Some(v) = list("sender_allowlist")? {
            cfg.sender_allowlist = v;
        }
        if let Some(v) = list("scope_allowlist")? {
            cfg.scope_allowlist = v;
        }
        if let Some(v) = field("max_body_bytes") {
            cfg.max_body_bytes =
                v.as_i64()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| {
                        self.bad(
                            "messaging.tmux.max_body_bytes",
                            "must be a positive integer",
                        )
                    })?;
        }
        Ok(cfg)
    }
}

fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
