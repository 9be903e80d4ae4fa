//! `cargo xtask dist`: placeholder until release archives land.

use anyhow::Result;

pub fn run(_args: &[String]) -> Result<()> {
    anyhow::bail!("dist is not wired yet")
}
