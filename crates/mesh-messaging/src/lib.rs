//! mesh-messaging: agents sending each other messages on the same mesh
//! (or, in local mode, the same machine), in the reference's wire format.
//!
//! - [`model`]: the message and ack JSON;
//! - [`keys`]: the `msg/...` key space;
//! - [`limits`]: size limits and the reference's texts for them;
//! - [`inbox`]: the local inbox database and the classification of arrivals;
//! - [`Messaging`]: send, check, ack, receipts, threads, purge;
//! - [`presence`]: heartbeats and who is online.
//!
//! Architecture invariant: depends on mesh-core only, never on mesh-memory.
//! The bridge crate is the one place that sees both. No sqlx or zenoh type
//! appears in the public API.

#![deny(missing_docs)]

pub mod error;
mod feed;
mod history;
pub mod inbox;
pub mod keys;
pub mod limits;
mod listing;
mod messaging;
pub mod model;
pub mod presence;
mod transport;

pub use error::{MessagingError, Result};
pub use limits::{MAX_BODY_BYTES, MAX_ENVELOPE_BYTES, MAX_TMUX_BODY_BYTES};
pub use messaging::{CheckQuery, CheckResult, Me, Messaging, Receipts, SendRequest};
pub use model::{Ack, Message, Recipient};
