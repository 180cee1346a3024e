//! Function code: a zip kept under `<root>/functions/<name>/<sha>.zip`, unpacked once
//! into `<root>/functions/<name>/<sha>/` (the task root), and checked for what its
//! runtime starts (`bootstrap`, or the handler's module).

use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{invalid, service, LambdaResult};
use crate::model::RuntimeKind;

/// AWS's limit on a function's unzipped code.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;

/// Code stored and unpacked.
#[derive(Debug, Clone)]
pub struct StoredCode {
    /// base64 SHA-256 of the zip (`CodeSha256`).
    pub sha256: String,
    /// Bytes of the zip (`CodeSize`).
    pub size: u64,
}

/// The directory of a function's code versions.
pub fn function_dir(root: &Path, name: &str) -> PathBuf {
    root.join("functions").join(name)
}

fn hex_name(sha256_b64: &str) -> String {
    // A file-name-safe form of the digest.
    sha256_b64
        .replace('/', "_")
        .replace('+', "-")
        .replace('=', "")
}

/// The task root of a function's code.
pub fn task_root(root: &Path, name: &str, sha256: &str) -> PathBuf {
    function_dir(root, name).join(hex_name(sha256))
}

/// The zip of a function's code.
pub fn zip_path(root: &Path, name: &str, sha256: &str) -> PathBuf {
    function_dir(root, name).join(format!("{}.zip", hex_name(sha256)))
}

/// The message AWS gives for a zip it cannot open.
pub const UNZIP_FAILED: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

/// Stores `zip` for function `name` and unpacks it (blocking). A zip that is not one,
/// holds a path outside its root or unpacks past AWS's limit is refused with
/// `InvalidParameterValueException`.
pub fn store(root: &Path, name: &str, zip: &[u8]) -> LambdaResult<StoredCode> {
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip));
    let dir = task_root(root, name, &sha256);
    if !dir.exists() {
        let parent = function_dir(root, name);
        std::fs::create_dir_all(&parent)
            .map_err(|e| service(format!("cannot create {}: {e}", parent.display())))?;
        let staging = parent.join(format!(".unpack-{}", uuid::Uuid::new_v4()));
        let unpacked = unpack(zip, &staging);
        if let Err(e) = unpacked {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        std::fs::write(zip_path(root, name, &sha256), zip)
            .map_err(|e| service(format!("cannot store the code of {name}: {e}")))?;
        if let Err(e) = std::fs::rename(&staging, &dir) {
            let _ = std::fs::remove_dir_all(&staging);
            if !dir.exists() {
                return Err(service(format!("cannot store the code of {name}: {e}")));
            }
        }
    }
    Ok(StoredCode {
        sha256,
        size: zip.len() as u64,
    })
}

fn unpack(zip: &[u8], into: &Path) -> LambdaResult<()> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|_| invalid(UNZIP_FAILED))?;
    std::fs::create_dir_all(into)
        .map_err(|e| service(format!("cannot create {}: {e}", into.display())))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|_| invalid(UNZIP_FAILED))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(invalid(format!(
                "{UNZIP_FAILED} (the entry {} points outside the archive's root)",
                entry.name()
            )));
        };
        if rel.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(invalid(UNZIP_FAILED));
        }
        let path = into.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| service(e.to_string()))?;
            continue;
        }
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| service(e.to_string()))?;
        }
        total += entry.size();
        if total > MAX_UNZIPPED_BYTES {
            return Err(invalid(format!(
                "Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 26));
        entry
            .by_ref()
            .take(MAX_UNZIPPED_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|_| invalid(UNZIP_FAILED))?;
        std::fs::write(&path, &bytes).map_err(|e| service(e.to_string()))?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o777));
        }
    }
    Ok(())
}

/// Why unpacked code cannot start under its runtime, or `None` when it can.
pub fn entrypoint_problem(task_root: &Path, kind: RuntimeKind, handler: &str) -> Option<String> {
    match kind {
        RuntimeKind::Provided => {
            let bootstrap = task_root.join("bootstrap");
            match std::fs::metadata(&bootstrap) {
                Err(_) => Some(
                    "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]".into(),
                ),
                #[cfg(unix)]
                Ok(m) => {
                    use std::os::unix::fs::PermissionsExt;
                    (m.permissions().mode() & 0o111 == 0).then(|| {
                        "The bootstrap file in the deployment package is not executable (permission denied)".into()
                    })
                }
                #[cfg(not(unix))]
                Ok(_) => None,
            }
        }
        RuntimeKind::Python => {
            let Some((module, _function)) = handler.rsplit_once('.') else {
                return Some(format!(
                    "Bad handler '{handler}': not enough values to unpack (expected 2, got 1)"
                ));
            };
            let rel = module.replace('.', "/");
            let file = task_root.join(format!("{rel}.py"));
            let package = task_root.join(&rel).join("__init__.py");
            (!file.exists() && !package.exists())
                .then(|| format!("Unable to import module '{module}': No module named '{module}'"))
        }
    }
}
