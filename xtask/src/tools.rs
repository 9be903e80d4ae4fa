//! Installing what the tests need, into the target directory so that CI
//! keeps it between runs: the Python reference kioku-mesh 1.2.0 in its own
//! virtual environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{run, workspace};

/// The reference version the tests compare against.
pub const REFERENCE: &str = "kioku-mesh==1.2.0";

/// Paths of installed tools, exported to the tests as environment variables.
pub struct Tools {
    pub python_venv: PathBuf,
}

impl Tools {
    pub fn reference_bin(&self) -> PathBuf {
        self.python_venv.join("bin/kioku-mesh")
    }

    pub fn python(&self) -> PathBuf {
        self.python_venv.join("bin/python")
    }

    /// Set the variables the test harness reads.
    pub fn export(&self, cmd: &mut Command) {
        cmd.env("KIOKU_MESH_REF_BIN", self.reference_bin())
            .env("KIOKU_MESH_REF_PYTHON", self.python());
    }
}

/// Install every tool if missing; cheap when already present.
pub fn ensure_all() -> Result<Tools> {
    let ws = workspace()?;
    let root = ws.target.join("test-tools");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let python_venv = ensure_python_venv(&root.join("py"), &[REFERENCE])?;
    Ok(Tools { python_venv })
}

fn ensure_python_venv(venv: &Path, packages: &[&str]) -> Result<PathBuf> {
    let stamp = venv.join(".kioku-installed");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(venv.to_path_buf());
    }
    let python = find_python()?;
    if !venv.join("bin/python").exists() {
        run(Command::new(&python).args(["-m", "venv"]).arg(venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages))?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(venv.to_path_buf())
}

fn find_python() -> Result<String> {
    for candidate in ["python3.11", "python3", "python"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Ok(candidate.to_owned());
        }
    }
    bail!("no python3 found: install Python 3.10+ (the tests compare against the Python reference)")
}
