//! Fuzzing for kioku-mesh on the stable toolchain.
//!
//! [`engine`] mutates inputs and keeps those that produce a new outcome;
//! [`targets`] wraps every parser that reads what users and peers send
//! (keys, payloads, configuration, TLS blobs, MCP arguments) with the
//! properties it must keep. `cargo xtask fuzz --time N` runs them all; a
//! crash becomes a file under `fuzz/regressions/<target>/`, which the unit
//! tests replay on every run of the suite.

pub mod engine;
pub mod targets;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use crate::engine::{Budget, fuzz};
    use crate::targets;

    /// The MCP server, when the suite has built it (cargo xtask test does).
    fn mcp_bin() -> Option<PathBuf> {
        let dir = std::env::var_os("KIOKU_MESH_BIN_DIR").map(PathBuf::from)?;
        Some(dir.join("kioku-mesh-mcp")).filter(|p| p.is_file())
    }

    #[test]
    fn every_regression_input_passes_its_target() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
        let mut replayed = 0;
        for name in targets::NAMES {
            let dir = root.join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let bin = mcp_bin();
            if *name == "mcp_args" && bin.is_none() {
                continue;
            }
            let mut target = targets::make(name, bin.as_deref()).unwrap();
            for entry in entries.flatten() {
                let input = std::fs::read(entry.path()).unwrap();
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(&input)));
                assert!(outcome.is_ok(), "{} fails again", entry.path().display());
                replayed += 1;
            }
        }
        assert!(
            replayed > 0,
            "no regression inputs under {}",
            root.display()
        );
    }

    #[test]
    fn every_in_process_target_survives_a_short_run() {
        for name in targets::NAMES.iter().filter(|n| **n != "mcp_args") {
            let mut target = targets::make(name, None).unwrap();
            let budget = Budget {
                time: Duration::from_secs(20),
                max_execs: Some(3000),
            };
            let stats = fuzz(target.as_mut(), 42, budget, None);
            assert!(stats.crashes.is_empty(), "{name}: {:?}", stats.crashes);
            assert!(
                stats.outcomes > 1,
                "{name}: every input had the same outcome"
            );
        }
    }

    #[test]
    fn the_mcp_target_survives_a_short_run() {
        let Some(bin) = mcp_bin() else {
            return;
        };
        let mut target = targets::make("mcp_args", Some(&bin)).unwrap();
        let budget = Budget {
            time: Duration::from_secs(60),
            max_execs: Some(300),
        };
        let stats = fuzz(target.as_mut(), 42, budget, None);
        assert!(stats.crashes.is_empty(), "{:?}", stats.crashes);
        assert!(
            stats.outcomes > 5,
            "the server gave too few distinct answers: {}",
            stats.outcomes
        );
    }
}
