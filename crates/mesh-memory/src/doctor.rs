//! `doctor`: checks of this host's set-up, each with a verdict and, when it
//! is not a pass, what to do.

use mesh_core::BackendMode;
use mesh_core::daemon_config;
use mesh_core::pki::TlsFiles;
use mesh_core::session::DaemonConfig;

use crate::any_store::AnyStore;
use crate::memory::Memory;
use crate::store::MemoryStore;

/// The verdict of one check, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckStatus {
    /// Nothing to do.
    Pass,
    /// Works, but something deserves attention.
    Warn,
    /// Broken.
    Fail,
}

impl CheckStatus {
    /// `PASS`, `WARN` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short identifier, e.g. `daemon_reachable`.
    pub name: &'static str,
    /// The verdict.
    pub status: CheckStatus,
    /// What was found.
    pub summary: String,
    /// What to do, when not a pass.
    pub hint: Option<String>,
}

fn check(name: &'static str, status: CheckStatus, summary: String, hint: Option<&str>) -> Check {
    Check {
        name,
        status,
        summary,
        hint: hint.map(str::to_owned),
    }
}

/// Run every check that applies to the configured backend.
pub async fn run(memory: &Memory<AnyStore>) -> Vec<Check> {
    use CheckStatus::{Fail, Pass, Warn};
    let settings = memory.settings();
    let mut checks = vec![check(
        "backend",
        Pass,
        format!(
            "backend: {} ({})",
            settings.backend, settings.backend_origin
        ),
        None,
    )];

    match memory.store().index().counts().await {
        Ok(c) => {
            checks.push(check(
                "index",
                Pass,
                format!(
                    "index {}: {} live, {} tombstoned, {} shadowed",
                    memory.store().index().path().display(),
                    c.live,
                    c.tombstoned,
                    c.shadowed
                ),
                None,
            ));
            checks.push(if c.shadowed == 0 {
                check("shadow_visibility", Pass, "shadowed observations: 0".to_owned(), None)
            } else {
                check(
                    "shadow_visibility",
                    Warn,
                    format!(
                        "shadowed observations: {} (missing from the mesh at the last repair, hidden from search)",
                        c.shadowed
                    ),
                    Some(
                        "They come back if a storage has them again. `kioku-mesh status --show-shadows` lists them; \
                         `kioku-mesh gc` removes those shadowed longer than the retention.",
                    ),
                )
            });
        }
        Err(e) => checks.push(check(
            "index",
            Fail,
            format!("the index cannot be read: {e}"),
            Some("Run `kioku-mesh --rebuild status`, or move the index file aside."),
        )),
    }

    match memory.identity() {
        Ok(id) if id.agent_family == "unknown" => checks.push(check(
            "identity",
            Warn,
            "agent_family could not be resolved (saves record 'unknown')".to_owned(),
            Some("Set KIOKU_MESH_AGENT_FAMILY, or re-run `kioku-mesh mcp install --client <client> --force`."),
        )),
        Ok(id) => checks.push(check(
            "identity",
            Pass,
            format!("{} / {} on pc {}", id.agent_family, id.client_id, id.pc_id),
            None,
        )),
        Err(e) => checks.push(check("identity", Fail, e.to_string(), None)),
    }

    if settings.backend != BackendMode::Zenoh {
        return checks;
    }
    let AnyStore::Mesh(store) = memory.store() else {
        return checks;
    };

    let path = settings.paths.daemon_config_file();
    let scopes = daemon_config::declared_scopes(settings).unwrap_or_default();
    checks.push(match DaemonConfig::load(&path, &scopes) {
        Ok(config) if config.source.is_some() => {
            let stored = config.storage_key_exprs();
            let missing: Vec<String> = scopes
                .iter()
                .map(|s| s.key_expr())
                .filter(|k| !stored.contains(k))
                .collect();
            if missing.is_empty() {
                check(
                    "daemon_config",
                    Pass,
                    format!("{} stores {}", path.display(), stored.join(", ")),
                    None,
                )
            } else {
                check(
                    "daemon_config",
                    Warn,
                    format!("{} has no storage for {}", path.display(), missing.join(", ")),
                    Some("Paste the block from `kioku-mesh config render-storages`, or re-run `kioku-mesh init ... --force`."),
                )
            }
        }
        Ok(_) => check(
            "daemon_config",
            Warn,
            format!("{} is missing; `kioku-mesh serve` uses the built-in hub configuration", path.display()),
            Some("Run `kioku-mesh init --mode hub|spoke` to write one."),
        ),
        Err(e) => check(
            "daemon_config",
            Fail,
            e.to_string(),
            Some("Fix the file or re-run `kioku-mesh init --mode hub|spoke --force`."),
        ),
    });

    checks.push(tls_check(&path, &TlsFiles::from_paths(&settings.paths)));

    let ready = store.mesh_readiness().await;
    checks.push(if ready.connected {
        check("daemon_reachable", Pass, "a session to the daemon is open".to_owned(), None)
    } else {
        check(
            "daemon_reachable",
            Fail,
            ready
                .problem
                .clone()
                .unwrap_or_else(|| "the daemon cannot be reached".to_owned()),
            Some("Start it with `kioku-mesh serve` (or `systemctl --user start kioku-mesh`), or point ZENOH_CONNECT at it."),
        )
    });
    if ready.connected {
        let names: Vec<String> = ready
            .storages
            .iter()
            .map(|s| {
                format!(
                    "{} on {}",
                    s.key_expr,
                    s.router.chars().take(8).collect::<String>()
                )
            })
            .collect();
        checks.push(if ready.missing_scopes.is_empty() {
            check("storages", Pass, format!("storages seen: {}", names.join(", ")), None)
        } else {
            check(
                "storages",
                Warn,
                format!(
                    "no reachable storage for {} (seen: {})",
                    ready.missing_scopes.join(", "),
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                ),
                Some("Saves to those scopes stay queued until a host that stores them is reachable; check storage_scopes and the daemon's configuration."),
            )
        });
    }
    match store.pending().len().await {
        Ok(0) => checks.push(check("pending_puts", Pass, "pending_puts: 0".to_owned(), None)),
        Ok(n) => checks.push(check(
            "pending_puts",
            Warn,
            format!("pending_puts: {n} writes wait for the daemon"),
            Some("Run `kioku-mesh drain --pending` once the daemon is up (the daemon also drains them)."),
        )),
        Err(e) => checks.push(check("pending_puts", Fail, e.to_string(), None)),
    }
    checks
}

/// The worst verdict of `checks`.
pub fn worst(checks: &[Check]) -> CheckStatus {
    checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Pass)
}

/// Certificates left within this many days get a warning.
const CERT_WARN_DAYS: i64 = 30;

/// `tls_certs`: when the daemon configuration uses mTLS, this host's
/// certificate store must be complete, consistent and not about to expire.
/// A configuration without TLS passes whatever files lie around.
fn tls_check(daemon_config: &std::path::Path, files: &TlsFiles) -> Check {
    use CheckStatus::{Fail, Pass, Warn};
    let tls_in_use =
        std::fs::read_to_string(daemon_config).is_ok_and(|text| text.contains("enable_mtls"));
    if !tls_in_use {
        return check(
            "tls_certs",
            Pass,
            "mTLS not configured (using network-admission trust)".to_owned(),
            None,
        );
    }
    let now = chrono::Utc::now();
    match mesh_core::pki::ready::check_peer_ready(files, now) {
        Ok(info) => {
            let days = info.days_remaining(now);
            let summary = format!(
                "peer certificate {} valid until {} ({days} days left)",
                info.subject,
                info.not_after.format("%Y-%m-%d")
            );
            if days < CERT_WARN_DAYS {
                check(
                    "tls_certs",
                    Warn,
                    summary,
                    Some(
                        "Rotate it soon: `kioku-mesh tls request` -> sign on the CA host -> `kioku-mesh tls install`.",
                    ),
                )
            } else {
                check("tls_certs", Pass, summary, None)
            }
        }
        Err(e) => check(
            "tls_certs",
            Fail,
            e.to_string(),
            Some(
                "Provision or repair the store: `kioku-mesh tls request --san <addr>` on this host, `kioku-mesh tls sign` on the CA host, then `kioku-mesh tls install`.",
            ),
        ),
    }
}

#[cfg(test)]
mod tls_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tls_certs_passes_without_tls_and_fails_on_a_missing_store() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("zenohd.json5");
        let files = TlsFiles::at(dir.path().join("tls"));
        std::fs::write(&config, "{ mode: \"router\" }").unwrap();
        assert_eq!(tls_check(&config, &files).status, CheckStatus::Pass);
        std::fs::write(
            &config,
            "{ transport: { link: { tls: { enable_mtls: true } } } }",
        )
        .unwrap();
        let failed = tls_check(&config, &files);
        assert_eq!(failed.status, CheckStatus::Fail);
        assert!(failed.hint.unwrap().contains("kioku-mesh tls install"));
    }
}
