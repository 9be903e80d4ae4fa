//! Who is writing: agent family, client id, host id and session id.
//!
//! Identity is resolved by the process, never taken from a tool argument:
//! an agent cannot claim to be someone else. Values that come from the
//! environment are checked before they reach a key (see [`crate::keyspace`]).

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::environment::Environment;
use crate::error::{CoreError, Result};
use crate::keyspace::validate_key_segment;
use crate::paths::{Paths, STATE_DIR_ENV, create_dir};

/// Variable naming the agent family explicitly.
pub const AGENT_FAMILY_ENV: &str = "KIOKU_MESH_AGENT_FAMILY";
/// Variable naming the client id explicitly.
pub const CLIENT_ID_ENV: &str = "KIOKU_MESH_CLIENT_ID";
/// Variable fixing the session id.
pub const SESSION_ID_ENV: &str = "KIOKU_MESH_SESSION_ID";

/// Markers that launchers set on the processes they spawn. Only names a
/// launcher owns belong here: a marker a person might export by hand would
/// mislabel observations, which is worse than `unknown`.
const LAUNCHER_MARKERS: &[(&str, &[&str])] = &[
    ("claude", &["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"]),
    ("codex", &["CODEX_SANDBOX"]),
    ("gemini", &["GEMINI_CLI", "GEMINI_SANDBOX"]),
];

/// Where an identity value came from (shown by `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// An environment variable.
    Env,
    /// A launcher's marker variables.
    Detected,
    /// The built-in default.
    Default,
}

/// Result of looking for launcher markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// No launcher marker is set.
    None,
    /// Markers of exactly one family are set.
    Family(&'static str),
    /// Markers of several families are set (nested agents): no guess.
    Ambiguous(Vec<&'static str>),
}

/// The launcher family implied by marker variables.
pub fn detect_agent_family(env: &Environment) -> Detection {
    let found: Vec<&'static str> = LAUNCHER_MARKERS
        .iter()
        .filter(|(_, markers)| markers.iter().any(|m| env.is_set(m)))
        .map(|(family, _)| *family)
        .collect();
    match found.as_slice() {
        [] => Detection::None,
        [one] => Detection::Family(one),
        _ => Detection::Ambiguous(found),
    }
}

/// Resolve the agent family: the variable, else detection, else `unknown`.
pub fn resolve_agent_family(env: &Environment) -> (String, IdentitySource) {
    if let Some(v) = env.var(AGENT_FAMILY_ENV) {
        return (v.to_owned(), IdentitySource::Env);
    }
    match detect_agent_family(env) {
        Detection::Family(f) => return (f.to_owned(), IdentitySource::Detected),
        Detection::Ambiguous(families) => tracing::warn!(
            "launcher markers for several agent families are set ({}); agent_family falls back to \
             'unknown'. Set {AGENT_FAMILY_ENV} in this process or in the MCP client entry that starts it.",
            families.join(", ")
        ),
        Detection::None => tracing::warn!(
            "agent_family could not be resolved; observations saved from this process will be recorded \
             as 'unknown' and will not be findable via `search --agent-family`. Set {AGENT_FAMILY_ENV}, \
             or re-run `kioku-mesh mcp install --client <client> --force`."
        ),
    }
    ("unknown".to_owned(), IdentitySource::Default)
}

/// Resolve the client id: the variable, else `<user>@<short host>`.
pub fn resolve_client_id(env: &Environment) -> (String, IdentitySource) {
    if let Some(v) = env.var(CLIENT_ID_ENV) {
        return (v.to_owned(), IdentitySource::Env);
    }
    let from_passwd = passwd_user_name();
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| env.var(v))
        .or(from_passwd.as_deref())
        .unwrap_or("user");
    let host = hostname();
    let host = host.split('.').next().unwrap_or_default();
    (
        format!(
            "{}@{}",
            sanitize_segment(user, "user"),
            sanitize_segment(host, "host")
        ),
        IdentitySource::Default,
    )
}

/// Replace characters that cannot appear in a key segment with `-`.
/// Used only for defaults we derive ourselves; explicit values are checked,
/// not rewritten, so the user learns about them.
pub fn sanitize_segment(value: &str, fallback: &str) -> String {
    let cleaned: String = value
        .trim()
        .chars()
        .map(|c| {
            if matches!(c, '/' | '*' | '?' | '$' | '#') || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    if cleaned.is_empty() {
        fallback.to_owned()
    } else {
        cleaned
    }
}

/// The login name of this process's real uid, from /etc/passwd (what
/// Python's `getpass.getuser()` falls back to when USER is unset).
fn passwd_user_name() -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".to_owned())
}

/// A fresh session id: `YYYYMMDDTHHMMSSZ-<8 hex>`.
pub fn new_session_id() -> String {
    let ts = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{ts}-{}", &rand[..8])
}

/// Read the host id from `state_dir/pc_id`, creating it on first use.
///
/// Creation writes a uniquely named temporary file and hard-links it into
/// place: the link either publishes a complete file or fails because another
/// process won the race, in which case that process's id is read back. A
/// reader therefore never sees a half-written id.
pub fn load_or_create_pc_id(paths: &Paths) -> Result<String> {
    let path = paths.pc_id_file();
    if let Some(existing) = read_pc_id(&path)? {
        return Ok(existing);
    }
    create_dir(&paths.state_dir, "state", STATE_DIR_ENV)?;
    let candidate = uuid::Uuid::new_v4().simple().to_string();
    let tmp = paths.state_dir.join(format!(
        ".pc_id.tmp.{}.{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    fs::write(&tmp, format!("{candidate}\n")).map_err(|source| CoreError::Io {
        action: "cannot write",
        path: tmp.clone(),
        source,
    })?;
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(candidate),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            read_pc_id(&path)?.ok_or_else(|| CoreError::CorruptPcId {
                path: path.clone(),
                problem: "exists but is empty".to_owned(),
            })
        }
        Err(source) => Err(CoreError::Io {
            action: "cannot create",
            path,
            source,
        }),
    }
}

fn read_pc_id(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let id = text.trim();
            if id.is_empty() {
                return Err(CoreError::CorruptPcId {
                    path: path.to_path_buf(),
                    problem: "exists but is empty".to_owned(),
                });
            }
            if crate::keyspace::key_segment_problem(id).is_some() || id.len() > 128 {
                return Err(CoreError::CorruptPcId {
                    path: path.to_path_buf(),
                    problem: "does not hold a usable id".to_owned(),
                });
            }
            Ok(Some(id.to_owned()))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CoreError::Io {
            action: "cannot read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The identity stamped on every observation this process writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// e.g. `claude`, `codex`, `gemini`, `unknown`.
    pub agent_family: String,
    /// Where `agent_family` came from.
    pub agent_family_source: IdentitySource,
    /// e.g. `alice@laptop`.
    pub client_id: String,
    /// Where `client_id` came from.
    pub client_id_source: IdentitySource,
    /// Persisted per-host id.
    pub pc_id: String,
    /// Per-process session id.
    pub session_id: String,
}

impl Identity {
    /// The identity of a program that names itself (an embedder): its
    /// agent family and client id as given, this host's id (created under
    /// `paths` on first use) and a new session id.
    pub fn named(
        agent_family: impl Into<String>,
        client_id: impl Into<String>,
        paths: &Paths,
    ) -> Result<Self> {
        Ok(Self {
            agent_family: agent_family.into(),
            agent_family_source: IdentitySource::Env,
            client_id: client_id.into(),
            client_id_source: IdentitySource::Env,
            pc_id: load_or_create_pc_id(paths)?,
            session_id: new_session_id(),
        })
    }

    /// Resolve every identity value for this process, creating the pc_id
    /// file on first use. Values are not yet checked for key safety: call
    /// [`Identity::check_key_segments`] before writing.
    pub fn resolve(env: &Environment, paths: &Paths) -> Result<Self> {
        let (agent_family, agent_family_source) = resolve_agent_family(env);
        let (client_id, client_id_source) = resolve_client_id(env);
        let session_id = env
            .var(SESSION_ID_ENV)
            .map_or_else(new_session_id, str::to_owned);
        let pc_id = load_or_create_pc_id(paths)?;
        Ok(Self {
            agent_family,
            agent_family_source,
            client_id,
            client_id_source,
            pc_id,
            session_id,
        })
    }

    /// Check that every value can be a key segment, naming the variable to fix.
    pub fn check_key_segments(&self) -> Result<()> {
        let fix = "Use letters, digits and . _ - @ only.";
        validate_key_segment(AGENT_FAMILY_ENV, &self.agent_family, fix)?;
        validate_key_segment(CLIENT_ID_ENV, &self.client_id, fix)?;
        validate_key_segment("pc_id", &self.pc_id, fix)?;
        validate_key_segment(SESSION_ID_ENV, &self.session_id, fix)?;
        Ok(())
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Env => "env",
            Self::Detected => "detected",
            Self::Default => "default",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::empty("/", Some("/home/a".into()))
    }

    #[test]
    fn explicit_family_beats_detection() {
        let e = env()
            .with_var("CLAUDECODE", "1")
            .with_var(AGENT_FAMILY_ENV, "codex");
        assert_eq!(
            resolve_agent_family(&e),
            ("codex".to_owned(), IdentitySource::Env)
        );
    }

    #[test]
    fn launcher_markers_are_detected() {
        for (var, fam) in [
            ("CLAUDECODE", "claude"),
            ("CLAUDE_CODE_ENTRYPOINT", "claude"),
            ("CODEX_SANDBOX", "codex"),
            ("GEMINI_CLI", "gemini"),
            ("GEMINI_SANDBOX", "gemini"),
        ] {
            let e = env().with_var(var, "1");
            assert_eq!(
                resolve_agent_family(&e),
                (fam.to_owned(), IdentitySource::Detected)
            );
        }
    }

    #[test]
    fn nested_launchers_and_blank_markers_give_unknown() {
        let e = env()
            .with_var("CLAUDECODE", "1")
            .with_var("GEMINI_CLI", "1");
        assert_eq!(
            detect_agent_family(&e),
            Detection::Ambiguous(vec!["claude", "gemini"])
        );
        assert_eq!(resolve_agent_family(&e).0, "unknown");
        let e = env().with_var("CLAUDECODE", "  ");
        assert_eq!(resolve_agent_family(&e).1, IdentitySource::Default);
    }

    #[test]
    fn default_client_id_is_user_at_short_host_and_sanitised() {
        let e = env().with_var("USER", "a/b*c");
        let (cid, src) = resolve_client_id(&e);
        assert!(cid.starts_with("a-b-c@"), "{cid}");
        assert!(!cid.contains('.'), "short host expected: {cid}");
        assert_eq!(src, IdentitySource::Default);
        let e = env().with_var(CLIENT_ID_ENV, "claude-code");
        assert_eq!(resolve_client_id(&e).0, "claude-code");
    }

    #[test]
    fn session_ids_have_the_reference_shape() {
        let s = new_session_id();
        assert_eq!(s.len(), 25, "{s}");
        assert_eq!(&s[8..9], "T");
        assert_eq!(&s[15..17], "Z-");
    }

    #[test]
    fn pc_id_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path().join("state"), dir.path().join("cfg"));
        let a = load_or_create_pc_id(&paths).unwrap();
        let b = load_or_create_pc_id(&paths).unwrap();
        assert_eq!(a, b);
        assert!(crate::keyspace::is_observation_id(&a));
        let leftovers: Vec<_> = fs::read_dir(&paths.state_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".pc_id.tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn racing_first_runs_agree_on_one_pc_id() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path().join("state"), dir.path().join("cfg"));
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_pc_id(&paths).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    }

    #[test]
    fn empty_pc_id_file_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path(), dir.path());
        fs::write(paths.pc_id_file(), "\n").unwrap();
        let err = load_or_create_pc_id(&paths).unwrap_err().to_string();
        assert!(err.contains("delete it"), "{err}");
        assert_eq!(fs::read_to_string(paths.pc_id_file()).unwrap(), "\n");
    }

    #[test]
    fn unsafe_identity_values_name_their_variable() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path(), dir.path());
        for (var, bad) in [
            (CLIENT_ID_ENV, "a/b"),
            (AGENT_FAMILY_ENV, "cl*ude"),
            (SESSION_ID_ENV, "s$1"),
            (CLIENT_ID_ENV, "x#y"),
            (AGENT_FAMILY_ENV, "who?"),
        ] {
            let e = env().with_var(var, bad);
            let id = Identity::resolve(&e, &paths).unwrap();
            let err = id.check_key_segments().unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
        }
    }
}
