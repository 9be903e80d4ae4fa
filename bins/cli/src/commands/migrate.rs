//! `kioku-mesh migrate-visibility`.

use anyhow::Result;
use mesh_memory::{AnyStore, Memory};

use super::USAGE;
use crate::args::MigrateVisibilityArgs;
use crate::output;

pub async fn run(_a: &MigrateVisibilityArgs, _memory: &Memory<AnyStore>) -> Result<u8> {
    output::note("error: migrate-visibility is not implemented yet.");
    Ok(USAGE)
}
