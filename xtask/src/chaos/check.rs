//! The checks over a healed mesh that read hosts rather than the history:
//! leaks (ids of foreign scopes in search results or state files) and
//! whether each index agrees with its host's own storages.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::history::History;
use super::host::Host;
use super::net::Net;

/// Acknowledged saves of scopes a host does not hold that it shows, or
/// whose id appears in any file of its state directory.
pub fn leaks(hosts: &[Host], history: &History) -> usize {
    let mut count = 0;
    for h in hosts {
        let foreign: HashSet<String> = history.foreign(|s| h.holds(s)).into_iter().collect();
        if foreign.is_empty() {
            continue;
        }
        let live = h.live_ids().unwrap_or_default();
        let mut found: HashSet<&String> = foreign.iter().filter(|id| live.contains(*id)).collect();
        for file in files(&h.state_dir()) {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for id in hex_ids(&bytes) {
                if let Some(known) = foreign.get(id) {
                    found.insert(known);
                }
            }
        }
        for id in &found {
            println!("chaos: {} holds {id}, of a scope it does not hold", h.name);
        }
        count += found.len();
    }
    count
}

/// Whether every host's index agrees with its own storages. Each host in
/// turn is cut off, and `realign-index` builds a scratch index (never the
/// host's own) from what its storages alone hold; it must show what the
/// host's index shows. Storages catch up by alignment (10 s digests), so
/// the check is repeated until it holds or [`STORAGE_CHECK_LIMIT`] passes.
/// Returns (ids only the index showed, ids only the storages held), summed
/// over hosts at the last attempt; the first count as resurrected, the
/// second as lost.
pub fn index_against_storages(net: &Net, hosts: &[Host]) -> (usize, usize) {
    let started = Instant::now();
    let mut pending: Vec<usize> = (0..hosts.len()).collect();
    let mut last = vec![(0, 0); hosts.len()];
    // Bounded by STORAGE_CHECK_LIMIT; each round checks the hosts not yet agreed.
    while !pending.is_empty() && started.elapsed() < STORAGE_CHECK_LIMIT {
        pending.retain(|&i| {
            last[i] = storage_difference(net, &hosts[i]);
            last[i] != (0, 0)
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_secs(5));
        }
    }
    println!(
        "chaos: indexes against storages checked in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (h, (index_only, storage_only)) in hosts.iter().zip(&last) {
        if index_only + storage_only > 0 {
            println!(
                "chaos: host {}: {index_only} ids only in its index, {storage_only} only in its storages",
                h.name
            );
        }
    }
    last.iter().fold((0, 0), |t, l| (t.0 + l.0, t.1 + l.1))
}

/// Longest the index-against-storages check waits for storages to align.
const STORAGE_CHECK_LIMIT: Duration = Duration::from_secs(180);

/// (ids only in `h`'s index, ids only in its storages), one attempt; a
/// host whose index or storages cannot be read counts as one difference.
fn storage_difference(net: &Net, h: &Host) -> (usize, usize) {
    const UNREADABLE: (usize, usize) = (1, 0);
    let scratch = h.home.join("storage-check.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", scratch.display()));
    }
    let Some(shown) = h.live_ids() else {
        println!("chaos: host {}: its index could not be read", h.name);
        return UNREADABLE;
    };
    if net.link_down(h.name).is_err() {
        return UNREADABLE;
    }
    let env = [("KIOKU_MESH_INDEX_DB", scratch.as_path())];
    let rebuilt = h.cli_with(&["realign-index"], &env);
    let held = h.live_ids_in(Some(&scratch));
    let _ = net.link_up(h.name);
    match (rebuilt.code, held) {
        (Some(0), Some(held)) => (
            shown.difference(&held).count(),
            held.difference(&shown).count(),
        ),
        _ => {
            println!("chaos: host {}: its storages could not be read", h.name);
            UNREADABLE
        }
    }
}

/// Every 32-character lowercase hex string in `bytes` (ids), one pass.
fn hex_ids(bytes: &[u8]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let is_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    for i in 0..=bytes.len() {
        if i < bytes.len() && is_hex(bytes[i]) {
            continue;
        }
        for w in bytes[start..i].windows(32) {
            if let Ok(id) = std::str::from_utf8(w) {
                out.push(id);
            }
        }
        start = i + 1;
    }
    out
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_inside_binary_files() {
        let id = "0123456789abcdef0123456789abcdef";
        let mut bytes = b"\x00\x01key/".to_vec();
        bytes.extend(id.as_bytes());
        bytes.extend(b"\xff/tail");
        assert_eq!(hex_ids(&bytes), vec![id]);
        assert!(hex_ids(b"abc123").is_empty());
    }
}
