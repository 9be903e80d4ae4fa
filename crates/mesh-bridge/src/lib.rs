//! mesh-bridge: the one crate that sees both memory and messaging.
//!
//! It will promote a message to an observation when asked and adapt other
//! transports (tmux). Messaging has not landed yet, so the bridge is empty.
//!
//! Architecture invariant: the only workspace crate allowed to depend on
//! both mesh-memory and mesh-messaging.

#![deny(missing_docs)]
