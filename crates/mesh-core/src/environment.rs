//! A snapshot of the process environment: variables, working directory, home.
//!
//! Configuration and identity are resolved from an [`Environment`] value
//! rather than from the live process so that resolution is a pure function,
//! testable without touching global state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The inputs that configuration and identity resolution read.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    cwd: PathBuf,
    home: Option<PathBuf>,
}

impl Environment {
    /// Capture the current process's variables, working directory and home.
    pub fn from_process() -> Self {
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let home = vars
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir);
        Self { vars, cwd, home }
    }

    /// An environment with no variables, the given working directory and home.
    pub fn empty(cwd: impl Into<PathBuf>, home: Option<PathBuf>) -> Self {
        Self {
            vars: BTreeMap::new(),
            cwd: cwd.into(),
            home,
        }
    }

    /// Return a copy with `name` set to `value`.
    #[must_use]
    pub fn with_var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The raw value of `name`, if set (possibly empty).
    pub fn raw_var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The value of `name` with surrounding whitespace removed, or `None`
    /// when it is unset or blank. Blank counts as unset, as in the reference.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// True when `name` is set to a non-blank value.
    pub fn is_set(&self, name: &str) -> bool {
        self.var(name).is_some()
    }

    /// The working directory the project configuration is searched from.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The user's home directory, when known.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }
}
