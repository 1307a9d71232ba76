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
