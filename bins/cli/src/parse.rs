//! Parsing the command line. clap builds the parser of every subcommand
//! before it reads an argument, about a fifth of a millisecond of allocation
//! and page faults in every start; the short store commands, run by agent
//! hooks many times a session, build only their own.
//!
//! The short parser only ever accepts: on anything it does not take
//! cleanly (another command, an alias, `--help`, a typo) the full parser
//! runs, so every message and exit code is the full parser's.

use std::ffi::OsString;

use clap::{Args, FromArgMatches, Parser};

use crate::args::{
    BackfillArgs, Cli, DeleteArgs, GcArgs, GcObservationsArgs, GetArgs, GlobalOptions, SaveArgs,
    SearchArgs, StatusArgs,
};

/// Parse this process's arguments, exiting with clap's message on an error.
pub fn parse() -> Cli {
    let argv: Vec<OsString> = std::env::args_os().collect();
    short(&argv).unwrap_or_else(|| Cli::parse_from(argv))
}

/// Adds a subcommand's arguments to its parser.
type Augment = fn(clap::Command) -> clap::Command;

/// The store commands by name, with what adds their arguments.
const STORE_COMMANDS: [(&str, Augment); 8] = [
    ("save", SaveArgs::augment_args),
    ("search", SearchArgs::augment_args),
    ("get-memory", GetArgs::augment_args),
    ("delete", DeleteArgs::augment_args),
    ("status", StatusArgs::augment_args),
    ("gc", GcArgs::augment_args),
    ("gc-observations", GcObservationsArgs::augment_args),
    ("backfill-metadata", BackfillArgs::augment_args),
];

/// The parser of one store command, by the name typed right after the
/// program name; `None` for every other command.
fn store_command(name: &str) -> Option<clap::Command> {
    let (name, augment) = STORE_COMMANDS.iter().find(|(n, _)| *n == name)?;
    Some(augment(clap::Command::new(*name)))
}

/// `argv` parsed by a parser holding only its store command, or `None`
/// when that parser does not accept it outright.
fn short(argv: &[OsString]) -> Option<Cli> {
    let sub = store_command(argv.get(1)?.to_str()?)?;
    let root = GlobalOptions::augment_args(clap::Command::new("kioku-mesh")).subcommand(sub);
    let matches = root.try_get_matches_from(argv).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn argv(line: &[&str]) -> Vec<OsString> {
        std::iter::once("kioku-mesh")
            .chain(line.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Every store command parses the same way through either parser.
    #[test]
    fn the_short_parser_agrees_with_the_full_one() {
        for line in [
            &["save", "x", "--subject", "s", "--summary", "m"][..],
            &[
                "save",
                "-",
                "-p",
                "proj",
                "-t",
                "a,b",
                "--memory-type",
                "bug",
                "--rebuild",
            ],
            &[
                "save",
                "x",
                "--importance",
                "5",
                "--supersedes",
                "0123456789abcdef0123456789abcdef",
            ],
            &["search", "cache"],
            &[
                "search",
                "-n",
                "-5",
                "--project",
                "p",
                "--format",
                "json",
                "--also",
                "two",
                "--search-mode",
                "or",
            ],
            &["search", "--rebuild", "--since", "2026-11-01"],
            &["get-memory", "0123456789abcdef0123456789abcdef"],
            &["delete", "--project", "p", "--dry-run"],
            &["status"],
            &["status", "--rebuild"],
            &["gc"],
            &["gc", "--force-id", "0123456789abcdef0123456789abcdef"],
            &["gc-observations"],
            &["backfill-metadata"],
        ] {
            let full = Cli::try_parse_from(argv(line)).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let short = short(&argv(line)).unwrap_or_else(|| panic!("{line:?}: not taken"));
            assert_eq!(format!("{short:?}"), format!("{full:?}"), "{line:?}");
            assert!(short.command.is_store_command(), "{line:?}");
        }
    }

    /// Help, version, errors, aliases and other commands go to the full
    /// parser, which prints its own messages.
    #[test]
    fn the_short_parser_declines_what_it_does_not_take_cleanly() {
        for line in [
            &[][..],
            &["--rebuild", "status"],
            &["save"],
            &["save", "--help"],
            &["search", "-h"],
            &["status", "--version"],
            &["search", "--no-such-flag"],
            &["gc", "extra"],
            &["serve"],
            &["mcp", "install", "--client", "claude-code"],
            &["Save", "x"],
        ] {
            assert!(short(&argv(line)).is_none(), "{line:?}");
        }
    }

    /// A store command's short parser has exactly the arguments and
    /// settings the full parser gives it.
    #[test]
    fn each_short_parser_is_the_full_parsers_subcommand() {
        let full = Cli::command();
        let mut store = 0;
        for sub in full.get_subcommands() {
            let Some(short) = store_command(sub.get_name()) else {
                continue;
            };
            store += 1;
            // About and place in the help list belong to the full parser.
            let strip = |c: &clap::Command| {
                let c = c.clone().about(None::<&str>).long_about(None::<&str>);
                format!("{:?}", c.display_order(0))
            };
            assert_eq!(strip(&short), strip(sub), "{}", sub.get_name());
        }
        assert_eq!(
            store,
            STORE_COMMANDS.len(),
            "a short parser names no command"
        );
    }
}
