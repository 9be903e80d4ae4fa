//! Link `kioku-mesh` as a fixed-address executable (ADR 0013).
//!
//! A position-independent executable spends about a millisecond of every
//! command applying some 45,000 relocations and copying the pages they
//! touch. The one-shot CLI skips that; the daemon (`kioku-mesh-daemon`) and
//! the MCP server stay position-independent.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // `-no-pie` is the GCC and Clang driver flag for ELF targets; elsewhere
    // the platform default stands.
    if os == "linux" && target_env == "gnu" {
        println!("cargo:rustc-link-arg-bin=kioku-mesh=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
