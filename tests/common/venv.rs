//! The torch venv's programs (scripts/setup.sh installs torch, jsonschema
//! and nas-worker there), for the tests that run Python.

use std::path::PathBuf;

/// `$NAS_VENV/bin/<name>` (default `$NAS_CACHE/venv`, `/var/cache/nas/venv`);
/// panics naming the fix when it is missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var("NAS_VENV").unwrap_or_else(|_| {
        let cache = std::env::var("NAS_CACHE").unwrap_or_else(|_| "/var/cache/nas".into());
        format!("{cache}/venv")
    });
    let path = PathBuf::from(venv).join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (scripts/test.sh does)",
        path.display()
    );
    path
}
