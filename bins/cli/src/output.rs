//! Writing results to standard output. A closed pipe (`| head`) ends the
//! command quietly instead of panicking.

use std::io::{ErrorKind, Write};

/// Print `text` and a newline to stdout.
pub fn line(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{}", text.as_ref()).and_then(|()| out.flush())
        && e.kind() == ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Print `text` without a trailing newline (a prompt).
pub fn prompt(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}

/// Print a line to stderr.
pub fn note(text: impl AsRef<str>) {
    eprintln!("{}", text.as_ref());
}
