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

/// Crashes and concurrency: kill -9 mid-burst, parallel writers.
mod reliability;

/// The same saves and searches on the Python reference and on us.
mod interop_local;

/// The MCP server driven by the official Python and TypeScript SDKs.
mod mcp;

/// `kioku-mesh mcp install` for every client.
mod mcp_install;

/// Architecture rules checked over `cargo metadata` and the sources.
mod tidy;

/// Hub and spoke mode with real daemons on loopback.
mod mesh;

/// Seeding and wire-level garbage for the mesh tests, through the library.
mod mesh_seed;

/// The Python reference as a client of our mesh daemon.
mod interop_mesh;
