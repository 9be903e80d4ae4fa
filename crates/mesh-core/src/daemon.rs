//! The per-host daemon's skeleton: the router with its storages, and the
//! services (memory's index keeper, later messaging's inbox keeper) that
//! run on its session until shutdown.
//!
//! The binaries keep signals and printing; what runs and in which order
//! lives here, so a new service plugs in without the CLI growing:
//!
//! 1. [`Daemon::start`] finds the RocksDB storage library and starts the
//!    router (listeners open only once its storages answer);
//! 2. each library adds its services with [`Daemon::spawn_service`];
//! 3. [`Daemon::run_until`] waits for the shutdown signal or for a service
//!    to end, tells every service to stop, waits for them, then closes the
//!    router.

use std::error::Error as StdError;
use std::future::Future;
use std::path::{Path, PathBuf};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::{CoreError, Result};
use crate::session::{self, DaemonConfig, Session};

/// The error a service ends with.
pub type ServiceError = Box<dyn StdError + Send + Sync>;

/// Why [`Daemon::run_until`] returned.
#[derive(Debug)]
pub enum DaemonExit {
    /// The shutdown signal came and every service stopped cleanly.
    Stopped,
    /// A service asked for a restart (a new admission policy, which Zenoh
    /// applies only when a router starts); every service stopped cleanly.
    Reload {
        /// Why, for the log.
        reason: String,
    },
    /// A service ended (with an error, or on its own) or panicked.
    ServiceFailed {
        /// The service's name.
        service: &'static str,
        /// What went wrong.
        error: String,
    },
}

/// A running router and the services on its session.
pub struct Daemon {
    session: Session,
    stop: watch::Sender<bool>,
    reload: watch::Sender<Option<String>>,
    services: JoinSet<(&'static str, std::result::Result<(), ServiceError>)>,
}

impl Daemon {
    /// Start the router described by `config`, with its storages' RocksDB
    /// volume loaded from the library beside this executable.
    pub async fn start(config: DaemonConfig) -> Result<Self> {
        let dirs = backend_dirs();
        let library = session::find_backend_library(&dirs).ok_or_else(|| {
            CoreError::BackendLibraryMissing {
                library: session::BACKEND_LIBRARY,
                looked_in: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        tracing::debug!("RocksDB backend: {}", library.display());
        Self::start_with_library(config, &library).await
    }

    /// Start the router with the storage library at `library`.
    pub async fn start_with_library(config: DaemonConfig, library: &Path) -> Result<Self> {
        let session = session::start_router(config, library).await?;
        let (stop, _) = watch::channel(false);
        let (reload, _) = watch::channel(None);
        Ok(Self {
            session,
            stop,
            reload,
            services: JoinSet::new(),
        })
    }

    /// The router's own session, for services to subscribe and query on.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The router's Zenoh id.
    pub fn zid(&self) -> String {
        self.session.zid().to_string()
    }

    /// A receiver that turns `true` when the daemon shuts down; services
    /// watch it and return once it does.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// A handle services use to ask for a restart.
    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle(self.reload.clone())
    }

    /// Run `service` until shutdown. A service that returns before the stop
    /// signal ends the daemon: services are meant to run for its lifetime.
    pub fn spawn_service<F>(&mut self, name: &'static str, service: F)
    where
        F: Future<Output = std::result::Result<(), ServiceError>> + Send + 'static,
    {
        self.services.spawn(async move { (name, service.await) });
    }

    /// Run until `shutdown` completes or a service ends; then stop every
    /// service, wait for them, and close the router.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> DaemonExit {
        let mut exit = DaemonExit::Stopped;
        let mut reload = self.reload.subscribe();
        if !self.services.is_empty() {
            tokio::select! {
                () = shutdown => {}
                Ok(()) = reload.changed() => {
                    let reason = reload.borrow().clone().unwrap_or_default();
                    exit = DaemonExit::Reload { reason };
                }
                Some(ended) = self.services.join_next() => {
                    exit = match ended {
                        // A service that asked for a restart may end at once.
                        Ok((_, Ok(()))) if self.reload.borrow().is_some() => DaemonExit::Reload {
                            reason: self.reload.borrow().clone().unwrap_or_default(),
                        },
                        ended => failure(ended, false),
                    };
                }
            }
        }
        let _ = self.stop.send(true);
        while let Some(ended) = self.services.join_next().await {
            let failed = failure(ended, true);
            if matches!(exit, DaemonExit::Stopped) {
                exit = failed;
            }
        }
        self.close().await;
        exit
    }

    /// Close the router (after a failed set-up, or at the end of
    /// [`Daemon::run_until`]). Services must have stopped.
    pub async fn close(self) {
        if let Err(e) = self.session.close().await {
            tracing::debug!("closing the router: {e}");
        }
    }
}

/// Lets a service ask the daemon to stop every service, close the router
/// and report [`DaemonExit::Reload`], so the binary can start it again.
#[derive(Debug, Clone)]
pub struct ReloadHandle(watch::Sender<Option<String>>);

impl ReloadHandle {
    /// Ask for a restart; `reason` is logged.
    pub fn request(&self, reason: String) {
        self.0.send_replace(Some(reason));
    }
}

/// How one service's end reads; `stopping` is true when the daemon asked
/// it to stop (a clean return is then expected, not a failure).
fn failure(
    ended: std::result::Result<
        (&'static str, std::result::Result<(), ServiceError>),
        tokio::task::JoinError,
    >,
    stopping: bool,
) -> DaemonExit {
    match ended {
        Ok((_, Ok(()))) if stopping => DaemonExit::Stopped,
        Ok((service, Ok(()))) => DaemonExit::ServiceFailed {
            service,
            error: "stopped on its own".to_owned(),
        },
        Ok((service, Err(e))) => DaemonExit::ServiceFailed {
            service,
            error: e.to_string(),
        },
        Err(e) => DaemonExit::ServiceFailed {
            service: "unknown",
            error: e.to_string(),
        },
    }
}

/// Where the RocksDB storage library may be: beside the executable (an
/// installed archive or `cargo xtask install`), in `deps/` beside it (a
/// cargo build), or in a `lib/kioku-mesh` directory next to `bin/`.
pub fn backend_dirs() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    let mut dirs = vec![dir.to_path_buf(), dir.join("deps")];
    if let Some(prefix) = dir.parent() {
        dirs.push(prefix.join("lib").join("kioku-mesh"));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_names_the_command_that_installs_it() {
        let e = CoreError::BackendLibraryMissing {
            library: session::BACKEND_LIBRARY,
            looked_in: "/nowhere".to_owned(),
        };
        let text = e.to_string();
        assert!(text.contains("libzenoh_backend_rocksdb.so"), "{text}");
        assert!(text.contains("cargo xtask install"), "{text}");
        assert!(text.contains("/nowhere"), "{text}");
    }

    #[test]
    fn the_library_is_looked_for_beside_the_executable_first() {
        let dirs = backend_dirs();
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf));
        assert_eq!(dirs.first(), exe_dir.as_ref());
        assert!(dirs.iter().any(|d| d.ends_with("deps")));
    }
}
