//! The log subscriber our binaries install: stderr only, filtered by
//! `RUST_LOG`, in a compact `warning: ...` form for people.
//!
//! Libraries never print; they emit `tracing` events. Standard output is
//! reserved for command results and, in the MCP server, for the protocol.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as `warning: message` (plus the target at debug levels).
#[derive(Debug, Clone, Copy, Default)]
pub struct HumanFormat;

impl<S, N> FormatEvent<S, N> for HumanFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let label = match *meta.level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        if *meta.level() >= Level::DEBUG {
            write!(writer, "{label} [{}]: ", meta.target())?;
        } else {
            write!(writer, "{label}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Default filter of client processes (CLI commands, the MCP server): our
/// own warnings only. Zenoh's internal messages (a reply routed after its
/// query timed out, a channel closed at session end) are not the user's
/// business; a failure that matters comes back as our own error.
/// `RUST_LOG` shows them.
pub const CLIENT_FILTER: &str = "warn,zenoh=off";

/// Default filter of the daemon: Zenoh's errors stay, because they explain
/// a storage or listener that failed to start; the storage manager's
/// warnings too. Zenoh's TCP listener warns at every shutdown that the
/// runtime is going away; that is expected, not worth a line.
pub const DAEMON_FILTER: &str =
    "warn,zenoh=error,zenoh_plugin_storage_manager=warn,zenoh_link_tcp=off";

/// Install the stderr subscriber. `default` applies when `RUST_LOG` is
/// unset, e.g. `"warn"`. Safe to call more than once (later calls no-op).
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(HumanFormat)
        .try_init();
}
