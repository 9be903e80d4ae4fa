//! Hub and spoke mode: the store whose source of truth is the Zenoh
//! storages of the mesh.
//!
//! - [`store`]: [`MeshStore`], what the CLI and MCP server write and read
//!   through; every write goes through the durable `pending` queue and is
//!   confirmed by a storage before it counts as stored.
//! - `mirror`: this host's SQLite copy of the storages (the gate every
//!   value off the wire passes, and shadowing after a scan).
//! - `keeper`: the daemon's loop that keeps the mirror current, added to
//!   the daemon by [`serve_index`].
//! - `wire`: the Zenoh operations (scan, confirmed put, delete).
//! - [`migrate`]: moving legacy-layout keys into a scoped tier.
//! - [`purge`]: physically deleting everything one host wrote.

pub(crate) mod keeper;
pub mod migrate;
pub(crate) mod mirror;
pub(crate) mod pending;
pub mod purge;
mod reconcile;
mod service;
pub mod store;
pub(crate) mod wire;

pub use keeper::KeeperOptions;
pub use service::serve_index;
pub use store::{MeshOptions, MeshStore};
