//! mesh-messaging: agent-to-agent messages on the mesh (inbox, ack, TTL,
//! presence).
//!
//! Messaging has not landed yet; this crate holds its limits so that the
//! numbers users read in error messages are defined in one place.
//!
//! Architecture invariant: depends on mesh-core only, never on mesh-memory.
//! The bridge crate is the one place that sees both.

#![deny(missing_docs)]

/// Largest message body, in UTF-8 bytes.
pub const MAX_BODY_BYTES: usize = 65_536;
/// Largest message envelope (body plus metadata), in UTF-8 bytes.
pub const MAX_ENVELOPE_BYTES: usize = 196_608;
/// Largest body the tmux adapter types into a pane, in UTF-8 bytes.
pub const MAX_TMUX_BODY_BYTES: usize = 8_192;

#[cfg(test)]
mod tests {
    #[test]
    fn tmux_limit_matches_the_core_default() {
        let core_default = mesh_core::config::TmuxAdapterConfig::default().max_body_bytes;
        assert_eq!(super::MAX_TMUX_BODY_BYTES as u64, core_default);
    }
}
