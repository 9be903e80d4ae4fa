//! `kioku-mesh-daemon`: the same command line as `kioku-mesh`, built as a
//! position-independent executable, so that the long-running daemon keeps
//! address-space randomisation. `kioku-mesh serve` re-executes into it
//! (ADR 0013); users never need to call it by name.

fn main() -> std::process::ExitCode {
    kioku_mesh_cli::main(kioku_mesh_cli::Executable::Daemon)
}
