//! The certificate store under `<config>/tls/`: which file is which, and
//! how each is written and read. Private keys are created 0600 (the mode is
//! set at creation, never chmod-ed afterwards) and refused when group or
//! others may read them. Every write goes to a temporary file in the same
//! directory and is renamed into place, so a file is either the old one or
//! the new one, never half written.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::PkiError;
use crate::Paths;

/// The paths of the certificate store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `<config>/tls`.
    pub dir: PathBuf,
}

impl TlsFiles {
    /// The store beside the configuration file, as the reference places it.
    pub fn from_paths(paths: &Paths) -> Self {
        Self::at(paths.config_dir.join("tls"))
    }

    /// A store in an explicit directory (tests).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The CA's private key (CA host only, 0600).
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// The CA certificate (public, on every host).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// This host's private key (0600, never leaves the host).
    pub fn peer_key(&self) -> PathBuf {
        self.dir.join("peer.key")
    }

    /// This host's last certificate request (public).
    pub fn peer_csr(&self) -> PathBuf {
        self.dir.join("peer.csr")
    }

    /// This host's signed certificate (public).
    pub fn peer_cert(&self) -> PathBuf {
        self.dir.join("peer.crt")
    }

    /// The admission policy in force, signed by the CA (public).
    pub fn policy(&self) -> PathBuf {
        self.dir.join("policy.json")
    }
}

/// Mode of private key files.
const SECRET_MODE: u32 = 0o600;
/// Mode of certificates and requests.
const PUBLIC_MODE: u32 = 0o644;

/// Write a private key atomically, created with mode 0600.
pub(crate) fn write_secret(path: &Path, data: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, data, SECRET_MODE)
}

/// Write a certificate or request atomically, mode 0644.
pub(crate) fn write_public(path: &Path, data: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, data, PUBLIC_MODE)
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| PkiError::io("cannot create", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A stale temporary file from a crashed run may hold looser bits.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have cleared bits of a public file; a secret's
        // mode only ever loses bits, so this never widens it.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(PkiError::io("cannot write", path, e));
    }
    Ok(())
}

/// Read a private key, refusing one that group or others may read.
pub(crate) fn read_secret(path: &Path) -> Result<String, PkiError> {
    let meta = fs::metadata(path).map_err(|e| PkiError::io("cannot read", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PkiError::KeyTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    fs::read_to_string(path).map_err(|e| PkiError::io("cannot read", path, e))
}

/// Read a certificate or request.
pub(crate) fn read_public(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|e| PkiError::io("cannot read", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_created_private_and_public_files_readable() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::at(dir.path().join("tls"));
        write_secret(&files.peer_key(), b"k").unwrap();
        write_public(&files.peer_csr(), b"c").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.peer_key()), 0o600);
        assert_eq!(mode(&files.peer_csr()), 0o644);
        assert_eq!(read_secret(&files.peer_key()).unwrap(), "k");
        // Only the two files: no temporary left behind.
        assert_eq!(fs::read_dir(&files.dir).unwrap().count(), 2);
    }

    #[test]
    fn a_key_readable_by_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::at(dir.path());
        write_secret(&files.ca_key(), b"k").unwrap();
        fs::set_permissions(files.ca_key(), fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_secret(&files.ca_key()).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", files.ca_key().display())),
            "{err}"
        );
    }

    #[test]
    fn rewriting_a_loose_key_makes_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peer.key");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_secret(&path, b"new").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
