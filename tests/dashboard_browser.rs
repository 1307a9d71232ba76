//! Issue 17: the dashboard in a real browser. Headless Chromium driven
//! through its WebDriver (chromedriver, Debian's chromium-driver) against
//! a real Redis, scheduler and trainer running a NAS-Bench-201 search with
//! simulated training time. It checks what a person would: the search
//! appears and its evaluated count rises on screen without a reload, the
//! plot has a point per evaluation, the best cell's picture is shown, the
//! fleet lists the trainer, and cancel is refused without the token and
//! works with it. Each page's screenshot is saved under the test's output
//! folder (`$NAS_TEST_OUT/dashboard`, else Cargo's target tmp dir); any
//! browser console error fails the test (the one expected refusal aside).

#[path = "common/http.rs"]
mod http;
#[path = "common/world.rs"]
mod world;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use world::{spec, until, World};

/// chromedriver on a free port, killed with the test.
struct Driver {
    child: Child,
    addr: String,
}

impl Driver {
    fn start() -> Self {
        let addr = http::free_addr();
        let port = addr.rsplit(':').next().unwrap().to_string();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver, installed by scripts/setup.sh)");
        let end = Instant::now() + Duration::from_secs(30);
        while http::get(&addr, "/status").is_none_or(|r| !r.body.contains("\"ready\":true")) {
            assert!(
                Instant::now() < end,
                "chromedriver did not get ready on {addr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, addr }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1400,1100", "--hide-scrollbars"],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{}", self.addr))
            .await
            .expect("a Chromium session")
    }

    /// The browser's console since the last call (chromedriver's log
    /// endpoint, which WebDriver itself lacks).
    async fn console(&self, c: &Client) -> Vec<Value> {
        let sid = c.session_id().await.unwrap().unwrap();
        let r = http::request_with(
            &self.addr,
            "POST",
            &format!("/session/{sid}/se/log"),
            &[("Content-Type", "application/json")],
            r#"{"type":"browser"}"#,
        )
        .unwrap();
        r.json()["value"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn out_dir() -> PathBuf {
    let base = std::env::var_os("NAS_TEST_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let dir = base.join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Evaluate `script` (which returns a value) until `ready` holds.
async fn wait_js(c: &Client, what: &str, script: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        if ready(&v) {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; last {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn shoot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(out_dir().join(format!("{name}.png")), png).unwrap();
}

/// Console entries that are errors, less the expected ones.
fn errors(entries: &[Value], expected: &[&str]) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .filter(|e| {
            !expected
                .iter()
                .any(|x| e["message"].as_str().unwrap_or("").contains(x))
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_watches_a_search_live_and_cancels_one_with_the_token() {
    let mut w = World::new("dash-web");
    let token = "browser-test-token-0123";
    let file = w.results_dir().with_file_name("token");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, token).unwrap();
    let addr = http::free_addr();
    w.spawn(
        "dashboard",
        &[
            "dashboard",
            "--listen",
            &addr,
            "--poll-secs",
            "0.5",
            "--admin-token-file",
            file.to_str().unwrap(),
        ],
    );
    w.spawn("scheduler", &["scheduler"]);
    w.spawn("surrogate", &["surrogate"]);
    w.trainer("t1", &["--slots", "2"]);
    until("the dashboard", Duration::from_secs(30), || async {
        http::get(&addr, "/healthz")
            .filter(|r| r.status == 200)
            .map(|_| ())
    })
    .await;
    let driver = Driver::start();
    let c = driver.browser().await;
    let base = format!("http://{addr}");

    // The searches page, then a search submitted while it is open.
    c.goto(&format!("{base}/")).await.unwrap();
    wait_js(
        &c,
        "the searches page",
        "return !!document.getElementById('searches')",
        |v| v == &json!(true),
    )
    .await;
    c.execute("window.__sameDocument = 'yes'; return 1", vec![])
        .await
        .unwrap();
    let budget = 30;
    let id = w.submit(&spec("dash-web", budget, 2, 0.0006));
    let row = format!("tr[data-id='{id}'] td.evaluated");
    let count = |v: &Value| -> u64 {
        v.as_str()
            .and_then(|s| s.split(" / ").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let first = wait_js(
        &c,
        "the search's row",
        &format!("const e = document.querySelector(\"{row}\"); return e ? e.textContent : ''"),
        |v| count(v) >= 1,
    )
    .await;
    let later = wait_js(
        &c,
        "the count to rise",
        &format!("return document.querySelector(\"{row}\").textContent"),
        |v| count(v) > count(&first),
    )
    .await;
    assert!(count(&later) > count(&first));
    assert_eq!(
        c.execute("return window.__sameDocument", vec![])
            .await
            .unwrap(),
        json!("yes"),
        "the page was reloaded"
    );
    shoot(&c, "searches").await;
    let mut console = driver.console(&c).await;

    // The search's page: live until done, a point per evaluation, the
    // best cell's picture.
    c.goto(&format!("{base}/searches/{id}")).await.unwrap();
    wait_js(
        &c,
        "the search to finish on the page",
        "const e = document.getElementById('status'); return e ? e.textContent : ''",
        |v| v == "done",
    )
    .await;
    let evaluated = text(&c, "#evaluated").await;
    assert_eq!(evaluated, format!("{budget} / {budget}"));
    let points = wait_js(
        &c,
        "the plot",
        "return document.querySelectorAll('#plot-evals circle.pt').length",
        |v| v.as_u64() == Some(budget as u64),
    )
    .await;
    assert_eq!(points, json!(budget));
    let api = http::get(&addr, &format!("/api/searches/{id}"))
        .unwrap()
        .json();
    assert_eq!(api["series"]["evaluations"], json!(budget));
    wait_js(&c, "the best cell's picture", "const i = document.getElementById('best-cell'); return i && i.complete ? i.naturalWidth : 0", |v| v.as_u64().unwrap_or(0) > 0).await;
    assert_eq!(
        text(&c, "#best-genotype").await,
        api["best"]["genotype"].as_str().unwrap()
    );
    wait_js(
        &c,
        "the evaluations table",
        "return document.querySelectorAll('#evaluations-table tbody tr').length",
        |v| v.as_u64() == Some(30),
    )
    .await;
    // Sort by score: one click sorts best first.
    c.execute(
        "document.querySelector(\"th[data-sort='val_acc']\").click(); return 1",
        vec![],
    )
    .await
    .unwrap();
    let top = wait_js(&c, "the sorted table", "const th = document.querySelector(\"th[data-sort='val_acc']\"); return th && th.classList.contains('sorted') && !th.classList.contains('asc') ? document.querySelector('#evaluations-table tbody tr td:nth-child(5)').textContent : ''", |v| v.as_str().is_some_and(|s| !s.is_empty())).await;
    let best = api["best"]["outcome"]["ok"]["val_acc"].as_f64().unwrap();
    assert_eq!(top, json!(format!("{best:.2}")));
    shoot(&c, "search").await;
    console.extend(driver.console(&c).await);

    // The fleet lists the trainer with its card, and the job it holds of
    // a long search submitted now.
    let long = w.submit(&spec("dash-long", 2000, 1, 0.05));
    c.goto(&format!("{base}/fleet")).await.unwrap();
    let held = format!("{long}.");
    let who = wait_js(&c, "the trainer on the fleet page", "const r = document.querySelector(\"#workers tr[data-id='t1']\"); return r ? r.textContent : ''", |v| v.as_str().is_some_and(|s| s.contains(&held))).await;
    let who = who.as_str().unwrap();
    assert!(
        who.contains("rust") && who.contains("cpu") && who.contains("1 / 2"),
        "{who}"
    );
    let depth = wait_js(&c, "the queue depths", &format!("const r = [...document.querySelectorAll('#depths tr')].find(r => r.textContent.includes('{long}')); return r ? r.textContent : ''"), |v| v.as_str().is_some_and(|s| !s.is_empty())).await;
    assert!(depth.as_str().unwrap().contains(&long));
    wait_js(
        &c,
        "the surrogate replica",
        "return document.querySelectorAll('#surrogates tbody tr').length",
        |v| v.as_u64() == Some(1),
    )
    .await;
    shoot(&c, "fleet").await;
    console.extend(driver.console(&c).await);

    // Cancel: refused without the token, done with it.
    c.goto(&format!("{base}/searches/{long}")).await.unwrap();
    let cancel = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#cancel"))
        .await
        .unwrap();
    cancel.click().await.unwrap();
    wait_js(
        &c,
        "the refusal",
        "const f = document.getElementById('flash'); return f.hidden ? '' : f.textContent",
        |v| {
            v.as_str()
                .is_some_and(|s| s.contains("wrong or missing admin token"))
        },
    )
    .await;
    let refused = driver.console(&c).await;
    assert!(
        refused
            .iter()
            .any(|e| e["message"].as_str().unwrap_or("").contains("401")),
        "the refusal is a 401: {refused:?}"
    );
    console.extend(refused);
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    click(&c, "#login button").await;
    wait_js(
        &c,
        "the login",
        "return document.getElementById('who').hidden",
        |v| v == &json!(false),
    )
    .await;
    click(&c, "#cancel").await;
    wait_js(
        &c,
        "the search to show cancelled",
        "const e = document.getElementById('status'); return e ? e.textContent : ''",
        |v| v == "cancelled",
    )
    .await;
    shoot(&c, "cancelled").await;
    console.extend(driver.console(&c).await);
    // The token is nowhere in the page.
    let html = c.source().await.unwrap();
    assert!(!html.contains(token));
    c.close().await.unwrap();

    let bad = errors(&console, &["the server responded with a status of 401"]);
    assert!(bad.is_empty(), "browser console errors: {bad:#?}");
    w.assert_no_panics();
}
