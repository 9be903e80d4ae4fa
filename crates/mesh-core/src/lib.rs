//! mesh-core: the foundations every other kioku-mesh crate stands on.
//!
//! - [`config`]: settings from `config.yaml`, `.kioku-mesh.yaml` and the environment;
//! - [`paths`]: where state and configuration live;
//! - [`identity`]: agent family, client id, host id, session id;
//! - [`keyspace`]: key builders, read selectors and the strict key parser;
//! - [`observation`] and [`tombstone`]: the wire models, tolerant on read;
//! - [`timestamp`] and [`json_text`]: the reference's timestamp and JSON text forms.
//! - [`daemon_config`] and [`session`]: the mesh daemon's Zenoh configuration and sessions;
//! - [`daemon`]: the daemon's skeleton: router start, services, ordered shutdown;
//! - [`logging`]: the stderr log subscriber the binaries install;
//! - [`pki`]: the private CA and the CSR flow behind `kioku-mesh tls`;
//! - [`access`] and [`policy_sync`]: the signed admission policy as Zenoh
//!   access control, and the service that keeps it current on every router;
//!
//! mesh-core knows the shape of an observation and of its key, not what
//! observations mean or how they are stored or searched.

#![deny(missing_docs)]

pub mod access;
pub mod config;
mod config_doc;
pub mod daemon;
pub mod daemon_config;
pub mod environment;
pub mod error;
pub mod identity;
pub mod json_text;
pub mod keyspace;
pub mod logging;
pub mod observation;
pub mod paths;
pub mod pki;
pub mod policy_sync;
pub mod session;
pub mod timestamp;
pub mod tombstone;

pub use config::{BackendMode, Settings};
pub use environment::Environment;
pub use error::{CoreError, Result};
pub use identity::Identity;
pub use keyspace::Visibility;
pub use observation::{MemoryType, Observation};
pub use paths::Paths;
pub use tombstone::Tombstone;
