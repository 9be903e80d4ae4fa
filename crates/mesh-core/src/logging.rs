//! The log subscriber our binaries install: stderr only, filtered by
//! `RUST_LOG`, in a compact `warning: ...` form for people.
//!
//! Libraries never print; they emit `tracing` events. Standard output is
//! reserved for command results and, in the MCP server, for the protocol.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
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
/// unset or does not parse, e.g. `"warn"`. Safe to call more than once
/// (later calls no-op).
pub fn init(default: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    // `RUST_LOG` gets the full directive syntax (spans, fields). The default
    // needs only `target=level` pairs, which `Targets` parses without
    // compiling the regexes `EnvFilter` builds: a tenth of a millisecond in
    // every one-shot command.
    let from_env = EnvFilter::try_from_default_env().ok();
    let fallback = from_env.is_none().then(|| default_targets(default));
    let _ = tracing_subscriber::registry()
        .with(from_env)
        .with(fallback)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .event_format(HumanFormat),
        )
        .try_init();
}

/// `default` as a filter; our own constants always parse, and anything else
/// falls back to warnings only.
fn default_targets(default: &str) -> Targets {
    default
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::WARN))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults keep our warnings and silence Zenoh as documented.
    #[test]
    fn default_filters_parse_to_what_they_say() {
        let client = default_targets(CLIENT_FILTER);
        assert!(client.would_enable("mesh_memory::save", &Level::WARN));
        assert!(!client.would_enable("mesh_memory::save", &Level::INFO));
        assert!(!client.would_enable("zenoh::net::routing", &Level::ERROR));

        let daemon = default_targets(DAEMON_FILTER);
        assert!(daemon.would_enable("zenoh::net::runtime", &Level::ERROR));
        assert!(!daemon.would_enable("zenoh::net::runtime", &Level::WARN));
        assert!(daemon.would_enable("zenoh_plugin_storage_manager", &Level::WARN));
        assert!(!daemon.would_enable("zenoh_link_tcp::unicast", &Level::ERROR));
        assert!(daemon.would_enable("kioku_mesh_cli::commands", &Level::WARN));
    }

    #[test]
    fn a_filter_that_does_not_parse_keeps_warnings() {
        let filter = default_targets("zenoh=nonsense=1");
        assert!(filter.would_enable("mesh_memory", &Level::WARN));
        assert!(!filter.would_enable("mesh_memory", &Level::INFO));
    }
}
