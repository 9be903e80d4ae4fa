//! `kioku-mesh tls ...`: the private CA and the CSR flow. Reads the
//! arguments and the pasted blobs, calls `mesh_core::pki`, prints what the
//! reference prints. Guidance goes to stderr so stdout is a clean blob.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use mesh_core::pki::{self, PkiError, TlsFiles};
use mesh_core::{Environment, Paths};

use super::{FAILED, OK, USAGE, tls_policy};
use crate::args::{
    TlsCommand, TlsEnrollArgs, TlsInitCaArgs, TlsInstallArgs, TlsRequestArgs, TlsSignArgs,
};
use crate::output;

/// What `install` and `enroll` suggest next, as the reference does.
const NEXT: &str = "next: kioku-mesh init --mode <hub|spoke> --tls --listen ... --force";

/// Run one `tls` subcommand.
pub fn run(command: &TlsCommand, env: &Environment) -> Result<u8> {
    let files = TlsFiles::from_paths(&Paths::resolve(env)?);
    let outcome = match command {
        TlsCommand::InitCa(a) => init_ca(a, &files),
        TlsCommand::Request(a) => request(a, &files),
        TlsCommand::Sign(a) => sign(a, &files),
        TlsCommand::Install(a) => install(a, &files),
        TlsCommand::Enroll(a) => enroll(a, &files),
        TlsCommand::Info => Ok(info(&files)),
        TlsCommand::Grant(a) => tls_policy::grant(a, &files),
        TlsCommand::RevokeScope(a) => tls_policy::revoke_scope(a, &files),
        TlsCommand::Revoke(a) => tls_policy::revoke(a, &files),
        TlsCommand::Status => tls_policy::status(&files),
    };
    Ok(outcome.unwrap_or_else(|failure| failure.report()))
}

/// Why a subcommand stopped: a library refusal, or a message of our own.
pub(super) enum Failure {
    Pki(PkiError),
    Usage(String),
}

impl From<PkiError> for Failure {
    fn from(e: PkiError) -> Self {
        Self::Pki(e)
    }
}

impl Failure {
    fn report(self) -> u8 {
        match self {
            Self::Pki(e) => {
                output::note(format!("error: {e}"));
                if e.is_usage() { USAGE } else { FAILED }
            }
            Self::Usage(message) => {
                output::note(format!("error: {message}"));
                USAGE
            }
        }
    }
}

pub(super) type Outcome = std::result::Result<u8, Failure>;

fn init_ca(a: &TlsInitCaArgs, files: &TlsFiles) -> Outcome {
    pki::ca::init_ca(files, &a.name, a.days, a.force)?;
    output::line(format!(
        "wrote {} (keep this secret — never copy it to another host)",
        files.ca_key().display()
    ));
    output::line(format!(
        "wrote {} (public — distribute to every peer)",
        files.ca_cert().display()
    ));
    output::line(
        "next on each peer: kioku-mesh tls enroll <this-host> --san <address-peers-dial> (with SSH),",
    );
    output::line("             or copy-paste: kioku-mesh tls request --san <address-peers-dial>");
    Ok(OK)
}

fn write_text(path: &str, text: &str) -> std::result::Result<(), Failure> {
    std::fs::write(path, format!("{text}\n"))
        .map_err(|e| Failure::Usage(format!("cannot write {path}: {e}")))
}

fn request(a: &TlsRequestArgs, files: &TlsFiles) -> Outcome {
    let cn = Some(a.cn.as_str()).filter(|c| !c.is_empty());
    let csr = pki::csr::request(files, &a.san, cn)?;
    let blob = pki::blob::encode_csr_blob(&csr);
    output::note(format!(
        "wrote {} (private — stays on this host)",
        files.peer_key().display()
    ));
    if a.out.is_empty() {
        output::note("copy the block below to the CA host and run `kioku-mesh tls sign`:");
        output::line(&blob);
    } else {
        write_text(&a.out, &blob)?;
        output::note(format!(
            "wrote CSR request to {} — send it to the CA host",
            a.out
        ));
    }
    output::note(
        "then paste the bundle it returns into `kioku-mesh tls install` here.\n\
         (have SSH to the CA host? `kioku-mesh tls enroll <ca-host> --san ...` does all three steps.)",
    );
    Ok(OK)
}

/// Read a pasted blob from stdin up to its `-----END` line, so a paste at
/// a terminal needs no Ctrl-D; piped input without one reads to the end.
fn read_pasted_blob(prompt: &str) -> String {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        output::note(prompt);
    }
    let mut text = String::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let end = line.trim_start().starts_with("-----END KIOKU-MESH");
        text.push_str(&line);
        text.push('\n');
        if end {
            break;
        }
    }
    text
}

fn read_input_file(path: &Path, missing: String) -> std::result::Result<String, Failure> {
    if !path.is_file() {
        return Err(Failure::Usage(missing));
    }
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

fn sign(a: &TlsSignArgs, files: &TlsFiles) -> Outcome {
    // Checked before reading stdin, so a host without a CA does not wait
    // for a paste it cannot use.
    if !files.ca_key().is_file() {
        return Err(PkiError::NoCa {
            path: files.ca_key(),
        }
        .into());
    }
    pki::ca::check_cert_days(a.days)?;
    let raw = match &a.csr {
        Some(path) => read_input_file(path, format!("CSR not found: {}", path.display()))?,
        None => read_pasted_blob(
            "paste the CSR block from `kioku-mesh tls request` (reads to its -----END line):",
        ),
    };
    let csr = pki::blob::decode_csr_blob(&raw)?;
    let (cert, ca) = pki::ca::sign(files, &csr, a.days)?;
    // Admitted before the bundle is shown: a revoked name gets no bundle.
    tls_policy::admit(files, &cert, &a.scopes)?;
    let bundle = pki::blob::encode_cert_bundle(&cert, &ca);
    if a.out.is_empty() {
        output::note(
            "copy the block below back to the requesting peer for `kioku-mesh tls install`:",
        );
        output::line(&bundle);
    } else {
        write_text(&a.out, &bundle)?;
        output::note(format!(
            "wrote signed bundle to {} — send it back to the requesting peer",
            a.out
        ));
    }
    Ok(OK)
}

fn install_material(a: &TlsInstallArgs) -> std::result::Result<(String, String), Failure> {
    match (&a.cert, &a.ca) {
        (Some(cert), Some(ca)) => {
            let missing =
                |label: &str, p: &PathBuf| format!("{label} file not found: {}", p.display());
            let cert_pem = read_input_file(cert, missing("--cert", cert))?;
            let ca_pem = read_input_file(ca, missing("--ca", ca))?;
            Ok((cert_pem, ca_pem))
        }
        (None, None) => {
            let raw = match &a.bundle {
                Some(path) => {
                    read_input_file(path, format!("bundle file not found: {}", path.display()))?
                }
                None => read_pasted_blob(
                    "paste the bundle block from `kioku-mesh tls sign` (reads to its -----END line):",
                ),
            };
            Ok(pki::blob::decode_cert_bundle(&raw)?)
        }
        _ => Err(Failure::Usage(
            "--cert and --ca must be given together (or omit both to paste a bundle).".to_owned(),
        )),
    }
}

fn install(a: &TlsInstallArgs, files: &TlsFiles) -> Outcome {
    if !files.peer_key().is_file() {
        return Err(PkiError::NoPeerKey {
            path: files.peer_key(),
        }
        .into());
    }
    let (cert, ca) = install_material(a)?;
    pki::install::install(files, &cert, &ca)?;
    output::line(format!("installed {}", files.peer_cert().display()));
    output::line(format!("installed {}", files.ca_cert().display()));
    output::line(NEXT);
    Ok(OK)
}

/// Quote one word for the remote shell, as Python's `shlex.quote` does.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\"'\"'"))
    }
}

/// What the SSH child did.
struct Remote {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Run `ssh` with `input` on stdin; `None` when it outlived `timeout`
/// (it is killed then).
fn run_ssh(args: &[String], input: &str, timeout: Duration) -> std::io::Result<Option<Remote>> {
    use std::io::{Read, Write};
    let mut child = Command::new("ssh")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            // The readers are left behind: a grandchild may still hold
            // the pipes open, and the process exits right after this.
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    Ok(Some(Remote {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }))
}

fn enroll(a: &TlsEnrollArgs, files: &TlsFiles) -> Outcome {
    pki::ca::check_cert_days(a.days)?;
    let cn = Some(a.cn.as_str()).filter(|c| !c.is_empty());
    // The key stays in memory until the bundle checks out, so a failed
    // enrollment never replaces the key of an already-enrolled host.
    let material = pki::csr::build_key_and_request(&a.san, cn)?;
    let blob = pki::blob::encode_csr_blob(&material.csr_pem);
    let mut ssh_args = Vec::new();
    if a.ssh_port != 0 {
        ssh_args.extend(["-p".to_owned(), a.ssh_port.to_string()]);
    }
    for opt in &a.ssh_opt {
        ssh_args.extend(["-o".to_owned(), opt.clone()]);
    }
    let remote = [
        a.remote_mesh.as_str(),
        "tls",
        "sign",
        "--days",
        &a.days.to_string(),
    ]
    .map(shell_quote)
    .join(" ");
    let remote = a.scopes.iter().fold(remote, |cmd, scope| {
        format!("{cmd} --scope {}", shell_quote(&scope.label()))
    });
    ssh_args.extend([a.ca_host.clone(), remote]);
    output::note(format!("signing on {} over SSH ...", a.ca_host));
    let result = match run_ssh(&ssh_args, &blob, Duration::from_secs(a.timeout)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::Usage(
                "`ssh` not found. Use the copy-paste flow instead: `tls request` -> `tls sign` -> `tls install`."
                    .to_owned(),
            ));
        }
        Err(e) => return Err(Failure::Usage(format!("cannot run ssh: {e}"))),
        Ok(None) => {
            return Err(Failure::Usage(format!(
                "SSH to {} timed out after {}s.",
                a.ca_host, a.timeout
            )));
        }
        Ok(Some(r)) => r,
    };
    if result.code != Some(0) {
        let remote_err = result.stderr.trim_end();
        if !remote_err.is_empty() {
            output::note(remote_err);
        }
        let code = result.code.map_or("signal".to_owned(), |c| c.to_string());
        return Err(Failure::Usage(format!(
            "remote `tls sign` failed on {} (exit {code}). Is `{}` on its PATH and the CA initialized there?",
            a.ca_host, a.remote_mesh
        )));
    }
    let (cert, ca) = pki::blob::decode_cert_bundle(&result.stdout)?;
    pki::install::install_with_new_key(files, &material, &cert, &ca)?;
    output::line(format!(
        "enrolled via {}: installed {} + {}",
        a.ca_host,
        files.peer_cert().display(),
        files.ca_cert().display()
    ));
    output::line(NEXT);
    Ok(OK)
}

fn info(files: &TlsFiles) -> u8 {
    let certs = pki::inspect::stored_certs(files);
    if certs.is_empty() {
        output::line(
            "no certificates found. Run `kioku-mesh tls init-ca` / `tls request` to provision them.",
        );
        return FAILED;
    }
    let now = chrono::Utc::now();
    for stored in certs {
        let path = stored.path.display();
        let info = match stored.info {
            Ok(info) => info,
            Err(e) => {
                output::line(format!("{}: {path} — unreadable ({e})", stored.label));
                continue;
            }
        };
        let state = if info.expired(now) {
            "EXPIRED".to_owned()
        } else {
            format!("{}d left", info.days_remaining(now))
        };
        output::line(format!("{}: {path}", stored.label));
        output::line(format!("  subject: {}", info.subject));
        if !info.sans.is_empty() {
            output::line(format!("  SAN:     {}", info.sans.join(", ")));
        }
        if stored.label == "peer"
            && let Some(scopes) = tls_policy::scopes_line(files, &info)
        {
            output::line(format!("  scopes:  {scopes}"));
        }
        output::line(format!(
            "  expires: {} ({state})",
            info.not_after.format("%Y-%m-%d")
        ));
    }
    OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_words_are_quoted_like_shlex() {
        assert_eq!(shell_quote("kioku-mesh"), "kioku-mesh");
        assert_eq!(shell_quote("/opt/my tools/km"), "'/opt/my tools/km'");
        assert_eq!(shell_quote("a'b"), "'a'\"'\"'b'");
        assert_eq!(shell_quote(""), "''");
    }
}
