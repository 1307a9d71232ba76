//! Issue 17: the dashboard's JSON API against a real Redis, with a real
//! scheduler and trainer running a NAS-Bench-201 search: every endpoint,
//! an unknown search (404 with a message), a prefix with no searches, the
//! live event stream, and who may act (read-only without a token, 401 with
//! a wrong one, a public address refused without one).

#[path = "common/http.rs"]
mod http;
#[path = "common/world.rs"]
mod world;

use http::{free_addr, get, request};
use std::time::Duration;
use world::{spec, until, World};

/// Start `nas dashboard` on a free port of `w`'s Redis and prefix; its
/// address once it answers.
async fn dashboard(w: &mut World, name: &str, extra: &[&str]) -> String {
    let addr = free_addr();
    let mut args = vec!["dashboard", "--listen", &addr, "--poll-secs", "0.2"];
    args.extend(extra);
    w.spawn(name, &args);
    until(
        "the dashboard to answer",
        Duration::from_secs(30),
        || async {
            get(&addr, "/healthz")
                .filter(|r| r.status == 200)
                .map(|_| ())
        },
    )
    .await;
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_serves_searches_evaluations_the_fleet_and_named_errors() {
    let mut w = World::new("dash-api");
    let addr = dashboard(&mut w, "dashboard", &[]).await;

    // A prefix with no searches: empty lists, not errors.
    let r = get(&addr, "/api/searches").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["searches"], serde_json::json!([]));
    let r = get(&addr, "/api/fleet").unwrap();
    assert_eq!(r.json()["fleet"]["workers"], serde_json::json!([]));
    // An unknown search: 404 that names it.
    for path in [
        "/api/searches/nope",
        "/api/searches/nope/evaluations",
        "/api/searches/nope/evaluations.csv",
        "/api/searches/nope/cell.svg",
    ] {
        let r = get(&addr, path).unwrap();
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.json()["error"], "no search nope", "{path}");
    }

    w.spawn("scheduler", &["scheduler"]);
    w.spawn("surrogate", &["surrogate"]);
    w.trainer("t1", &["--slots", "2"]);
    let id = w.submit(&spec("dash", 24, 2, 0.0004));
    // The search appears, and its evaluated count rises.
    let row = until(
        "evaluations on the dashboard",
        Duration::from_secs(60),
        || async {
            let doc = get(&addr, "/api/searches").unwrap().json();
            let row = doc["searches"]
                .as_array()?
                .iter()
                .find(|r| r["id"] == id.as_str())?
                .clone();
            (row["evaluated"].as_u64()? >= 6).then_some(row)
        },
    )
    .await;
    assert_eq!(row["strategy"], "random");
    assert_eq!(row["space"], "nb201");
    assert_eq!(row["budget"], 24);
    assert!(row["best"].as_f64().unwrap() > 0.0);

    // The fleet: the trainer with its card.
    let fleet = until("the trainer's card", Duration::from_secs(20), || async {
        let doc = get(&addr, "/api/fleet").unwrap().json();
        let w = doc["fleet"]["workers"].as_array()?.first()?.clone();
        w["card"].is_object().then_some(w)
    })
    .await;
    assert_eq!(fleet["id"], "t1");
    assert_eq!(fleet["card"]["kind"], "rust");
    assert_eq!(fleet["card"]["slots"], 2);
    assert_eq!(fleet["card"]["device"], "cpu");
    assert!(fleet["age_s"].as_f64().unwrap() < 10.0);
    // The surrogate replica, by its heartbeat.
    let replicas = until("the surrogate replica", Duration::from_secs(30), || async {
        let doc = get(&addr, "/api/fleet").unwrap().json();
        let r = doc["fleet"]["surrogates"].as_array()?.clone();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(replicas.len(), 1);
    assert!(replicas[0]["age_s"].as_f64().unwrap() < 10.0);

    // Filter by state.
    let done = get(&addr, "/api/searches?status=done").unwrap().json();
    let running = get(&addr, "/api/searches?status=running").unwrap().json();
    let n = |d: &serde_json::Value| d["searches"].as_array().unwrap().len();
    assert_eq!(n(&done) + n(&running), 1);

    // Wait for the end, then check the detail against the evaluations.
    until("the search to finish", Duration::from_secs(90), || async {
        let doc = get(&addr, &format!("/api/searches/{id}")).unwrap().json();
        (doc["row"]["status"] == "done").then_some(())
    })
    .await;
    let doc = get(&addr, &format!("/api/searches/{id}")).unwrap().json();
    let series = &doc["series"];
    assert_eq!(series["evaluations"], 24);
    assert_eq!(series["points"].as_array().unwrap().len(), 24);
    assert_eq!(series["downsampled"], false);
    let best = series["best"].as_array().unwrap();
    assert!(!best.is_empty());
    let top = best.last().unwrap()["acc"].as_f64().unwrap();
    assert!((top - doc["best"]["outcome"]["ok"]["val_acc"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(doc["admin"], false);

    // The table: pages, sorts, and reads past a cursor.
    let page = get(
        &addr,
        &format!("/api/searches/{id}/evaluations?limit=10&offset=5"),
    )
    .unwrap()
    .json();
    assert_eq!(page["total"], 24);
    assert_eq!(page["rows"].as_array().unwrap().len(), 10);
    assert_eq!(page["rows"][0]["index"], 5);
    let sorted = get(
        &addr,
        &format!("/api/searches/{id}/evaluations?sort=val_acc&order=desc&limit=3"),
    )
    .unwrap()
    .json();
    assert!((sorted["rows"][0]["val_acc"].as_f64().unwrap() - top).abs() < 1e-9);
    let after = get(&addr, &format!("/api/searches/{id}/evaluations?after=20"))
        .unwrap()
        .json();
    let idx: Vec<u64> = after["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![21, 22, 23]);
    let bad = get(&addr, &format!("/api/searches/{id}/evaluations?sort=color")).unwrap();
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]
        .as_str()
        .unwrap()
        .contains("sort \"color\""));

    // CSV of every evaluation, and the best cell's picture.
    let csv = get(&addr, &format!("/api/searches/{id}/evaluations.csv")).unwrap();
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(csv.body.lines().count(), 25, "{}", csv.body);
    let svg = get(&addr, &format!("/api/searches/{id}/cell.svg")).unwrap();
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(
        svg.body.contains("<svg"),
        "{}",
        &svg.body[..svg.body.len().min(200)]
    );

    // The pages are served, and name the search.
    let page = get(&addr, &format!("/searches/{id}")).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("data-id=\"{id}\"")));
    assert!(get(&addr, "/assets/app.js")
        .unwrap()
        .body
        .contains("EventSource"));
    assert_eq!(get(&addr, "/nowhere").unwrap().status, 404);

    // Read-only: actions are refused, saying why.
    let r = request(&addr, "POST", &format!("/api/searches/{id}/cancel"), &[]).unwrap();
    assert_eq!(r.status, 403);
    assert!(r.json()["error"].as_str().unwrap().contains("read-only"));
    w.assert_no_panics();
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_need_the_admin_token_and_a_public_address_needs_one() {
    let mut w = World::new("dash-admin");
    let token = "correct-horse-battery-staple";
    let file = w.results_dir().with_file_name("token");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let addr = dashboard(
        &mut w,
        "dashboard",
        &["--admin-token-file", file.to_str().unwrap()],
    )
    .await;
    w.spawn("scheduler", &["scheduler"]);
    let id = w.submit(&spec("dash-admin", 50, 1, 0.0004));
    // No trainer: the search waits, running.
    let cancel = format!("/api/searches/{id}/cancel");
    let r = request(&addr, "POST", &cancel, &[]).unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let r = request(
        &addr,
        "POST",
        &cancel,
        &[("Authorization", "Bearer not-the-token-at-all")],
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let bearer = format!("Bearer {token}");
    let r = request(&addr, "POST", "/api/login", &[("Authorization", &bearer)]).unwrap();
    assert_eq!(r.status, 204);
    let r = request(
        &addr,
        "POST",
        "/api/searches/nope/cancel",
        &[("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(r.status, 404);
    let r = request(
        &addr,
        "POST",
        "/api/dead-letters/nope.0000000001/replay",
        &[("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    let r = request(&addr, "POST", &cancel, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["cancelled"], id.as_str());
    until(
        "the search to be cancelled",
        Duration::from_secs(30),
        || async {
            let doc = get(&addr, &format!("/api/searches/{id}")).unwrap().json();
            (doc["row"]["status"] == "cancelled").then_some(())
        },
    )
    .await;
    // The token is in no page and no log.
    assert!(!get(&addr, "/").unwrap().body.contains(token));
    assert!(!w.log("dashboard").contains(token));

    // A public address: refused without a token, read-only with the flag.
    let out = w
        .nas(&["dashboard", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve 0.0.0.0:0") && err.contains("--read-only-public"),
        "{err}"
    );
    let public = free_addr().replace("127.0.0.1", "0.0.0.0");
    w.spawn(
        "public",
        &["dashboard", "--listen", &public, "--read-only-public"],
    );
    let port = public.rsplit(':').next().unwrap();
    until("the public dashboard", Duration::from_secs(30), || async {
        get(&format!("127.0.0.1:{port}"), "/healthz")
            .filter(|r| r.status == 200)
            .map(|_| ())
    })
    .await;
    w.assert_no_panics();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_sends_snapshots() {
    use std::io::{Read, Write};
    let mut w = World::new("dash-sse");
    let addr = dashboard(&mut w, "dashboard", &[]).await;
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("event: snapshot") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(seen.contains("\"searches\":[]"), "{seen}");
}

/// `nas search --dashboard`: the embedded search (no Redis) serves the same
/// pages and API while it runs, its in-process trainer on the fleet page,
/// and stops serving when the search ends.
#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_search_serves_the_dashboard_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, spec("embedded", 16, 2, 0.0004)).unwrap();
    let addr = free_addr();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nas"))
        .args([
            "search",
            "--config",
            spec_path.to_str().unwrap(),
            "--slots",
            "2",
        ])
        .args(["--results", dir.path().join("results").to_str().unwrap()])
        .args(["--dashboard", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let row = until(
        "the embedded search on its dashboard",
        Duration::from_secs(60),
        || async {
            let doc = get(&addr, "/api/searches")?.json();
            let row = doc["searches"].as_array()?.first()?.clone();
            (row["evaluated"].as_u64()? >= 1).then_some(row)
        },
    )
    .await;
    assert_eq!(row["name"], "embedded");
    let fleet = until(
        "the in-process trainer",
        Duration::from_secs(30),
        || async {
            let doc = get(&addr, "/api/fleet")?.json();
            let w = doc["fleet"]["workers"].as_array()?.first()?.clone();
            w["card"].is_object().then_some(w)
        },
    )
    .await;
    assert_eq!(fleet["id"], "local");
    assert_eq!(fleet["card"]["slots"], 2);
    let id = row["id"].as_str().unwrap();
    let page = get(&addr, &format!("/searches/{id}")).unwrap();
    assert!(page.body.contains("embedded: "), "{}", page.body);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        get(&addr, "/healthz").is_none(),
        "still serving after the search ended"
    );
}
