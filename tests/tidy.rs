//! Architecture rules, checked over `cargo metadata` and the source tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Workspace package name -> the workspace packages it depends on (any kind).
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata");
    let members: BTreeSet<String> = meta
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    meta.workspace_packages()
        .iter()
        .map(|p| {
            let deps = p
                .dependencies
                .iter()
                .map(|d| d.name.clone())
                .filter(|d| members.contains(d))
                .collect();
            (p.name.to_string(), deps)
        })
        .collect()
}

#[test]
fn layering_holds() {
    let g = workspace_graph();
    let deps = |p: &str| g.get(p).unwrap_or_else(|| panic!("package {p} missing"));
    assert!(
        deps("mesh-core").is_empty(),
        "mesh-core depends on {:?}",
        deps("mesh-core")
    );
    assert!(
        !deps("mesh-memory").contains("mesh-messaging"),
        "mesh-memory must not see messaging"
    );
    assert!(
        !deps("mesh-messaging").contains("mesh-memory"),
        "mesh-messaging must not see memory"
    );
    for lib in ["mesh-memory", "mesh-messaging"] {
        let extra: Vec<_> = deps(lib).iter().filter(|d| *d != "mesh-core").collect();
        assert!(
            extra.is_empty(),
            "{lib} may depend on mesh-core only, found {extra:?}"
        );
    }
    for bin in ["kioku-mesh", "kioku-mesh-mcp"] {
        assert!(
            !deps(bin).contains("e2e") && !deps(bin).contains("xtask"),
            "{bin} depends on tooling"
        );
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn binaries_build_no_keys_and_run_no_sql() {
    for bin in ["bins/cli/src", "bins/mcp/src"] {
        for file in rust_files(&workspace_root().join(bin)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for forbidden in ["sqlx::", "CREATE TABLE", "SELECT ", "\"mem/", "INSERT INTO"] {
                assert!(
                    !text.contains(forbidden),
                    "{} contains {forbidden:?}: that belongs in a library",
                    file.display()
                );
            }
        }
    }
}

/// Where `unsafe` may appear: two glibc calls with no safe wrapper (ADR 0014).
const UNSAFE_ALLOWED_IN: &str = "bins/cli/src/short_command.rs";

#[test]
fn unsafe_code_stays_in_its_one_place() {
    let root = workspace_root();
    let dirs = ["crates", "bins", "xtask", "tests", "fuzz", "eval"];
    let mut found = Vec::new();
    for dir in dirs {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            // Spelt in two halves so that this file does not match itself.
            let opt_outs = text.matches(concat!("allow(", "unsafe_code)")).count();
            if opt_outs > 0 {
                let name = file.strip_prefix(&root).unwrap().display().to_string();
                found.push((name, opt_outs));
            }
        }
    }
    assert_eq!(
        found,
        vec![(UNSAFE_ALLOWED_IN.to_owned(), 1)],
        "`unsafe` is denied workspace-wide; a new exception needs an ADR and this list"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("unsafe_code = \"deny\""),
        "the workspace denies unsafe code"
    );
}

#[test]
fn every_library_module_says_what_it_holds() {
    for lib in [
        "crates/mesh-core/src",
        "crates/mesh-memory/src",
        "crates/mesh-messaging/src",
        "crates/mesh-bridge/src",
    ] {
        for file in rust_files(&workspace_root().join(lib)) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.starts_with("//!"),
                "{} must open with a //! module doc",
                file.display()
            );
        }
    }
}

#[test]
fn no_catch_all_module_names() {
    for dir in ["crates", "bins"] {
        for file in rust_files(&workspace_root().join(dir)) {
            let name = file.file_stem().unwrap().to_string_lossy();
            assert!(
                !["util", "utils", "helpers", "misc", "common"].contains(&name.as_ref()),
                "{}",
                file.display()
            );
        }
    }
}

/// The package of the README's first command (`cargo run ... -p <pkg>` in
/// its first ```sh block): the one local-mode users build.
fn readme_first_command_package() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a ```sh block");
    let mut words = block.split_whitespace();
    while let Some(word) = words.next() {
        if word == "-p" {
            return words.next().expect("-p names a package").to_owned();
        }
    }
    panic!("README's first ```sh block has no `-p <package>`:\n{block}");
}

/// `cargo tree --offline <args> -p <package>`: what cargo resolves for that
/// package built alone (`cargo metadata` would unify over the workspace).
fn cargo_tree(package: &str, args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args(["tree", "--offline"])
        .args(args)
        .args(["-p", package])
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Local mode builds with a Rust toolchain and a C compiler alone:
/// nothing the README's first command builds may run bindgen, which needs
/// libclang. The RocksDB backend lives in mesh-rocksdb-backend, built only
/// for the daemon (`cargo xtask install`).
#[test]
fn first_readme_command_needs_no_libclang() {
    let package = readme_first_command_package();
    let tree = cargo_tree(
        &package,
        &["-e", "normal,build", "--prefix", "none", "--format", "{p}"],
    );
    let crates: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(package.as_str()),
        "cargo tree printed no {package}"
    );
    for forbidden in ["librocksdb-sys", "bindgen", "clang-sys"] {
        assert!(
            !crates.contains(forbidden),
            "{package} (the README's first command) now builds {forbidden}, which needs \
             libclang: keep zenoh-backend-rocksdb in crates/rocksdb-backend only"
        );
    }
}

/// The zenoh features `cargo tree` resolves for `package` built alone.
fn zenoh_features_alone(package: &str) -> BTreeSet<String> {
    let args = [
        "-e", "features", "-i", "zenoh", "--depth", "1", "--prefix", "none",
    ];
    cargo_tree(package, &args)
        .lines()
        .filter_map(|l| l.split("feature \"").nth(1)?.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Zenoh's plugin loader refuses a backend library built with another zenoh
/// feature set ("Plugin compatibility mismatch"): `kioku-mesh` and the
/// RocksDB library, each built in a command of its own, must agree.
#[test]
fn the_daemon_and_its_storage_library_agree_on_zenoh_features() {
    let cli = zenoh_features_alone("kioku-mesh");
    let library = zenoh_features_alone("mesh-rocksdb-backend");
    assert!(cli.contains("unstable"), "no zenoh features read: {cli:?}");
    assert_eq!(
        cli, library,
        "zenoh features differ between kioku-mesh and mesh-rocksdb-backend built alone: \
         align the workspace's zenoh features (Cargo.toml) with zenoh-backend-rocksdb's"
    );
}

/// The preflight downloads the model wheel the library pins: one version
/// and one checksum in both places.
#[test]
fn the_preflight_fetches_the_wheel_the_library_pins() {
    let read = |p: &str| std::fs::read_to_string(workspace_root().join(p)).unwrap();
    let library = read("crates/mesh-memory/src/embed/mod.rs");
    let xtask = read("xtask/src/tools.rs");
    let quoted = |text: &str, name: &str| -> String {
        let at = text
            .find(&format!("const {name}: &str = \""))
            .unwrap_or_else(|| panic!("{name}"));
        let rest = &text[at..];
        let start = rest.find('"').unwrap() + 1;
        let len = rest[start..].find('"').unwrap();
        rest[start..start + len].to_owned()
    };
    assert_eq!(
        quoted(&library, "WHEEL_SHA256"),
        quoted(&xtask, "MODEL_SHA256")
    );
    assert_eq!(
        quoted(&library, "WHEEL_NAME"),
        quoted(&xtask, "MODEL_WHEEL")
    );
    assert_eq!(
        quoted(&library, "WHEEL_REQUIREMENT"),
        quoted(&xtask, "MODEL_REQUIREMENT")
    );
}
