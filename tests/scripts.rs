//! The shell scripts a newcomer runs first (`scripts/`, `docker/`, `.ci/`):
//!
//! - every one passes ShellCheck, with no directive that turns a check off;
//! - `scripts/env.sh` works under `set -euo pipefail` before the venv exists
//!   (issue 12: it ended setup.sh, nas and test.sh silently with status 2 on a
//!   fresh machine);
//! - a failing step of setup says on stderr what failed and what to do, and
//!   so does `scripts/nas` on top of it; no script exits without a message.
//!
//! The newcomer's whole path on an empty cache (setup, first build, quiet
//! second run) is `scripts/check-fresh.sh`, which `.ci/run` runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A bash run with nothing of ours in its environment: a newcomer's shell.
fn newcomer_bash(script: &str, cache: &Path) -> Output {
    Command::new("bash")
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("NAS_CACHE", cache)
        .args(["-c", script])
        .output()
        .expect("cannot run bash")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every shell script of the project: files under scripts/, docker/ and
/// .ci/ that end in `.sh` or start with a shell's `#!` line.
fn shell_scripts() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let head = std::fs::read(&path).unwrap_or_default();
            let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
            let shebang = first.starts_with(b"#!") && {
                let line = text(first);
                line.ends_with("sh") || line.ends_with("bash")
            };
            if shebang || path.extension().is_some_and(|e| e == "sh") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["scripts", "docker", ".ci"] {
        walk(&root().join(dir), &mut out);
    }
    out.sort();
    out
}

#[test]
fn every_script_passes_shellcheck_without_disables() {
    let scripts = shell_scripts();
    for expected in [
        "scripts/setup.sh",
        "scripts/env.sh",
        "scripts/steps.sh",
        "scripts/nas",
        "scripts/test.sh",
        "scripts/check-fresh.sh",
        "docker/redis/render-acl.sh",
        ".ci/run",
    ] {
        assert!(
            scripts.contains(&root().join(expected)),
            "{expected} is not among the scripts found: {scripts:?}"
        );
    }
    assert!(
        !root().join(".shellcheckrc").exists(),
        ".shellcheckrc would turn checks off for every script"
    );
    for script in &scripts {
        let body = std::fs::read_to_string(script).unwrap();
        assert!(
            !body.contains("shellcheck disable"),
            "{} turns a ShellCheck check off",
            script.display()
        );
    }
    // -x follows `source`, so sourced files are checked in their callers' context.
    let out = Command::new("shellcheck")
        .current_dir(root())
        .arg("-x")
        .args(&scripts)
        .output()
        .expect("shellcheck (run scripts/setup.sh; it installs it)");
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Regression test for issue 12: before the venv exists, sourcing env.sh
/// under `set -euo pipefail` must not end the script (the old `ls -d ... |
/// head` in a command substitution did, silently, with status 2).
#[test]
fn env_sh_works_before_the_venv_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("nothing-here-yet");
    let out = newcomer_bash(
        "set -euo pipefail; source scripts/env.sh; printf '%s\\n' \"$LIBTORCH\" \"$CARGO_TARGET_DIR\"",
        &cache,
    );
    assert!(
        out.status.success(),
        "sourcing env.sh on an empty cache failed with {:?}: stdout {:?} stderr {:?}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{}/venv/", cache.display())),
        "{stdout}"
    );
    assert_eq!(lines[1], format!("{}/target", cache.display()));

    // Once the venv exists, LIBTORCH is its torch, whatever Python 3 it has.
    let site = cache.join("venv/lib/python3.42/site-packages");
    std::fs::create_dir_all(site.join("torch")).unwrap();
    let out = newcomer_bash(
        "set -euo pipefail; source scripts/env.sh; printf '%s' \"$LIBTORCH\"",
        &cache,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), site.join("torch").display().to_string());
}

/// NAS_CACHE below a regular file: the first step that writes the cache fails.
fn unwritable_cache(tmp: &Path) -> PathBuf {
    let file = tmp.join("a-file");
    std::fs::write(&file, "").unwrap();
    file.join("cache")
}

#[test]
fn a_failing_setup_step_says_what_failed_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = unwritable_cache(tmp.path());
    let out = newcomer_bash("scripts/setup.sh", &cache);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "setup.sh: failed while creating the cache folder {}",
            cache.display()
        )),
        "stderr does not name the step: {stderr}"
    );
    assert!(
        stderr.contains("command: mkdir -p"),
        "stderr does not name the command: {stderr}"
    );
    assert!(
        stderr.contains("what to do: set NAS_CACHE to a folder you can write"),
        "stderr does not say what to do: {stderr}"
    );
}

#[test]
fn scripts_nas_does_not_fail_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = unwritable_cache(tmp.path());
    let out = newcomer_bash("scripts/nas --version", &cache);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("setup.sh: failed while creating the cache folder"),
        "{stderr}"
    );
    assert!(
        stderr.contains("nas: failed while installing what nas needs (scripts/setup.sh)"),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
}

/// A failure inside a command substitution is reported once, by the
/// assignment that ran it, and a deliberate `die` names its step.
#[test]
fn steps_sh_reports_each_failure_once() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("demo.sh");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env bash\nset -euo pipefail\nsource {}/scripts/steps.sh\n\
             step 'reading the answer' 'ask again'\nanswer=$(false)\necho \"$answer\"\n",
            root().display()
        ),
    )
    .unwrap();
    let out = Command::new("bash").arg(&script).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("failed while").count(), 1, "{stderr}");
    assert!(
        stderr.contains("demo.sh: failed while reading the answer (exit status 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("command: answer=$(false) (line 5)"),
        "{stderr}"
    );
    assert!(stderr.contains("what to do: ask again"), "{stderr}");

    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env bash\nset -euo pipefail\nsource {}/scripts/steps.sh\n\
             step 'counting' 'count again'\ndie 'the count is off'\n",
            root().display()
        ),
    )
    .unwrap();
    let out = Command::new("bash").arg(&script).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "demo.sh: the count is off\n  while: counting\n  what to do: count again\n"
    );
}
