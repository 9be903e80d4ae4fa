//! `kioku-mesh`: the command-line interface. Linked without position
//! independence for fast start-up (ADR 0013); daemon commands continue in
//! `kioku-mesh-daemon`.

fn main() -> std::process::ExitCode {
    kioku_mesh_cli::main(kioku_mesh_cli::Executable::Cli)
}
