//! End-to-end tests: the built binaries run as processes, each test in its
//! own temporary HOME and state directory.
//!
//! Run them with `cargo xtask test`, which builds the binaries and installs
//! the Python reference the interop tests compare against.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Spawning binaries in sandboxes, with bounded waits.
mod harness;

/// Every CLI command in local mode, its output contract and exit codes.
mod local_mode;

/// Bad input: a clear error, exit status 2 or 1, and nothing changed.
mod bad_input;
mod bad_input_mcp;

/// Crashes and concurrency: kill -9 mid-burst, parallel writers.
mod reliability;

/// The same saves and searches on the Python reference and on us.
mod interop_local;

/// `kioku-mesh tls`: the private CA and the CSR flow, with the reference.
mod tls;
mod tls_policy;

/// The MCP server driven by the official Python and TypeScript SDKs.
mod mcp;

/// `kioku-mesh mcp install` for every client, and `--repair`.
mod mcp_install;

/// Reference command-line contracts: `search --limit`, `init --out`, `serve --config`.
mod cli_compat;

/// Architecture rules checked over `cargo metadata` and the sources.
mod tidy;

/// The mesh tests' hosts: a node, and a hub with two spokes.
mod mesh_fixture;

/// Replication between hosts through one or two hubs.
mod mesh_replication;

/// Outages: queued saves, a hub away, a partition, kill -9.
mod mesh_outage;

/// Storage scopes and migrating legacy keys into one.
mod mesh_scopes;

/// The daemon: stop and restart, garbage, `init`, status and doctor.
mod mesh_daemon;

/// The index keeper: a locked, a damaged, an overflowing index.
mod mesh_index;

/// The MCP server in mesh mode.
mod mesh_mcp;

/// Hybrid search with the real embedding model, locally and in the mesh.
mod hybrid;

/// Seeding and wire-level garbage for the mesh tests, through the library.
mod mesh_seed;

/// The Python reference as a client of our mesh daemon.
mod interop_mesh;

/// A successful command prints no error, Zenoh's chatter stays quiet.
mod mesh_quiet;

/// `gc --by-pc-id` in mesh mode.
mod mesh_purge;

/// `init --tls`: hosts linked by mutual TLS, and hosts of another CA kept out.
mod mesh_enforced;
mod mesh_tls;
mod messaging;
mod messaging_push;
