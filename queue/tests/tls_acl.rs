//! `rediss://` with a private CA and an ACL user with a password: the queue
//! works over it, and a wrong password fails with an error that does not
//! show the password. The test starts its own TLS redis-server.

use queue::{JobKind, MemoryQueue, NewJob, Outcome, Queue, QueueConfig, RedisQueue, RedisUrl};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success(), "openssl {args:?}");
}

/// A CA, and a server certificate for localhost and 127.0.0.1 signed by it.
fn certificates(dir: &std::path::Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=nas-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

fn tls_server(dir: &std::path::Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args([
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.crt",
        ])
        .args(["--tls-auth-clients", "no"])
        .args([
            "--user",
            "default",
            "off",
            "--user",
            "trainer",
            "on",
            ">s3cret-pw",
            "~*",
            "&*",
            "+@all",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "TLS redis did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Server(child), port)
}

fn job() -> NewJob {
    NewJob {
        search_id: "s".into(),
        dedupe_key: "k".into(),
        kind: JobKind::Noop,
        priority: 0.0,
        payload: serde_json::json!({}),
    }
}

#[tokio::test]
async fn rediss_with_an_acl_user_runs_the_queue_and_never_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let (_server, port) = tls_server(dir.path());
    let ca = Some(dir.path().join("ca.crt"));
    let config = QueueConfig {
        prefix: "tls".into(),
        ..QueueConfig::default()
    };

    let url = RedisUrl::parse(&format!("rediss://trainer:s3cret-pw@localhost:{port}/0"))
        .unwrap()
        .with_ca_file(ca.clone());
    let q = RedisQueue::connect(&url, config.clone())
        .await
        .expect("connect over TLS as the ACL user");
    q.enqueue(vec![job()]).await.unwrap();
    let lease = q.claim("w", 1).await.unwrap().remove(0);
    q.complete(&lease, Outcome::Ok(queue::Scores::default()))
        .await
        .unwrap();
    assert_eq!(q.results("s", 0, 10).await.unwrap().results.len(), 1);
    assert!(!format!("{q:?}").contains("s3cret-pw"));

    let wrong = RedisUrl::parse(&format!("rediss://trainer:not-it@localhost:{port}/0"))
        .unwrap()
        .with_ca_file(ca.clone());
    let err = RedisQueue::connect(&wrong, config.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.to_lowercase().contains("auth") || err.contains("WRONGPASS"),
        "{err}"
    );
    assert!(!err.contains("not-it"), "the password leaked: {err}");

    // Without the CA the server's certificate is not trusted.
    let untrusted =
        RedisUrl::parse(&format!("rediss://trainer:s3cret-pw@localhost:{port}/0")).unwrap();
    assert!(RedisQueue::connect(&untrusted, config.clone())
        .await
        .is_err());
    // Plain TCP to a TLS port fails too, rather than hanging.
    let plain = RedisUrl::parse(&format!("redis://trainer:s3cret-pw@localhost:{port}/0")).unwrap();
    assert!(tokio::time::timeout(
        Duration::from_secs(20),
        RedisQueue::connect(&plain, config.clone())
    )
    .await
    .map(|r| r.is_err())
    .unwrap_or(true));
    // A missing CA file is named.
    let missing = url.clone().with_ca_file(Some("/nonexistent/ca.pem".into()));
    let err = RedisQueue::connect(&missing, config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    let _ = MemoryQueue::new(QueueConfig::default());
}
