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
