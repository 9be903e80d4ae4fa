//! Installing what the tests need, into the target directory so that CI
//! keeps it between runs: the Python reference kioku-mesh 1.2.0 and the
//! official Python MCP SDK in their own virtual environment, the official
//! TypeScript MCP SDK in a node_modules of its own, and Zenoh's zenohd.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{run, workspace};

/// The reference version the tests compare against.
pub const REFERENCE: &str = "kioku-mesh==1.2.0";
/// The Python MCP SDK the MCP tests drive the server with.
pub const PYTHON_MCP_SDK: &str = "mcp==2.3.0";
/// The TypeScript MCP SDK, the second independent client.
pub const TS_MCP_SDK: &str = "@modelcontextprotocol/sdk@1.32.2";
/// Zenoh's stock router, same version as our zenoh: the tests check that it
/// runs the hub config `init` writes and routes between our daemons.
pub const ZENOHD: &str = "1.10.2";

/// Paths of installed tools, exported to the tests as environment variables.
pub struct Tools {
    pub python_venv: PathBuf,
    pub node_modules: PathBuf,
    pub zenohd: PathBuf,
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
            .env("KIOKU_MESH_REF_PYTHON", self.python())
            .env("KIOKU_MESH_NODE_MODULES", &self.node_modules)
            .env("KIOKU_MESH_ZENOHD", &self.zenohd);
    }
}

/// Debian packages the build needs: librocksdb-sys generates its bindings
/// with bindgen, which loads libclang.
const SYSTEM_PACKAGES: &[&str] = &["clang", "libclang-dev"];

/// Install every tool if missing; cheap when already present.
pub fn ensure_all() -> Result<Tools> {
    ensure_system_packages()?;
    let ws = workspace()?;
    let root = ws.target.join("test-tools");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let python_venv = ensure_python_venv(&root.join("py"), &[REFERENCE, PYTHON_MCP_SDK])?;
    let node_modules = ensure_node_packages(&root.join("node"), &[TS_MCP_SDK])?;
    let zenohd = ensure_zenohd(&root.join("zenohd"), &ws.target.join("zenohd-build"))?;
    Ok(Tools {
        python_venv,
        node_modules,
        zenohd,
    })
}

/// `cargo install zenohd` (a debug build: about 3 minutes here, once) into
/// `root`, building in a target directory of its own so that its zenoh
/// features never mix with ours.
fn ensure_zenohd(root: &Path, target: &Path) -> Result<PathBuf> {
    let bin = root.join("bin/zenohd");
    let stamp = root.join(".kioku-installed");
    if bin.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == ZENOHD) {
        return Ok(bin);
    }
    run(crate::cargo()
        .args([
            "install",
            "zenohd",
            "--debug",
            "--version",
            ZENOHD,
            "--root",
        ])
        .arg(root)
        .env("CARGO_TARGET_DIR", target))
    .context("installing zenohd for the stock-router test")?;
    std::fs::write(&stamp, ZENOHD).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(bin)
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

fn ensure_node_packages(prefix: &Path, packages: &[&str]) -> Result<PathBuf> {
    let modules = prefix.join("node_modules");
    let stamp = prefix.join(".kioku-installed");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) && modules.exists() {
        return Ok(modules);
    }
    std::fs::create_dir_all(prefix).with_context(|| format!("creating {}", prefix.display()))?;
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(prefix)
        .args(packages))
    .context("installing the TypeScript MCP SDK (needs Node.js and npm)")?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(modules)
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

/// Install the build's system packages with apt when libclang is missing.
pub fn ensure_system_packages() -> Result<()> {
    if libclang_present() {
        return Ok(());
    }
    eprintln!(
        "libclang is missing (librocksdb-sys needs it); installing {}",
        SYSTEM_PACKAGES.join(" ")
    );
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        cmd
    };
    let mut install: Vec<&str> = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(SYSTEM_PACKAGES);
    if run(&mut apt(&install)).is_err() {
        run(&mut apt(&["update"]))?;
        run(&mut apt(&install))?;
    }
    if !libclang_present() {
        bail!(
            "libclang is still missing after installing {}; install it and set LIBCLANG_PATH",
            SYSTEM_PACKAGES.join(" ")
        );
    }
    Ok(())
}

/// True when bindgen will find a libclang shared library.
fn libclang_present() -> bool {
    if std::env::var_os("LIBCLANG_PATH").is_some_and(|dir| has_libclang(Path::new(&dir))) {
        return true;
    }
    let mut dirs: Vec<PathBuf> = vec![
        PathBuf::from("/usr/lib/x86_64-linux-gnu"),
        PathBuf::from("/usr/lib/aarch64-linux-gnu"),
        PathBuf::from("/usr/lib64"),
        PathBuf::from("/usr/lib"),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("llvm-") {
                dirs.push(e.path().join("lib"));
            }
        }
    }
    dirs.iter().any(|d| has_libclang(d))
}

fn has_libclang(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("libclang")
                && e.file_name().to_string_lossy().contains(".so")
        })
    })
}
