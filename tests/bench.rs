//! `nas bench scaling` end to end: the binary starts `nas trainer`
//! processes from itself against the Redis of `REDIS_URL` (scripts/test.sh
//! starts one), prints one row per level and the efficiency last, and
//! leaves no process and no key behind.

use std::process::Command;

#[test]
fn the_scaling_benchmark_runs_trainer_processes_and_cleans_up() {
    let url = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set: run the tests through scripts/test.sh, which starts a private redis-server",
    );
    let prefix = format!("test-bench-scaling-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["bench", "scaling", "--levels", "1,3", "--trainers", "2"])
        .args(["--job-ms", "20", "--rounds", "3", "--timeout-secs", "120"])
        .env("REDIS_URL", &url)
        .env("NAS_PREFIX", &prefix)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run nas bench scaling");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let row = |slots: &str, procs: &str, jobs: &str| {
        lines.iter().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 7 && f[0] == slots && f[1] == procs && f[2] == jobs
        })
    };
    assert!(row("1", "1x1", "3"), "{stdout}");
    assert!(row("3", "1x2+1x1", "9"), "{stdout}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("efficiency at 3 slots"), "{stdout}");
    let efficiency: f64 = last
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no efficiency in {last:?}"));
    assert!(efficiency > 0.0 && efficiency <= 1.05, "{last}");

    let keys = Command::new("redis-cli")
        .args(["-u", &url, "--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .expect("run redis-cli");
    assert!(keys.status.success());
    assert_eq!(
        String::from_utf8_lossy(&keys.stdout).trim(),
        "",
        "keys left"
    );
    let alive = Command::new("pgrep")
        .args(["-f", &format!("worker-id {prefix}")])
        .output()
        .expect("run pgrep");
    assert_eq!(
        String::from_utf8_lossy(&alive.stdout).trim(),
        "",
        "trainers left"
    );
}

/// `nas bench queue --trainer python`: the Rust trainer and a `nas-worker`
/// process each drain the no-op jobs; the report ends with the ratio of
/// their times per job, and no key and no worker is left.
#[test]
fn the_python_trainer_benchmark_drains_jobs_with_both_trainers_and_cleans_up() {
    let url = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set: run the tests through scripts/test.sh, which starts a private redis-server",
    );
    let prefix = format!("test-bench-python-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args([
            "bench",
            "queue",
            "--trainer",
            "python",
            "--jobs",
            "300",
            "--slots",
            "2",
        ])
        .args(["--timeout-secs", "120"])
        .env("REDIS_URL", &url)
        .env("NAS_PREFIX", &prefix)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run nas bench queue --trainer python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("rust trainer (in process):"), "{stdout}");
    assert!(
        stdout.contains("python trainer (nas-worker --builtin):"),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let ratio: f64 = last
        .rsplit("= ")
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ratio in {last:?}"));
    assert!(ratio > 0.0 && ratio.is_finite(), "{last}");
    let keys = Command::new("redis-cli")
        .args(["-u", &url, "--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .expect("run redis-cli");
    assert_eq!(
        String::from_utf8_lossy(&keys.stdout).trim(),
        "",
        "keys left"
    );
    let alive = Command::new("pgrep")
        .args(["-f", "worker-id bench-python"])
        .output()
        .expect("run pgrep");
    assert_eq!(
        String::from_utf8_lossy(&alive.stdout).trim(),
        "",
        "nas-worker left running"
    );
}
