//! Issue 15's black-box regression tests, through the `nas` binary: the
//! dead-letter list is read a page at a time, search ids that would leave
//! a folder are refused by `nas export`, and Redis password files are read,
//! checked and never shown. (Daemons connecting with a password file to an
//! ACL-protected Redis: tests/stack.rs.)

mod common;

use common::System;
use queue::{FailKind, JobKind, NewJob, Queue, QueueConfig, RedisQueue, RedisUrl};
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// Issue 15, defect 8: `nas dlq list` fetched every dead letter at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_pages_and_says_how_to_get_the_next_page() {
    let sys = System::new("dlq-pages");
    let config = QueueConfig {
        prefix: sys.prefix().to_string(),
        ..QueueConfig::default()
    };
    let q = RedisQueue::connect(&RedisUrl::parse(sys.url()).unwrap(), config)
        .await
        .unwrap();
    let jobs = (0..5)
        .map(|i| NewJob {
            search_id: "pages".into(),
            dedupe_key: format!("k{i}"),
            kind: JobKind::Noop,
            priority: 0.0,
            payload: serde_json::Value::Null,
        })
        .collect();
    q.enqueue(jobs).await.unwrap();
    let mut ids = Vec::new();
    for l in q.claim("w", 5).await.unwrap() {
        q.fail(
            &l,
            &format!("reason of {}", l.job.job_id),
            FailKind::Permanent,
        )
        .await
        .unwrap();
        ids.push(l.job.job_id);
    }
    let lines = |o: &Output| -> Vec<String> { text(&o.stdout).lines().map(String::from).collect() };

    let first = sys.nas(&["dlq", "list", "--limit", "2"]).output().unwrap();
    assert_ok(&first);
    let page = lines(&first);
    assert_eq!(page.len(), 2, "{page:?}");
    assert!(page[0].starts_with(&ids[0]) && page[1].starts_with(&ids[1]));
    let hint = text(&first.stderr);
    assert!(
        hint.contains("nas dlq list --offset 2 --limit 2"),
        "the next page is named: {hint}"
    );

    let last = sys
        .nas(&["dlq", "list", "--limit", "2", "--offset", "4", "--json"])
        .output()
        .unwrap();
    assert_ok(&last);
    let page = lines(&last);
    assert_eq!(page.len(), 1, "{page:?}");
    let doc: serde_json::Value = serde_json::from_str(&page[0]).unwrap();
    assert_eq!(doc["job_id"], ids[4].as_str());
    assert!(
        !text(&last.stderr).contains("--offset"),
        "no next page after the last: {}",
        text(&last.stderr)
    );

    let all = sys.nas(&["dlq", "list"]).output().unwrap();
    assert_ok(&all);
    assert_eq!(lines(&all).len(), 5);

    let replay = sys.nas(&["dlq", "replay", "--all"]).output().unwrap();
    assert_ok(&replay);
    assert_eq!(lines(&replay).len(), 5, "{}", text(&replay.stdout));
    assert!(q.dead_letters(0, 10).await.unwrap().is_empty());
}

/// Issue 15, defect 9: `nas export ID` joined the id to the results folder
/// unchecked.
#[test]
fn export_refuses_search_ids_that_leave_the_results_folder() {
    let sys = System::new("export-ids");
    let results = sys.path("results");
    std::fs::create_dir_all(&results).unwrap();
    for id in ["..", "../x", "a/b", "Upper"] {
        let o = sys
            .nas(&[
                "export",
                id,
                "--out",
                common::arg(&sys.path("out")),
                "--results",
                common::arg(&results),
            ])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{id} exported");
        let err = text(&o.stderr);
        assert!(err.contains(&format!("search id {id:?}")), "{id}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!sys.path("out").exists(), "nothing written");
}

/// Issue 15, defect 10: a password file that is missing or empty is
/// refused, naming the file, before anything connects; one that others can
/// read draws a warning; the password itself is never printed.
#[test]
fn redis_password_files_are_checked_and_never_printed() {
    let sys = System::new("password-files");
    // Nothing listens on port 1: the commands fail to connect after their
    // checks, at once.
    let url = "redis://trainer@127.0.0.1:1/";
    let run = |extra: &[&str], env: &[(&str, &str)]| -> Output {
        let mut args = vec!["status", "--connect-timeout-secs", "0"];
        args.extend(extra);
        let mut c = sys.nas(&args);
        c.env_remove("REDIS_URL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };

    let missing = sys.path("no-such-file");
    let o = run(
        &[
            "--redis",
            url,
            "--redis-password-file",
            common::arg(&missing),
        ],
        &[],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains(common::arg(&missing)), "{err}");
    assert!(err.contains("password file"), "{err}");

    let empty = sys.path("empty");
    std::fs::write(&empty, " \n").unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run(
        &["--redis", url, "--redis-password-file", common::arg(&empty)],
        &[],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(common::arg(&empty)) && err.contains("empty"),
        "{err}"
    );

    let secret = "s3cret-Pass.word~1";
    let open = sys.path("open");
    std::fs::write(&open, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(
        &["--redis", url, "--redis-password-file", common::arg(&open)],
        &[],
    );
    let err = text(&o.stderr);
    assert!(
        err.contains(common::arg(&open)) && err.contains("readable by"),
        "a warning about the mode: {err}"
    );
    assert!(
        err.contains("redis://trainer:***@127.0.0.1:1/"),
        "it tried the URL with the password: {err}"
    );
    assert!(!err.contains(secret), "{err}");
    // Group-readable is how Kubernetes mounts a secret (0440, fsGroup):
    // no warning.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o440)).unwrap();
    let o = run(
        &["--redis", url, "--redis-password-file", common::arg(&open)],
        &[],
    );
    let err = text(&o.stderr);
    assert!(err.contains("redis://trainer:***@127.0.0.1:1/"), "{err}");
    assert!(!err.contains("readable by"), "{err}");

    // REDIS_URL_FILE: the whole URL from a file (Docker and Kubernetes
    // secrets), checked the same way.
    let url_file = sys.path("url");
    std::fs::write(
        &url_file,
        format!("redis://trainer:{secret}@127.0.0.1:1/\n"),
    )
    .unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run(&[], &[("REDIS_URL_FILE", common::arg(&url_file))]);
    let err = text(&o.stderr);
    assert!(err.contains("redis://trainer:***@127.0.0.1:1/"), "{err}");
    assert!(!err.contains(secret), "{err}");
    assert!(!err.contains("readable by"), "{err}");
    let o = run(&[], &[("REDIS_URL_FILE", common::arg(&missing))]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains(common::arg(&missing)));
}
