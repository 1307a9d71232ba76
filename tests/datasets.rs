//! The converter of the real non-image datasets (`scripts/convert_datasets.py`,
//! run by setup): its own pytest suite, in the data tools' venv, and the
//! files setup wrote, read back as the rest of the system reads them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cache() -> PathBuf {
    PathBuf::from(std::env::var("NAS_CACHE").unwrap_or_else(|_| "/var/cache/nas".into()))
}

#[test]
fn the_converters_own_tests_pass() {
    let python = cache().join("data-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let out = Command::new(python)
        .current_dir(root())
        .env("NAS_MLBENCH_DIR", cache().join("mlbench"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "scripts/test_convert_datasets.py",
        ])
        .output()
        .expect("pytest runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pytest:\n{text}");
    assert!(
        !text.contains("skipped"),
        "no converter test may skip here:\n{text}"
    );
}

#[test]
fn setup_wrote_the_tables_and_series() {
    let dir = std::env::var("NAS_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache().join("datasets"));
    for (file, rows, header_end) in [
        ("letter.csv", 20_000, ",lettr"),
        ("satellite.csv", 6_435, ",classes"),
        ("diabetes.csv", 442, ",progression"),
    ] {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", dir.join(file).display()));
        let mut lines = text.lines();
        assert!(lines.next().unwrap().ends_with(header_end), "{file}");
        assert_eq!(lines.count(), rows, "{file}");
    }
    for name in ["GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions"] {
        for split in ["TRAIN", "TEST"] {
            let path = dir.join(format!("ucr/{name}_{split}.ts"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(text.to_lowercase().contains("@data"), "{}", path.display());
        }
    }
}
