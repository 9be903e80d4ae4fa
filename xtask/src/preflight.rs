//! What the build and the tests need, detected from paths alone: libclang
//! where bindgen will load it from, the apt package lists, and the tools
//! installed under the target directory (Python venv, node_modules, zenohd).
//! Pure functions over directories, so fake trees can test every rule; the
//! installing lives in `tools.rs`.

use std::path::{Path, PathBuf};

/// One report line: `preflight: <label>  <status>`, labels aligned.
pub fn line(label: &str, status: &str) -> String {
    format!("preflight: {label:<13} {status}")
}

/// Where clang-sys (bindgen's loader, built with its `runtime` feature)
/// looks for libclang, in its order (clang-sys 1.9 `build/common.rs`).
pub struct LibclangSearch {
    /// `LIBCLANG_PATH`: when set, the only place searched (a directory, or
    /// the library file itself).
    pub libclang_path: Option<PathBuf>,
    /// Searched before the system patterns: `llvm-config --prefix`'s `bin`,
    /// `lib` and `lib64`, then `LD_LIBRARY_PATH`, then `LIBRARY_PATH`.
    pub dirs: Vec<PathBuf>,
    /// Where the system directory patterns are anchored: `/`, or a fake
    /// root in tests.
    pub root: PathBuf,
}

/// clang-sys's Linux directory patterns, relative to the root.
const LINUX_DIR_PATTERNS: &[&str] = &[
    "usr/local/llvm*/lib*",
    "usr/local/lib*/*/*",
    "usr/local/lib*/*",
    "usr/local/lib*",
    "usr/lib*/*/*",
    "usr/lib*/*",
    "usr/lib*",
];

impl LibclangSearch {
    /// The search bindgen would do in this process's environment.
    pub fn from_env() -> Self {
        let mut dirs = Vec::new();
        let llvm_config =
            std::env::var("LLVM_CONFIG_PATH").unwrap_or_else(|_| "llvm-config".to_owned());
        if let Ok(out) = std::process::Command::new(llvm_config)
            .arg("--prefix")
            .output()
            && out.status.success()
            && let Some(prefix) = String::from_utf8_lossy(&out.stdout).lines().next()
        {
            let prefix = Path::new(prefix.trim());
            dirs.extend(["bin", "lib", "lib64"].map(|d| prefix.join(d)));
        }
        for var in ["LD_LIBRARY_PATH", "LIBRARY_PATH"] {
            if let Some(value) = std::env::var_os(var) {
                dirs.extend(std::env::split_paths(&value));
            }
        }
        Self {
            libclang_path: std::env::var_os("LIBCLANG_PATH").map(PathBuf::from),
            dirs,
            root: PathBuf::from("/"),
        }
    }
}

/// The libclang bindgen will load, if any: among the candidates it accepts,
/// the highest version, the first found on a tie (as clang-sys picks).
pub fn find_libclang(search: &LibclangSearch) -> Option<PathBuf> {
    let candidates = libclang_candidates(search);
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for path in candidates {
        let name = path.file_name()?.to_string_lossy().into_owned();
        let version = libclang_version(&name);
        if best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, path));
        }
    }
    best.map(|(_, path)| path)
}

fn libclang_candidates(search: &LibclangSearch) -> Vec<PathBuf> {
    if let Some(path) = &search.libclang_path {
        // A path naming the library itself wins; else it is a directory.
        if path
            .file_name()
            .is_some_and(|n| is_libclang_name(&n.to_string_lossy()))
            && is_native_elf(path)
        {
            return vec![path.clone()];
        }
        return libclang_in(path);
    }
    let mut found: Vec<PathBuf> = search.dirs.iter().flat_map(|d| libclang_in(d)).collect();
    for pattern in LINUX_DIR_PATTERNS {
        for dir in expand_dir_pattern(&search.root, pattern) {
            found.extend(libclang_in(&dir));
        }
    }
    found
}

/// The loadable libclang libraries directly in `dir`, sorted by name.
fn libclang_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| is_libclang_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| is_native_elf(p))
        .collect();
    found.sort();
    found
}

/// True for the file names clang-sys accepts at run time: `libclang.so`,
/// `libclang-*.so`, `libclang.so.*`, `libclang-*.so.*`, never the C++ API
/// library `libclang-cpp.so*`, which lacks the C functions bindgen calls.
pub fn is_libclang_name(name: &str) -> bool {
    if name.contains("-cpp.") {
        return false;
    }
    if name == "libclang.so" || name.starts_with("libclang.so.") {
        return true;
    }
    name.strip_prefix("libclang-")
        .is_some_and(|rest| rest.ends_with(".so") || rest.contains(".so."))
}

/// The version clang-sys reads from a file name, to rank candidates.
fn libclang_version(name: &str) -> Vec<u32> {
    let version = if let Some(v) = name.strip_prefix("libclang.so.") {
        v
    } else if name.starts_with("libclang-") {
        name.get(9..name.len().saturating_sub(3)).unwrap_or("")
    } else {
        return Vec::new();
    };
    version.split('.').map(|s| s.parse().unwrap_or(0)).collect()
}

/// True when `path` is an ELF shared object of this machine's word size
/// (clang-sys skips the others; a dangling symlink fails here too).
fn is_native_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 5];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header));
    let class = if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    };
    read.is_ok() && header[..4] == *b"\x7fELF" && header[4] == class
}

/// The directories matching `pattern` (segments with `*` wildcards, case
/// insensitive, as clang-sys globs them) under `root`, sorted.
fn expand_dir_pattern(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut current = vec![root.to_path_buf()];
    for segment in pattern.split('/') {
        let mut next = Vec::new();
        for dir in &current {
            if !segment.contains('*') {
                next.push(dir.join(segment));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut matched: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| wildcard_match(segment, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            matched.sort();
            next.extend(matched);
        }
        current = next;
    }
    current.retain(|p| p.is_dir());
    current
}

/// `*` matches any run of characters; everything else literally, ignoring
/// ASCII case.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().map_or(("", &[][..]), |(f, r)| (*f, r));
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// The executable `name` in a directory of `path_var` (a `PATH` value).
pub fn find_program(path_var: &str, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// True when apt has no package lists yet (a fresh image): `apt-get install`
/// would find nothing before an `apt-get update`. Lists may be compressed
/// (`..._Packages.lz4`).
pub fn apt_lists_empty(lists: &Path) -> bool {
    std::fs::read_dir(lists).map_or(true, |entries| {
        !entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    })
}

/// The `.dist-info` directory of `spec` (`name==version`) in the virtual
/// environment `venv`, when pip installed exactly that version there.
pub fn venv_package(venv: &Path, spec: &str) -> Option<PathBuf> {
    let (name, version) = spec.split_once("==")?;
    if !venv.join("bin/python").exists() {
        return None;
    }
    // Wheels name the directory after the project with `-` and `.` as `_`.
    let wanted = format!("{}-{version}.dist-info", name.replace(['-', '.'], "_")).to_lowercase();
    let lib = venv.join("lib");
    let mut pythons: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .map(|e| e.path().join("site-packages"))
        .collect();
    pythons.sort();
    pythons.into_iter().find_map(|site| {
        std::fs::read_dir(&site).ok()?.flatten().find_map(|e| {
            (e.file_name().to_string_lossy().to_lowercase() == wanted).then(|| e.path())
        })
    })
}

/// The `package.json` of `spec` (`name@version`) under `node_modules`, when
/// npm installed exactly that version there.
pub fn node_package(node_modules: &Path, spec: &str) -> Option<PathBuf> {
    // Scoped names start with `@`: split at the last `@`.
    let at = spec.rfind('@').filter(|&i| i > 0)?;
    let (name, version) = (&spec[..at], &spec[at + 1..]);
    let manifest = node_modules.join(name).join("package.json");
    let text = std::fs::read_to_string(&manifest).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    (json.get("version")?.as_str()? == version).then_some(manifest)
}

/// The stamp written beside a tool once its installation finished.
pub const STAMP: &str = ".kioku-installed";

/// `root/bin/zenohd`, when it exists and its stamp says `version` (the
/// binary is only ever written by `cargo install --version <version>`).
pub fn zenohd_installed(root: &Path, version: &str) -> Option<PathBuf> {
    let bin = root.join("bin/zenohd");
    let stamp = std::fs::read_to_string(root.join(STAMP)).ok()?;
    (bin.is_file() && stamp.trim() == version).then_some(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake 64-bit ELF shared object header: all clang-sys reads.
    const ELF64: &[u8] = b"\x7fELF\x02\x01\x01\0";

    fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        dir
    }

    fn search_root(root: &Path) -> Option<PathBuf> {
        find_libclang(&LibclangSearch {
            libclang_path: None,
            dirs: Vec::new(),
            root: root.to_path_buf(),
        })
    }

    #[test]
    fn libclang_cpp_alone_is_missing() {
        // Debian 12 without clang: only the C++ API library is present.
        let root = tree(&[
            ("usr/lib/x86_64-linux-gnu/libclang-cpp.so.14", ELF64),
            ("usr/lib/llvm-14/lib/libclang-cpp.so.14", ELF64),
            ("usr/lib/llvm-14/lib/libLLVM-14.so", ELF64),
        ]);
        assert_eq!(search_root(root.path()), None);
    }

    #[test]
    fn libclang_names_bindgen_loads() {
        for name in [
            "libclang.so",
            "libclang.so.1",
            "libclang.so.14",
            "libclang.so.14.0.6",
            "libclang-14.so",
            "libclang-14.so.1",
            "libclang-14.0.6.so",
        ] {
            assert!(is_libclang_name(name), "{name} should count");
        }
        for name in [
            "libclang-cpp.so",
            "libclang-cpp.so.14",
            "libclangBasic.a",
            "libclang.a",
            "libclang-14.a",
            "libclang_rt.asan.so",
            "libLLVM-14.so",
        ] {
            assert!(!is_libclang_name(name), "{name} must not count");
        }
    }

    #[test]
    fn debian_clang_install_is_found_in_llvm_dir() {
        let root = tree(&[
            ("usr/lib/x86_64-linux-gnu/libclang-cpp.so.14", ELF64),
            ("usr/lib/llvm-14/lib/libclang.so.1", ELF64),
        ]);
        assert_eq!(
            search_root(root.path()),
            Some(root.path().join("usr/lib/llvm-14/lib/libclang.so.1"))
        );
    }

    #[test]
    fn versioned_libclang_in_multiarch_dir_is_found() {
        let root = tree(&[("usr/lib/x86_64-linux-gnu/libclang-14.so.1", ELF64)]);
        assert_eq!(
            search_root(root.path()),
            Some(
                root.path()
                    .join("usr/lib/x86_64-linux-gnu/libclang-14.so.1")
            )
        );
        let root = tree(&[("usr/local/lib/libclang.so.14", ELF64)]);
        assert!(search_root(root.path()).is_some());
        let root = tree(&[("usr/lib64/libclang.so", ELF64)]);
        assert!(search_root(root.path()).is_some());
    }

    #[test]
    fn highest_version_wins() {
        let root = tree(&[
            ("usr/lib/llvm-14/lib/libclang.so.14", ELF64),
            ("usr/lib/llvm-16/lib/libclang.so.16", ELF64),
        ]);
        assert_eq!(
            search_root(root.path()),
            Some(root.path().join("usr/lib/llvm-16/lib/libclang.so.16"))
        );
    }

    #[test]
    fn non_elf_or_wrong_class_is_skipped() {
        // A linker script or a 32-bit library is not something bindgen loads.
        let root = tree(&[
            ("usr/lib/libclang.so", b"/* GNU ld script */"),
            ("usr/lib32/libclang.so.14", b"\x7fELF\x01\x01\x01\0"),
        ]);
        assert_eq!(search_root(root.path()), None);
    }

    #[test]
    fn libclang_path_is_the_only_place_searched() {
        let root = tree(&[
            ("usr/lib/llvm-14/lib/libclang.so.1", ELF64),
            ("opt/clang/lib/libclang-15.so", ELF64),
            ("empty/readme", b""),
        ]);
        let with = |path: &str| {
            find_libclang(&LibclangSearch {
                libclang_path: Some(root.path().join(path)),
                dirs: Vec::new(),
                root: root.path().to_path_buf(),
            })
        };
        assert_eq!(
            with("opt/clang/lib"),
            Some(root.path().join("opt/clang/lib/libclang-15.so"))
        );
        assert_eq!(
            with("opt/clang/lib/libclang-15.so"),
            Some(root.path().join("opt/clang/lib/libclang-15.so"))
        );
        // Set but empty: bindgen fails even though the system has one.
        assert_eq!(with("empty"), None);
    }

    #[test]
    fn extra_dirs_are_searched() {
        let root = tree(&[("opt/llvm/lib/libclang.so", ELF64)]);
        let found = find_libclang(&LibclangSearch {
            libclang_path: None,
            dirs: vec![root.path().join("opt/llvm/lib")],
            root: root.path().join("nothing-here"),
        });
        assert_eq!(found, Some(root.path().join("opt/llvm/lib/libclang.so")));
    }

    #[test]
    fn wildcards_match_like_glob() {
        assert!(wildcard_match("llvm*", "llvm-14"));
        assert!(wildcard_match("lib*", "lib"));
        assert!(wildcard_match("lib*", "LIB64"));
        assert!(wildcard_match("*", "x86_64-linux-gnu"));
        assert!(!wildcard_match("llvm*", "local"));
        assert!(wildcard_match("a*b*c", "a-b-c"));
        assert!(!wildcard_match("a*b*c", "a-c-b"));
    }

    #[test]
    fn a_program_is_found_only_when_executable_on_the_path() {
        use std::os::unix::fs::PermissionsExt;
        let a = tree(&[("tmux", b"#!/bin/sh\n")]);
        let b = tree(&[("tmux", b"#!/bin/sh\n")]);
        std::fs::set_permissions(
            b.path().join("tmux"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let path = format!("{}:{}", a.path().display(), b.path().display());
        assert_eq!(find_program(&path, "tmux"), Some(b.path().join("tmux")));
        assert_eq!(find_program(&a.path().display().to_string(), "tmux"), None);
        assert_eq!(find_program("", "tmux"), None);
    }

    #[test]
    fn apt_lists_count_only_package_indexes() {
        let empty = tree(&[("lock", b""), ("partial/x", b"")]);
        assert!(apt_lists_empty(empty.path()));
        assert!(apt_lists_empty(&empty.path().join("absent")));
        let filled = tree(&[(
            "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
            b"",
        )]);
        assert!(!apt_lists_empty(filled.path()));
    }

    #[test]
    fn venv_package_needs_the_exact_version() {
        let venv = tree(&[
            ("bin/python", b""),
            (
                "lib/python3.11/site-packages/kioku_mesh-1.2.0.dist-info/METADATA",
                b"",
            ),
            (
                "lib/python3.11/site-packages/mcp-2.2.0.dist-info/METADATA",
                b"",
            ),
        ]);
        assert!(venv_package(venv.path(), "kioku-mesh==1.2.0").is_some());
        assert!(venv_package(venv.path(), "mcp==2.3.0").is_none());
        assert!(venv_package(venv.path(), "kioku-mesh==1.1.0").is_none());
        let no_python = tree(&[(
            "lib/python3.11/site-packages/kioku_mesh-1.2.0.dist-info/METADATA",
            b"",
        )]);
        assert!(venv_package(no_python.path(), "kioku-mesh==1.2.0").is_none());
    }

    #[test]
    fn node_package_reads_the_installed_version() {
        let modules = tree(&[(
            "@modelcontextprotocol/sdk/package.json",
            br#"{"name":"@modelcontextprotocol/sdk","version":"1.32.2"}"#,
        )]);
        assert!(node_package(modules.path(), "@modelcontextprotocol/sdk@1.32.2").is_some());
        assert!(node_package(modules.path(), "@modelcontextprotocol/sdk@1.33.0").is_none());
        assert!(node_package(modules.path(), "left-pad@1.3.0").is_none());
    }

    #[test]
    fn zenohd_needs_binary_and_matching_stamp() {
        let done = tree(&[("bin/zenohd", b""), (STAMP, b"1.10.2")]);
        assert_eq!(
            zenohd_installed(done.path(), "1.10.2"),
            Some(done.path().join("bin/zenohd"))
        );
        assert_eq!(zenohd_installed(done.path(), "1.11.0"), None);
        // Interrupted `cargo install`: binary without a stamp.
        let partial = tree(&[("bin/zenohd", b"")]);
        assert_eq!(zenohd_installed(partial.path(), "1.10.2"), None);
        let no_bin = tree(&[(STAMP, b"1.10.2")]);
        assert_eq!(zenohd_installed(no_bin.path(), "1.10.2"), None);
    }
}
