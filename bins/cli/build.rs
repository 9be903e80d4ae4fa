//! Link `kioku-mesh` for a fast start (ADR 0013, ADR 0017).
//!
//! - A fixed-address executable: a position-independent one spends about a
//!   millisecond of every command applying some 45,000 relocations and
//!   copying the pages they touch.
//! - GCC's unwinder linked in, not loaded from `libgcc_s.so.1`: loading that
//!   library and running its CPU-detection constructor cost about 0.1 ms.
//!
//! The daemon (`kioku-mesh-daemon`) and the MCP server keep the defaults.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // `-no-pie` is the GCC and Clang driver flag for ELF targets; elsewhere
    // the platform default stands.
    if os != "linux" || target_env != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bin=kioku-mesh=-no-pie");
    if let Some(dir) = static_unwinder_dir() {
        // Rust's standard library asks for `-lgcc_s`. The linker searches
        // this directory first and finds an archive there under that name:
        // the static `libgcc_eh.a`, which is what `gcc -static-libgcc` links.
        println!("cargo:rustc-link-arg-bin=kioku-mesh=-L{}", dir.display());
    }
}

/// A directory holding `libgcc_s.a`, a link to the C compiler's static
/// unwinder, or `None` when the compiler has none (the executable then
/// loads `libgcc_s.so.1` as usual).
fn static_unwinder_dir() -> Option<PathBuf> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let output = Command::new(compiler)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let archive = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    // Without the file the compiler echoes the bare name back.
    if !output.status.success() || !archive.is_absolute() || !archive.is_file() {
        return None;
    }
    let dir = PathBuf::from(std::env::var_os("OUT_DIR")?).join("static-unwinder");
    link_archive(&archive, &dir).ok()?;
    Some(dir)
}

fn link_archive(archive: &Path, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let link = dir.join("libgcc_s.a");
    let _ = std::fs::remove_file(&link);
    std::fs::copy(archive, link).map(drop)
}
