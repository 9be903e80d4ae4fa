//! `kioku-mesh-mcp`: the MCP server over stdio.
//!
//! The server has not landed yet. Until it does, this binary says so and
//! exits non-zero, so an MCP client reports a clear failure instead of
//! hanging on a silent process.

use std::process::ExitCode;

fn main() -> ExitCode {
    mesh_core::logging::init("warn");
    eprintln!(
        "kioku-mesh-mcp {}: the MCP server is not ready in this build. Use the `kioku-mesh` CLI \
         (kioku-mesh save / search) until it lands.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
