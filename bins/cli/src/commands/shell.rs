//! `kioku-mesh completions <shell>` and the hidden `kioku-mesh manpage`.

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::OK;
use crate::args::{Cli, CompletionsArgs};

pub fn completions(a: &CompletionsArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "kioku-mesh", &mut std::io::stdout());
    Ok(OK)
}

pub fn manpage() -> Result<u8> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .context("writing the man page")?;
    Ok(OK)
}
