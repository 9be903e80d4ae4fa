//! Hub and spoke mode: the store whose source of truth is the Zenoh
//! storages of the mesh.
//!
//! - [`store`]: [`MeshStore`], what the CLI and MCP server write and read
//!   through; every write goes through the durable [`pending`] queue and is
//!   confirmed by a storage before it counts as stored.
//! - [`mirror`]: this host's SQLite copy of the storages (the gate every
//!   value off the wire passes, and shadowing after a scan).
//! - [`keeper`]: the daemon's loop that keeps the mirror current.
//! - [`wire`]: the Zenoh operations (scan, confirmed put, delete).
//! - [`migrate`]: moving legacy-layout keys into a scoped tier.

pub mod keeper;
pub mod migrate;
pub mod mirror;
pub mod pending;
pub mod store;
pub mod wire;

pub use keeper::KeeperOptions;
pub use store::{MeshOptions, MeshStore, Readiness};
