//! Every fuzz target, by name.

mod files;
mod mcp;
mod tls;
mod wire;

use std::path::Path;

use crate::engine::Target;

/// The names of every target, in the order `all` runs them.
pub const NAMES: &[&str] = &[
    "key",
    "observation",
    "tombstone",
    "message",
    "timestamp",
    "scope_endpoint",
    "config",
    "daemon_config",
    "tls",
    "mcp_args",
];

/// Dictionary tokens from string literals.
pub(crate) fn tokens(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|t| t.as_bytes().to_vec()).collect()
}

/// Make the target called `name`. `mcp_bin` is the server `mcp_args` drives.
pub fn make(name: &str, mcp_bin: Option<&Path>) -> anyhow::Result<Box<dyn Target>> {
    Ok(match name {
        "key" => Box::new(wire::Key),
        "observation" => Box::new(wire::ObservationJson),
        "tombstone" => Box::new(wire::TombstoneJson),
        "message" => Box::new(wire::MessageJson),
        "timestamp" => Box::new(wire::Timestamp),
        "scope_endpoint" => Box::new(files::ScopeAndEndpoint),
        "config" => Box::new(files::Config::new()?),
        "daemon_config" => Box::new(files::DaemonJson5),
        "tls" => Box::new(tls::TlsBlobs::new()?),
        "mcp_args" => {
            let bin = mcp_bin.ok_or_else(|| anyhow::anyhow!("mcp_args needs --mcp-bin PATH"))?;
            Box::new(mcp::McpArgs::new(bin)?)
        }
        other => anyhow::bail!("no target '{other}'; targets: {}", NAMES.join(", ")),
    })
}
