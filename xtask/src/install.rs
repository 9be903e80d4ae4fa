//! `cargo xtask install [--root DIR]`: the mesh-capable install. Builds the
//! release binaries and the RocksDB backend library `kioku-mesh serve`
//! loads, and copies them into one directory (default `$CARGO_HOME/bin`).
//! The build and copy steps are shared with `cargo xtask dist`.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use cargo_metadata::Message;

use crate::{Workspace, cargo, describe, tools, workspace};

/// The binaries users run.
/// `kioku-mesh serve` re-executes into `kioku-mesh-daemon` beside it (ADR 0013).
pub const BINARIES: &[&str] = &["kioku-mesh", "kioku-mesh-daemon", "kioku-mesh-mcp"];
/// The library target of zenoh-backend-rocksdb (a cdylib).
const BACKEND_TARGET: &str = "zenoh_backend_rocksdb";
/// The name `serve` looks for beside its executable (mesh_core::session).
pub const BACKEND_FILE: &str = "libzenoh_backend_rocksdb.so";

/// What a release build produced: (built file, name to install it as).
pub struct Release {
    pub files: Vec<(PathBuf, String)>,
}

impl Release {
    /// The built path of `name` (a binary or [`BACKEND_FILE`]).
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|(_, n)| n == name)
            .map(|(p, _)| p.as_path())
    }
}

pub fn run_install(args: &[String]) -> Result<()> {
    let dir = match parse_root(args)? {
        Some(dir) => dir,
        None => default_root()?,
    };
    tools::ensure_libclang()
        .context("the RocksDB backend's build (librocksdb-sys) needs libclang")?;
    let ws = workspace()?;
    let release = build_release(&ws)?;
    let written = copy_release(&release, &dir)?;
    println!("installed into {}:", dir.display());
    for path in &written {
        println!("  {}", path.display());
    }
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == dir));
    if !on_path {
        println!("add {} to your PATH", dir.display());
    }
    println!(
        "next: kioku-mesh init --mode hub --listen 127.0.0.1 --listen <this machine's LAN address> \
         (or --mode spoke --listen 127.0.0.1 --connect <hub>), then kioku-mesh serve; \
         kioku-mesh mcp install --client <client> registers the MCP server"
    );
    Ok(())
}

fn parse_root(args: &[String]) -> Result<Option<PathBuf>> {
    let mut root = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(value) = arg.strip_prefix("--root=") {
            root = Some(PathBuf::from(value));
        } else if arg == "--root" {
            let value = iter
                .next()
                .context("--root needs a directory: cargo xtask install --root DIR")?;
            root = Some(PathBuf::from(value));
        } else {
            bail!("unknown argument '{arg}': usage: cargo xtask install [--root DIR]");
        }
    }
    Ok(root)
}

/// Where `cargo install` puts binaries: `$CARGO_HOME/bin`, else `~/.cargo/bin`.
fn default_root() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home).join("bin"));
    }
    let home =
        std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set: pass --root DIR")?;
    Ok(PathBuf::from(home).join(".cargo/bin"))
}

/// Build the release binaries and the backend library in one cargo run (so
/// that zenoh's features are the same in both), and read their paths from
/// cargo's artifact messages: the library lies in `deps/` under a hashed
/// name, and an older copy with another hash may lie beside it.
pub fn build_release(ws: &Workspace) -> Result<Release> {
    let mut cmd = cargo();
    cmd.current_dir(&ws.root).args([
        "build",
        "--release",
        "--message-format=json-render-diagnostics",
        "-p",
        "kioku-mesh",
        "-p",
        "kioku-mesh-mcp",
        "-p",
        "mesh-rocksdb-backend",
    ]);
    eprintln!("$ {}", describe(&cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", describe(&cmd)))?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let messages: Vec<Message> = Message::parse_stream(BufReader::new(stdout))
        .collect::<std::io::Result<_>>()
        .context("reading cargo's messages")?;
    let status = child.wait()?;
    if !status.success() {
        bail!("{} failed with {status}", describe(&cmd));
    }
    release_from_messages(&messages)
}

/// The installable files among cargo's artifact messages.
fn release_from_messages(messages: &[Message]) -> Result<Release> {
    let mut files = Vec::new();
    for message in messages {
        let Message::CompilerArtifact(artifact) = message else {
            continue;
        };
        let name = artifact.target.name.as_str();
        if let Some(exe) = &artifact.executable
            && BINARIES.contains(&name)
        {
            files.push((exe.clone().into_std_path_buf(), name.to_owned()));
        } else if name == BACKEND_TARGET
            && let Some(lib) = artifact
                .filenames
                .iter()
                .find(|f| f.as_str().ends_with(".so"))
        {
            files.push((lib.clone().into_std_path_buf(), BACKEND_FILE.to_owned()));
        }
    }
    for wanted in BINARIES.iter().copied().chain([BACKEND_FILE]) {
        if !files.iter().any(|(_, n)| n == wanted) {
            bail!("cargo built no {wanted}: is mesh-rocksdb-backend still a workspace member?");
        }
    }
    Ok(Release { files })
}

/// Copy the release files into `dir`, each through a temporary file and a
/// rename, so that a running `kioku-mesh serve` keeps its old executable.
pub fn copy_release(release: &Release, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (from, name) in &release.files {
        let to = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::copy(from, &tmp)
            .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
        std::fs::rename(&tmp, &to).with_context(|| format!("replacing {}", to.display()))?;
        written.push(to);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(name: &str, kind: &str, filenames: &[&str], executable: Option<&str>) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": format!("path+file:///w#{name}@0.1.0"),
            "manifest_path": "/w/Cargo.toml",
            "target": {
                "kind": [kind], "crate_types": [kind], "name": name,
                "src_path": "/w/src/lib.rs", "edition": "2024",
                "doctest": false, "test": false, "doc": false
            },
            "profile": {
                "opt_level": "3", "debuginfo": 0, "debug_assertions": false,
                "overflow_checks": false, "test": false
            },
            "features": [],
            "filenames": filenames,
            "executable": executable,
            "fresh": true
        })
        .to_string()
    }

    fn parse(lines: &[String]) -> Vec<Message> {
        Message::parse_stream(lines.join("\n").as_bytes())
            .collect::<std::io::Result<_>>()
            .unwrap()
    }

    #[test]
    fn backend_library_comes_from_its_artifact_and_is_renamed() {
        let messages = parse(&[
            artifact(
                "kioku-mesh",
                "bin",
                &["/t/release/kioku-mesh"],
                Some("/t/release/kioku-mesh"),
            ),
            artifact(
                "kioku-mesh-daemon",
                "bin",
                &["/t/release/kioku-mesh-daemon"],
                Some("/t/release/kioku-mesh-daemon"),
            ),
            artifact(
                "zenoh_backend_rocksdb",
                "cdylib",
                &[
                    "/t/release/deps/libzenoh_backend_rocksdb-1234.rlib",
                    "/t/release/deps/libzenoh_backend_rocksdb-1234.so",
                ],
                None,
            ),
            artifact(
                "kioku-mesh-mcp",
                "bin",
                &["/t/release/kioku-mesh-mcp"],
                Some("/t/release/kioku-mesh-mcp"),
            ),
            artifact(
                "mesh_core",
                "lib",
                &["/t/release/deps/libmesh_core-9.rlib"],
                None,
            ),
        ]);
        let release = release_from_messages(&messages).unwrap();
        assert_eq!(release.files.len(), 4);
        assert_eq!(
            release.path(BACKEND_FILE),
            Some(Path::new(
                "/t/release/deps/libzenoh_backend_rocksdb-1234.so"
            ))
        );
        assert_eq!(
            release.path("kioku-mesh"),
            Some(Path::new("/t/release/kioku-mesh"))
        );
    }

    #[test]
    fn a_build_without_the_backend_is_refused() {
        let messages = parse(&[
            artifact(
                "kioku-mesh",
                "bin",
                &["/t/release/kioku-mesh"],
                Some("/t/release/kioku-mesh"),
            ),
            artifact(
                "kioku-mesh-daemon",
                "bin",
                &["/t/release/kioku-mesh-daemon"],
                Some("/t/release/kioku-mesh-daemon"),
            ),
            artifact(
                "kioku-mesh-mcp",
                "bin",
                &["/t/release/kioku-mesh-mcp"],
                Some("/t/release/kioku-mesh-mcp"),
            ),
        ]);
        let err = release_from_messages(&messages).err().unwrap().to_string();
        assert!(err.contains(BACKEND_FILE), "{err}");
    }

    #[test]
    fn copy_writes_every_file_under_its_install_name() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let lib = src.path().join("libzenoh_backend_rocksdb-1234.so");
        std::fs::write(&lib, b"lib").unwrap();
        let bin = src.path().join("kioku-mesh");
        std::fs::write(&bin, b"bin").unwrap();
        std::fs::write(dest.path().join("kioku-mesh"), b"old").unwrap();
        let release = Release {
            files: vec![
                (bin, "kioku-mesh".to_owned()),
                (lib, BACKEND_FILE.to_owned()),
            ],
        };
        let written = copy_release(&release, dest.path()).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(
            std::fs::read(dest.path().join("kioku-mesh")).unwrap(),
            b"bin"
        );
        assert_eq!(
            std::fs::read(dest.path().join(BACKEND_FILE)).unwrap(),
            b"lib"
        );
        let names: Vec<_> = std::fs::read_dir(dest.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "temporary files left: {names:?}");
    }

    #[test]
    fn root_argument_forms() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(parse_root(&args(&[])).unwrap(), None);
        assert_eq!(
            parse_root(&args(&["--root", "/opt/km"])).unwrap(),
            Some(PathBuf::from("/opt/km"))
        );
        assert_eq!(
            parse_root(&args(&["--root=/opt/km"])).unwrap(),
            Some(PathBuf::from("/opt/km"))
        );
        assert!(parse_root(&args(&["--root"])).is_err());
        assert!(parse_root(&args(&["--prefix", "/x"])).is_err());
    }
}
