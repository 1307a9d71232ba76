//! The deployable stack, checked without a container engine or a cluster:
//!
//! - `docker/docker-compose.yml` lints with docker-compose (1.29 checks a
//!   file without an engine) and holds the four services as documented;
//! - the Redis ACL file that `docker/redis/render-acl.sh` renders lets each
//!   role do its work on a real redis-server started with the stack's
//!   `redis.conf`, in process and as real `nas` daemons, and nothing more;
//! - a real `nas trainer` serves `/metrics` and `/healthz`;
//! - the Kubernetes manifests in `deploy/` validate against the Kubernetes
//!   schemas (`kubernetes-validate`, offline) and lint with yamllint.
//!
//! The linters come from `scripts/setup.sh` (Debian's docker-compose, and
//! a venv at `$NAS_CACHE/lint-venv`); REDIS_URL from `scripts/test.sh`.

use queue::now_ms;
use queue::RedisUrl;
use queue::{FailKind, FailOutcome, JobKind, NewJob, Outcome, Queue, QueueConfig, RedisQueue};
use scheduler::{RedisStore, SearchSpec, SearchState, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/http.rs"]
mod http;
#[path = "common/venv.rs"]
mod venv;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A program of the lint venv that scripts/setup.sh installs.
fn lint_tool(name: &str) -> PathBuf {
    let cache = std::env::var("NAS_CACHE").unwrap_or_else(|_| "/var/cache/nas".into());
    let path = Path::new(&cache).join("lint-venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (it installs the linters)",
        path.display()
    );
    path
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/setup.sh)"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// YAML (one or more documents) as JSON, through the lint venv's PyYAML.
fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new(lint_tool("python"))
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the YAML does not parse");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The role passwords docker-compose reads from an env file, cleared from
/// the child's environment so that only the file counts.
const PASSWORD_VARS: [&str; 4] = [
    "NAS_REDIS_ADMIN_PASSWORD",
    "NAS_REDIS_SCHEDULER_PASSWORD",
    "NAS_REDIS_TRAINER_PASSWORD",
    "NAS_REDIS_SURROGATE_PASSWORD",
];

fn compose(env_file: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(root())
        .args(["-f", "docker/docker-compose.yml", "--env-file"])
        .arg(env_file)
        .args(args);
    for v in PASSWORD_VARS {
        cmd.env_remove(v);
    }
    run(&mut cmd)
}

/// docker-compose accepts the file with the example env file, it names the
/// four services, each daemon connects as its own Redis user and is checked
/// on its metrics endpoint, trainers reserve NVIDIA GPUs, and a missing
/// password stops `config` with the variable's name.
#[test]
fn compose_file_lints_and_names_the_services() {
    let example = root().join("docker/.env.example");
    let (ok, out, err) = compose(&example, &["config", "--services"]);
    assert!(ok, "docker-compose config --services failed:\n{err}");
    let services: Vec<&str> = out.lines().collect();
    for s in ["redis", "scheduler", "surrogate", "dashboard", "trainer"] {
        assert!(services.contains(&s), "no service {s} in {services:?}");
    }

    let (ok, out, err) = compose(&example, &["config"]);
    assert!(ok, "docker-compose config failed:\n{err}");
    let config = yaml_docs(&out).remove(0);
    let svc = &config["services"];
    for (name, role) in [
        ("scheduler", "scheduler"),
        ("surrogate", "surrogate"),
        ("dashboard", "scheduler"),
        ("trainer", "trainer"),
        ("trainer-cpu", "trainer"),
    ] {
        let s = &svc[name];
        let url = s["environment"]["REDIS_URL"].as_str().unwrap_or_default();
        assert!(
            url.starts_with(&format!("redis://{role}:")) && url.ends_with("@redis:6379/"),
            "{name} connects as {role}: {url}"
        );
        // The dashboard serves its pages and /healthz on 8080.
        let port = if name == "dashboard" { "8080" } else { "9100" };
        let health = s["healthcheck"]["test"].to_string();
        assert!(
            health.contains(&format!("{port}/healthz")),
            "{name}: {health}"
        );
        let command = s["command"].to_string();
        assert!(
            command.contains(&format!("0.0.0.0:{port}")),
            "{name}: {command}"
        );
        assert!(s["restart"].is_string(), "{name} has a restart policy");
        let mounts = s["volumes"].to_string();
        for dir in ["data", "results", "checkpoints"] {
            assert!(
                mounts.contains(&format!("/var/lib/nas/{dir}")),
                "{name} mounts {dir}: {mounts}"
            );
        }
    }
    let devices = &svc["trainer"]["deploy"]["resources"]["reservations"]["devices"][0];
    assert_eq!(devices["driver"], "nvidia", "{devices}");
    assert!(devices["capabilities"].to_string().contains("gpu"));
    let redis = &svc["redis"];
    assert!(redis["healthcheck"]["test"]
        .to_string()
        .contains("redis-cli"));
    for v in PASSWORD_VARS {
        assert!(
            redis["environment"][v].is_string(),
            "redis renders its ACL file from {v}"
        );
    }
    for v in ["redis-data", "nas-data", "nas-results", "nas-checkpoints"] {
        assert!(config["volumes"][v].is_object(), "named volume {v}");
    }

    // The stack's redis.conf keeps every write and evicts nothing.
    let conf = std::fs::read_to_string(root().join("docker/redis/redis.conf")).unwrap();
    for line in ["appendonly yes", "maxmemory-policy noeviction"] {
        assert!(conf.lines().any(|l| l == line), "redis.conf: {line}");
    }
    let start = std::fs::read_to_string(root().join("docker/redis/start.sh")).unwrap();
    assert!(start.contains("--aclfile /data/users.acl"), "{start}");

    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("partial.env");
    let text = std::fs::read_to_string(&example).unwrap();
    let without_trainer: String = text
        .lines()
        .filter(|l| !l.starts_with("NAS_REDIS_TRAINER_PASSWORD="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&partial, without_trainer).unwrap();
    let (ok, _, err) = compose(&partial, &["config"]);
    assert!(!ok, "config must fail without the trainer's password");
    assert!(err.contains("NAS_REDIS_TRAINER_PASSWORD"), "{err}");
}

// --- Redis with the stack's ACL file ----------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server of its own, started with docker/redis/redis.conf and the
/// ACL file render-acl.sh makes from test passwords; killed when dropped.
struct AclRedis {
    child: Child,
    port: u16,
    /// Role -> password.
    passwords: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

impl AclRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let seed = now_ms() ^ u64::from(std::process::id()) << 20;
        let passwords: Vec<(&str, String)> = ["admin", "scheduler", "trainer", "surrogate"]
            .into_iter()
            .enumerate()
            .map(|(i, role)| {
                (
                    role,
                    format!("{role}-{:024x}", seed.rotate_left(i as u32 * 7)),
                )
            })
            .collect();
        let acl = dir.path().join("users.acl");
        let mut render = Command::new("sh");
        render
            .arg(root().join("docker/redis/render-acl.sh"))
            .arg(&acl)
            .env_remove("NAS_PREFIX");
        for (role, pw) in &passwords {
            render.env(format!("NAS_REDIS_{}_PASSWORD", role.to_uppercase()), pw);
        }
        let (ok, _, err) = run(&mut render);
        assert!(ok, "render-acl.sh failed: {err}");
        let rendered = std::fs::read_to_string(&acl).unwrap();
        for (_, pw) in &passwords {
            assert!(!rendered.contains(pw.as_str()), "only hashes are written");
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .arg(root().join("docker/redis/redis.conf"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--aclfile")
            .arg(&acl)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("redis-server (run scripts/setup.sh)");
        let me = Self {
            child,
            port,
            passwords,
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(10);
        while me.cli("admin", &["PING"]).0 != "PONG" {
            assert!(
                Instant::now() < end,
                "redis-server with the ACL file did not start: {}",
                std::fs::read_to_string(me._dir.path().join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    fn password(&self, role: &str) -> &str {
        &self.passwords.iter().find(|(r, _)| *r == role).unwrap().1
    }

    fn url(&self, role: &str) -> String {
        format!(
            "redis://{role}:{}@127.0.0.1:{}/",
            self.password(role),
            self.port
        )
    }

    /// redis-cli as `role`: (stdout trimmed, stderr).
    fn cli(&self, role: &str, args: &[&str]) -> (String, String) {
        let (_, out, err) = run(Command::new("redis-cli")
            .args([
                "-p",
                &self.port.to_string(),
                "--user",
                role,
                "--no-auth-warning",
            ])
            .env("REDISCLI_AUTH", self.password(role))
            .args(args));
        (out.trim().to_string(), err)
    }

    /// Denied commands in the ACL log, one line per entry (as admin).
    fn acl_log(&self) -> Vec<String> {
        let (out, _) = self.cli("admin", &["--json", "ACL", "LOG", "100"]);
        let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        entries
            .iter()
            .map(|e| format!("{} {} {}", e["username"], e["reason"], e["object"]))
            .collect()
    }
}

impl Drop for AclRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn queue_config() -> QueueConfig {
    QueueConfig {
        // Long enough that a loaded machine finishes each step within it,
        // short enough to let one lease expire on purpose.
        lease: Duration::from_millis(1500),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(20),
        ..QueueConfig::default()
    }
}

async fn connect(redis: &AclRedis, role: &str) -> RedisQueue {
    RedisQueue::connect(&RedisUrl::parse(&redis.url(role)).unwrap(), queue_config())
        .await
        .unwrap_or_else(|e| panic!("{role} cannot connect: {e}"))
}

fn noop(search: &str, key: &str) -> NewJob {
    NewJob {
        search_id: search.into(),
        dedupe_key: key.into(),
        kind: JobKind::Noop,
        priority: 0.0,
        payload: serde_json::Value::Null,
    }
}

fn ok() -> Outcome {
    Outcome::Ok(Default::default())
}

/// Every transition of the queue and the search store, as the role that
/// makes it: the scheduler submits, checkpoints, enqueues, reads results
/// and progress notes, counts, dead letters, replays, cancels and samples
/// metrics; the trainer heartbeats, claims, renews, records progress,
/// completes, fails (retry and dead letter), hands back and reaps an
/// expired lease.
async fn queue_round_trip(redis: &AclRedis) {
    let s = connect(redis, "scheduler").await;
    let t = connect(redis, "trainer").await;
    let store = RedisStore::new(&s, "scheduler-acl");
    assert!(store.lead(Duration::from_secs(5)).await.unwrap());
    let spec_text = std::fs::read_to_string(root().join("examples/evolution-nb201.toml")).unwrap();
    let spec = SearchSpec::parse(&spec_text, false).unwrap();
    let id = spec.new_id();
    let state = SearchState::new(id.clone(), spec).unwrap();
    store.submit(&state).await.unwrap();
    assert_eq!(store.active().await.unwrap(), vec![id.clone()]);
    store.checkpoint(&state, &[]).await.unwrap();
    assert!(store.load(&id).await.unwrap().is_some());
    assert!(!store.cancel_requested(&id).await.unwrap());

    let jobs = (0..4).map(|i| noop(&id, &format!("k{i}"))).collect();
    assert!(s.enqueue(jobs).await.unwrap().iter().all(|e| e.created));

    t.heartbeat("t1").await.unwrap();
    let leases = t.claim("t1", 4).await.unwrap();
    assert_eq!(leases.len(), 4);
    t.renew(&leases[0]).await.unwrap();
    t.progress(&leases[0], r#"{"epoch":1}"#).await.unwrap();
    let note = s.job_progress(&leases[0].job.job_id).await.unwrap();
    assert_eq!(note.as_deref(), Some(r#"{"epoch":1}"#));
    t.complete(&leases[0], ok()).await.unwrap();
    let retry = t
        .fail(&leases[1], "transient", FailKind::Retryable)
        .await
        .unwrap();
    assert!(matches!(retry, FailOutcome::Retrying { .. }));
    t.release(&leases[2]).await.unwrap();
    // leases[3] is left to expire and be reaped.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let (requeued, dead) = t.reap().await.unwrap();
    assert_eq!((requeued, dead), (1, 0));
    let again = t.claim("t1", 4).await.unwrap();
    assert_eq!(again.len(), 3, "the retried, handed-back and reaped jobs");
    t.complete(&again[0], ok()).await.unwrap();
    t.complete(&again[1], ok()).await.unwrap();
    let dead = t
        .fail(&again[2], "poison", FailKind::Permanent)
        .await
        .unwrap();
    assert_eq!(dead, FailOutcome::Dead);

    assert_eq!(s.results(&id, 0, 100).await.unwrap().results.len(), 4);
    let counts = s.counts(&id).await.unwrap();
    assert_eq!((counts.done, counts.dead), (3, 1));
    let letters = s.dead_letters(0, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(s.replay(&letters[0].job_id).await.unwrap());
    let replayed = t.claim("t1", 1).await.unwrap();
    assert_eq!(replayed.len(), 1);
    t.complete(&replayed[0], ok()).await.unwrap();
    assert_eq!(s.redeliveries().await.unwrap(), 1);
    assert_eq!(s.workers(Duration::from_secs(10)).await.unwrap(), ["t1"]);
    assert!(s.job_state(&letters[0].job_id).await.unwrap().is_some());
    let active = store.active().await.unwrap();
    metrics::sampler::sample(&s, &active).await.unwrap();
    assert!(store.request_cancel(&id).await.unwrap());
    s.cancel(&id).await.unwrap();
    assert!(store.evaluations(&id, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.searches().await.unwrap().len(), 1);
}

/// A ranking request from the scheduler's client to a surrogate replica,
/// each as its own user.
async fn surrogate_round_trip(redis: &AclRedis) {
    use space::Space;
    let mut config = surrogate::ServiceConfig {
        engine: surrogate::EngineConfig {
            fit: surrogate::FitConfig {
                embedding: 8,
                hidden: 8,
                members: 2,
                epochs: 5,
                ..Default::default()
            },
            ..Default::default()
        },
        poll: Duration::from_millis(200),
        ..surrogate::ServiceConfig::new(RedisUrl::parse(&redis.url("surrogate")).unwrap())
    };
    config.drain = Duration::from_secs(5);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let replica = tokio::spawn(surrogate::run(config, async {
        let _ = stopped.await;
    }));
    let options = surrogate::RankOptions {
        predictor: surrogate::PredictorKind::Mlp,
        seed: 1,
    };
    let ranker = surrogate::RedisRanker::connect(
        &RedisUrl::parse(&redis.url("scheduler")).unwrap(),
        "nas",
        options,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let space = Space::Pnas { blocks: 1 };
    let mut rng = space::rng(3);
    let sample: Vec<space::Genotype> = (0..30).map(|_| space.sample(&mut rng).unwrap()).collect();
    let training: Vec<(space::Genotype, f64)> = sample[..20]
        .iter()
        .enumerate()
        .map(|(i, g)| (g.clone(), 80.0 + i as f64 / 10.0))
        .collect();
    let ranking = surrogate::Ranker::rank(
        &ranker,
        "acl-search",
        space,
        None,
        &training,
        &[],
        &sample[20..],
    )
    .await
    .unwrap();
    assert_eq!(ranking.scores.len(), 10);
    let _ = stop.send(());
    let report = replica.await.unwrap().unwrap();
    assert_eq!(report.ranked, 1);
}

/// A Python trainer (`nas-worker`) as the trainer user, with its password
/// in a file: the queue functions the scheduler loaded are all it needs.
async fn python_round_trip(redis: &AclRedis) {
    use queue::wire::{EvalJob, EvaluatorSpec};
    use space::Space;
    let s = connect(redis, "scheduler").await;
    let g = Space::Nb201.sample(&mut space::rng(5)).unwrap();
    let ev = EvaluatorSpec::Python {
        entry: "nas_test_entries:scripted".into(),
        settings: serde_json::Map::new(),
    };
    let jobs = (0..2)
        .map(|i| NewJob {
            search_id: "acl-python".into(),
            dedupe_key: format!("p{i}"),
            kind: JobKind::Evaluate,
            priority: 0.0,
            payload: serde_json::to_value(EvalJob::new(Space::Nb201, &g, ev.clone(), i)).unwrap(),
        })
        .collect();
    s.enqueue(jobs).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("trainer.pass");
    std::fs::write(&pass, redis.password("trainer")).unwrap();
    let url = format!("redis://trainer@127.0.0.1:{}/", redis.port);
    let mut worker = Procs(vec![Command::new(venv::venv_bin("nas-worker"))
        .args(["--redis", &url, "--password-file", pass.to_str().unwrap()])
        .args([
            "--entry",
            "nas_test_entries:scripted",
            "--worker-id",
            "acl-py",
        ])
        .env("PYTHONPATH", root().join("tests/python"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("worker.log")).unwrap())
        .spawn()
        .unwrap()]);
    let end = Instant::now() + Duration::from_secs(60);
    while s.results("acl-python", 0, 10).await.unwrap().results.len() < 2 {
        assert!(
            Instant::now() < end,
            "the python trainer did not finish: {}",
            std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let results = s.results("acl-python", 0, 10).await.unwrap().results;
    assert!(results.iter().all(|r| r.worker == "acl-py"), "{results:?}");
    let log = std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default();
    assert!(
        !log.contains(redis.password("trainer")),
        "the password shows in the log"
    );
    worker.0[0].kill().unwrap();
}

/// What each role must not do: flush, delete, scan keys, reconfigure, touch
/// keys outside its pattern, or take the scheduler's leader lock; and no
/// one gets in without a password.
fn refusals(redis: &AclRedis) {
    let denied = |role: &str, args: &[&str]| {
        let (out, err) = redis.cli(role, args);
        assert!(
            out.contains("NOPERM") || err.contains("NOPERM"),
            "{role} may not {args:?}: {out} {err}"
        );
    };
    denied("trainer", &["FLUSHALL"]);
    denied("trainer", &["FLUSHDB"]);
    denied("trainer", &["DEL", "nas:active"]);
    denied("trainer", &["KEYS", "*"]);
    denied("trainer", &["CONFIG", "GET", "*"]);
    denied("trainer", &["SET", "nas:scheduler", "me"]);
    denied("trainer", &["HGET", "other:q:job:1", "state"]);
    // By key (issue 15, defect 7): a trainer writes only under nas:q: (what
    // claiming, renewing, completing and failing touch) and reads the
    // cancelled set; a search's record, its evaluations, its dedupe keys
    // and job counter, the cancelled set and the searches' lists are out
    // of its reach, whichever command it holds.
    for (write, key) in [
        (
            &["HSET", "nas:search:s", "state", "{}"][..],
            "the search record",
        ),
        (
            &["HSET", "nas:dedupe:s", "k", "s.0000000001"],
            "dedupe keys",
        ),
        (&["INCR", "nas:jobseq:s"], "the job counter"),
        (&["RPUSH", "nas:evals:s", "{}"], "evaluations"),
        (&["ZADD", "nas:searches", "1", "s"], "the search list"),
        (&["ZADD", "nas:retired", "1", "s"], "the retired list"),
        (
            &["HSET", "nas:surrogate:reply:r", "x", "y"],
            "surrogate replies",
        ),
    ] {
        let (out, err) = redis.cli("trainer", write);
        assert!(
            out.contains("NOPERM") || err.contains("NOPERM"),
            "a trainer may not write {key} ({write:?}): {out} {err}"
        );
    }
    denied("trainer", &["HGET", "nas:search:s", "state"]);
    denied("trainer", &["SISMEMBER", "nas:active", "s"]);
    let (out, err) = redis.cli("scheduler", &["SADD", "nas:cancelled", "c"]);
    assert!(out.contains('1'), "the scheduler cancels: {out} {err}");
    let (out, err) = redis.cli("trainer", &["SISMEMBER", "nas:cancelled", "c"]);
    assert!(
        out.contains('1'),
        "a trainer reads the cancelled set: {out} {err}"
    );
    let (out, err) = redis.cli("trainer", &["HSET", "nas:q:job:x", "state", "queued"]);
    assert!(
        out.contains('1'),
        "a trainer writes its queue keys: {out} {err}"
    );
    // The queue's transitions are the nasq functions library: a trainer
    // calls them and nothing else that runs code. It may not load, replace
    // or delete them (the scheduler's code would then be its to write), nor
    // load or run scripts of its own.
    denied("trainer", &["SCRIPT", "LOAD", "return 1"]);
    denied("trainer", &["EVAL", "return 1", "0"]);
    denied(
        "trainer",
        &[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=nasq\nredis.register_function('nasq_version', function() return '2' end)",
        ],
    );
    denied("trainer", &["FUNCTION", "DELETE", "nasq"]);
    denied("trainer", &["FUNCTION", "FLUSH"]);
    let (out, err) = redis.cli("trainer", &["FCALL_RO", "nasq_version", "0"]);
    assert_eq!(
        out.trim(),
        queue::functions::FUNCTIONS_VERSION,
        "a trainer reads the library's version: {err}"
    );
    // A function runs with its caller's key rights: the library builds key
    // names from the prefix it is given, and Redis checks each against the
    // trainer's patterns.
    let (out, err) = redis.cli(
        "trainer",
        &["FCALL", "nasq_alive", "1", "nas:search:s", "nas:search:s"],
    );
    let said = format!("{out} {err}");
    assert!(
        said.contains("NOPERM") || said.contains("no permissions"),
        "a trainer's call may not write outside nas:q: through another prefix: {said}"
    );
    denied("scheduler", &["FLUSHALL"]);
    denied("scheduler", &["SHUTDOWN"]);
    denied("scheduler", &["ACL", "LIST"]);
    denied("surrogate", &["HGET", "nas:q:job:1", "state"]);
    denied("surrogate", &["DEL", "nas:surrogate:requests"]);
    let (_, out, err) = run(Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "PING"])
        .env_remove("REDISCLI_AUTH"));
    assert!(
        out.contains("NOAUTH") || err.contains("NOAUTH"),
        "no password, no access: {out} {err}"
    );
    let (_, out, err) = run(Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "--user",
            "trainer",
            "--no-auth-warning",
        ])
        .args(["--pass", "wrong-password-123456", "PING"]));
    assert!(
        out.contains("WRONGPASS") || err.contains("WRONGPASS"),
        "a wrong password, no access: {out} {err}"
    );
}

/// Against Redis 7.2 and later, which know CLIENT SETINFO, every role may
/// name its client library; before, the rule is left out (7.0 would refuse
/// the whole file).
#[test]
fn acl_file_grants_client_setinfo_from_redis_7_2() {
    let dir = tempfile::tempdir().unwrap();
    for (version, granted) in [("7.0.15", false), ("7.2.4", true), ("8.0.1", true)] {
        let fake = dir.path().join(format!("redis-server-{version}"));
        std::fs::write(
            &fake,
            format!("#!/bin/sh\necho 'Redis server v={version} sha=0'\n"),
        )
        .unwrap();
        let acl = dir.path().join(format!("{version}.acl"));
        let mut render = Command::new("sh");
        render
            .arg(root().join("docker/redis/render-acl.sh"))
            .arg(&acl)
            .arg(&fake);
        render.env_remove("NAS_PREFIX");
        for role in ["ADMIN", "SCHEDULER", "TRAINER", "SURROGATE"] {
            render.env(
                format!("NAS_REDIS_{role}_PASSWORD"),
                format!("{role}-0123456789abcdef"),
            );
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (ok, _, err) = run(&mut render);
        assert!(ok, "{version}: {err}");
        let text = std::fs::read_to_string(&acl).unwrap();
        let roles = text
            .lines()
            .filter(|l| l.contains("+client|setinfo"))
            .count();
        assert_eq!(roles, if granted { 3 } else { 0 }, "{version}:\n{text}");
    }
}

/// Passwords that would break a URL, are short, or are still the
/// placeholders are refused with the variable's name.
#[test]
fn acl_rendering_refuses_bad_passwords() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, says) in [
        ("change-me-trainer-0000000000", "placeholder"),
        ("short", "at least 16"),
        ("has@an-at-sign-in-it", "only"),
        ("", "not set"),
    ] {
        let mut render = Command::new("sh");
        render
            .arg(root().join("docker/redis/render-acl.sh"))
            .arg(dir.path().join("users.acl"));
        for role in ["ADMIN", "SCHEDULER", "SURROGATE"] {
            render.env(
                format!("NAS_REDIS_{role}_PASSWORD"),
                format!("{role}-0123456789abcdef"),
            );
        }
        render.env("NAS_REDIS_TRAINER_PASSWORD", bad);
        let (ok, _, err) = run(&mut render);
        assert!(!ok, "{bad:?} accepted");
        assert!(
            err.contains("NAS_REDIS_TRAINER_PASSWORD") && err.contains(says),
            "{bad:?}: {err}"
        );
    }
}

/// The roles do their work under the stack's ACL file with nothing denied
/// (the ACL log stays empty), and each is refused what it must not do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_roles_do_their_work_and_nothing_more() {
    let redis = AclRedis::start();
    queue_round_trip(&redis).await;
    surrogate_round_trip(&redis).await;
    python_round_trip(&redis).await;
    let log = redis.acl_log();
    assert!(log.is_empty(), "commands denied during the work: {log:#?}");
    refusals(&redis);
    let log = redis.acl_log();
    assert!(
        log.iter()
            .any(|l| l.contains("trainer") && l.contains("flushall")),
        "refusals are logged: {log:#?}"
    );
}

// --- real daemons -------------------------------------------------------------

/// Started processes, killed when dropped.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn nas(args: &[&str], log: &Path) -> Command {
    let log = std::fs::File::create(log).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas"));
    c.args(args)
        .env("RUST_LOG", "info")
        .env_remove("REDIS_URL")
        .env_remove("NAS_PREFIX")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    c
}

/// Run a `nas submit` command; the search id it prints.
fn submitted(submit: &mut Command) -> String {
    let out = submit.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// GET `path` over plain HTTP/1.1: (status code, body).
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http::get(addr, path).map(|r| (r.status, r.body))
}

/// The value of the sample `series` (name with labels) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Scrape `addr` until `ready` holds, for at most `within`.
fn scrape_until(addr: &str, within: Duration, ready: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + within;
    loop {
        let text = http_get(addr, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        if ready(&text) {
            return text;
        }
        assert!(Instant::now() < end, "metrics never got there:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A whole search through real `nas scheduler` and `nas trainer` processes,
/// each connected as its role under the ACL file (and `nas submit` as the
/// scheduler user), beside an idle `nas surrogate`: it finishes, nothing is
/// denied, the scheduler's metrics report the results, the finished search
/// and the queue sampled, and the surrogate's endpoint answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_run_a_search_as_their_roles() {
    let redis = AclRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "name = \"acl\"\nbudget = 20\nseed = 2\nparallel = 4\n[space]\nkind = \"nb201\"\n\
         [strategy]\nstrategy = \"random\"\n[evaluator.nb201]\ndataset = \"cifar10\"\n",
    )
    .unwrap();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let results = dir.path().join("results");
    let mut procs = Procs(Vec::new());
    procs.0.push(
        nas(
            &[
                "scheduler",
                "--redis",
                &redis.url("scheduler"),
                "--surrogate",
                "none",
                "--results-dir",
                results.to_str().unwrap(),
                "--metrics-addr",
                &metrics_addr,
            ],
            &dir.path().join("scheduler.log"),
        )
        .spawn()
        .unwrap(),
    );
    procs.0.push(
        nas(
            &[
                "trainer",
                "--redis",
                &redis.url("trainer"),
                "--device",
                "cpu",
                "--slots",
                "2",
            ],
            &dir.path().join("trainer.log"),
        )
        .spawn()
        .unwrap(),
    );
    let surrogate_addr = format!("127.0.0.1:{}", free_port());
    procs.0.push(
        nas(
            &[
                "surrogate",
                "--redis",
                &redis.url("surrogate"),
                "--metrics-addr",
                &surrogate_addr,
            ],
            &dir.path().join("surrogate.log"),
        )
        .spawn()
        .unwrap(),
    );
    let id = submitted(
        Command::new(env!("CARGO_BIN_EXE_nas"))
            .args(["submit", "--redis", &redis.url("scheduler")])
            .arg(&spec)
            .env_remove("NAS_PREFIX"),
    );

    let admin = connect(&redis, "admin").await;
    let store = RedisStore::new(&admin, "observer");
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let state = store.load(&id).await.unwrap().expect("submitted");
        if state.status.is_terminal() {
            assert_eq!(state.status.word(), "done", "{:?}", state.status);
            assert_eq!(state.evaluated, 20);
            break;
        }
        assert!(
            Instant::now() < end,
            "the search did not finish; logs:\n{}\n{}",
            std::fs::read_to_string(dir.path().join("scheduler.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("trainer.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = scrape_until(&metrics_addr, Duration::from_secs(20), |t| {
        sample(t, "nas_trainers_alive") == Some(1.0)
            && sample(t, "nas_queue_jobs{state=\"done\"}").is_some()
    });
    assert_eq!(
        sample(&text, "nas_scheduler_results_total"),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "nas_scheduler_jobs_enqueued_total"),
        Some(20.0)
    );
    assert_eq!(
        sample(&text, "nas_searches_finished_total{status=\"done\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "nas_scheduler_leader"), Some(1.0));
    assert_eq!(http_get(&metrics_addr, "/healthz").map(|r| r.0), Some(200));
    // The surrogate replica, idle (the random search ranks nothing), is
    // healthy once its pop loop has reached Redis as its user.
    let text = scrape_until(&surrogate_addr, Duration::from_secs(20), |t| {
        sample(t, "nas_redis_last_ok_age_seconds").is_some_and(|a| a >= 0.0)
    });
    assert_eq!(
        sample(&text, "nas_surrogate_requests_total{outcome=\"ranked\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        http_get(&surrogate_addr, "/healthz").map(|r| r.0),
        Some(200)
    );
    let log = redis.acl_log();
    assert!(log.is_empty(), "commands denied to the daemons: {log:#?}");
}

/// Issue 15, defect 10: passwords on the command line are shown by `ps` to
/// every user. Real daemons connect to the ACL-protected Redis with the
/// password in a file, three ways: `--redis-password-file` (the trainer),
/// `REDIS_URL_FILE` (the scheduler and `nas submit`, the whole URL in a
/// file) and `NAS_REDIS_PASSWORD_FILE` (the surrogate); they run a search,
/// and the password is in no process's argv and in no log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_connect_with_password_files_and_never_show_them() {
    use std::os::unix::fs::PermissionsExt;
    let redis = AclRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    };
    let user_url = |role: &str| format!("redis://{role}@127.0.0.1:{}/", redis.port);
    let trainer_pw = secret_file("trainer.pw", format!("{}\n", redis.password("trainer")));
    let surrogate_pw = secret_file("surrogate.pw", redis.password("surrogate").to_string());
    let scheduler_url = secret_file("scheduler.url", format!("{}\n", redis.url("scheduler")));
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let results = dir.path().join("results");
    let mut procs = Procs(Vec::new());
    let trainer_url = user_url("trainer");
    let trainer = nas(
        &[
            "trainer",
            "--redis",
            &trainer_url,
            "--redis-password-file",
            trainer_pw.to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &log("trainer"),
    )
    .spawn()
    .unwrap();
    let scheduler = nas(
        &[
            "scheduler",
            "--surrogate",
            "none",
            "--results-dir",
            results.to_str().unwrap(),
        ],
        &log("scheduler"),
    )
    .env("REDIS_URL_FILE", &scheduler_url)
    .spawn()
    .unwrap();
    let surrogate = nas(&["surrogate"], &log("surrogate"))
        .env("REDIS_URL", user_url("surrogate"))
        .env("NAS_REDIS_PASSWORD_FILE", &surrogate_pw)
        .spawn()
        .unwrap();
    let pids = [trainer.id(), scheduler.id(), surrogate.id()];
    procs.0.extend([trainer, scheduler, surrogate]);

    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "name = \"files\"\nbudget = 4\nseed = 2\nparallel = 2\n[space]\nkind = \"nb201\"\n\
         [strategy]\nstrategy = \"random\"\n[evaluator.nb201]\ndataset = \"cifar10\"\n",
    )
    .unwrap();
    let id = submitted(
        Command::new(env!("CARGO_BIN_EXE_nas"))
            .arg("submit")
            .arg(&spec)
            .env_remove("REDIS_URL")
            .env_remove("NAS_PREFIX")
            .env("REDIS_URL_FILE", &scheduler_url),
    );
    let admin = connect(&redis, "admin").await;
    let store = RedisStore::new(&admin, "observer");
    let logs = || {
        ["trainer", "scheduler", "surrogate"]
            .map(|n| std::fs::read_to_string(log(n)).unwrap_or_default())
            .join("\n")
    };
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let state = store.load(&id).await.unwrap().expect("submitted");
        if state.status.is_terminal() {
            assert_eq!(state.status.word(), "done", "{:?}", state.status);
            break;
        }
        assert!(
            Instant::now() < end,
            "the search did not finish:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The surrogate is idle: it has connected once its pop loop has run
    // as its user (an unknown password fails at start-up).
    let end = Instant::now() + Duration::from_secs(20);
    while !redis
        .cli("admin", &["CLIENT", "LIST"])
        .0
        .contains("user=surrogate")
    {
        assert!(
            Instant::now() < end,
            "the surrogate never connected:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let secrets = ["trainer", "scheduler", "surrogate"].map(|r| redis.password(r).to_string());
    for pid in pids {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
        assert!(argv.contains("nas"), "{argv}");
        for s in &secrets {
            assert!(!argv.contains(s.as_str()), "a password in argv: {argv}");
        }
    }
    for pid in pids {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    for c in &mut procs.0 {
        let _ = c.wait();
    }
    let text = logs();
    assert!(text.contains("redis://trainer:***@"), "{text}");
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a password in the logs:\n{text}"
        );
    }
    let log = redis.acl_log();
    assert!(log.is_empty(), "commands denied to the daemons: {log:#?}");
}

/// A real trainer with --metrics-addr on the test Redis: its slots, busy
/// slots and finished jobs show in /metrics as jobs run, /healthz is 200
/// once it reaches Redis, a second trainer on the same port fails at
/// start-up, and SIGTERM hands the running job back (counted as released).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trainer_serves_metrics_and_health() {
    let url = std::env::var("REDIS_URL")
        .expect("REDIS_URL is not set: run the tests through scripts/test.sh");
    let prefix = format!("stack-metrics-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let args = [
        "trainer",
        "--redis",
        &url,
        "--prefix",
        &prefix,
        "--device",
        "cpu",
        "--slots",
        "2",
        "--metrics-addr",
        &addr,
    ];
    let mut procs = Procs(vec![nas(&args, &dir.path().join("trainer.log"))
        .spawn()
        .unwrap()]);
    let q = RedisQueue::connect(
        &RedisUrl::parse(&url).unwrap(),
        QueueConfig {
            prefix: prefix.clone(),
            ..QueueConfig::default()
        },
    )
    .await
    .unwrap();
    let mut jobs: Vec<NewJob> = (0..3)
        .map(|i| noop("metrics", &format!("quick{i}")))
        .collect();
    jobs.push(NewJob {
        payload: serde_json::json!({ "sleep_ms": 120_000 }),
        ..noop("metrics", "slow")
    });
    q.enqueue(jobs).await.unwrap();

    let text = scrape_until(&addr, Duration::from_secs(30), |t| {
        sample(t, "nas_trainer_jobs_total{outcome=\"completed\"}") == Some(3.0)
            && sample(t, "nas_trainer_slots_busy{device=\"cpu\"}") == Some(1.0)
    });
    assert!(
        text.contains("# TYPE nas_trainer_jobs_total counter"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "nas_trainer_slots{device=\"cpu\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "nas_trainer_jobs_total{outcome=\"failed\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "nas_info{role=\"trainer\",version=\"0.1.0\"}"),
        Some(1.0)
    );
    let age = sample(&text, "nas_redis_last_ok_age_seconds").unwrap();
    assert!((0.0..10.0).contains(&age), "{age}");
    assert_eq!(http_get(&addr, "/healthz"), Some((200, "ok\n".into())));

    // The port is taken: a second trainer fails at start-up, saying why.
    let second = dir.path().join("second.log");
    let status = nas(&args, &second).status().unwrap();
    assert!(!status.success());
    let said = std::fs::read_to_string(&second).unwrap();
    assert!(
        said.contains("--metrics-addr") && said.contains("cannot listen"),
        "{said}"
    );

    let pid = procs.0[0].id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = procs.0[0].try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "the trainer did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let counts = q.counts("metrics").await.unwrap();
    assert_eq!(
        (counts.done, counts.queued),
        (3, 1),
        "the slow job was handed back"
    );
}

// --- Kubernetes ---------------------------------------------------------------

/// deploy/*.yaml (what `kubectl apply -f deploy/` applies) and the Secret
/// template under deploy/templates/.
fn manifests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["deploy", "deploy/templates"] {
        files.extend(
            std::fs::read_dir(root().join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        );
    }
    files.sort();
    assert!(files.len() >= 6, "manifests in deploy/: {files:?}");
    files
}

/// Every manifest validates strictly (no unknown fields) against the
/// Kubernetes schemas that kubernetes-validate bundles, offline; a broken
/// one is refused, so the validator does validate.
#[test]
fn kubernetes_manifests_validate() {
    let files = manifests();
    let (ok, out, err) = run(Command::new(lint_tool("kubernetes-validate"))
        .args(["--strict", "--no-warn"])
        .args(&files));
    assert!(
        ok,
        "kubernetes-validate refused the manifests:\n{out}\n{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let scheduler = std::fs::read_to_string(root().join("deploy/scheduler.yaml")).unwrap();
    std::fs::write(
        &broken,
        scheduler.replacen("replicas: 1", "replicas: one", 1),
    )
    .unwrap();
    let (ok, out, _) = run(Command::new(lint_tool("kubernetes-validate"))
        .args(["--strict", "--no-warn"])
        .arg(&broken));
    assert!(
        !ok,
        "a Deployment with replicas: one must be refused: {out}"
    );
}

/// yamllint finds nothing in the compose file and the manifests (lines
/// up to 120 characters, except the ACL file embedded in redis.yaml, whose
/// users are one line each).
#[test]
fn yaml_lints() {
    let mut files = manifests();
    files.push(root().join("docker/docker-compose.yml"));
    let config = "{extends: default, rules: {line-length: {max: 120, ignore: [redis.yaml]}, \
                  document-start: disable, truthy: {check-keys: false}}}";
    let (ok, out, err) = run(Command::new(lint_tool("yamllint"))
        .args(["--strict", "-d", config])
        .args(&files));
    assert!(ok, "yamllint:\n{out}{err}");
}

/// hadolint passes both Dockerfiles (apt packages stay unpinned on
/// purpose: Debian stable's updates are security fixes). The scripts the
/// images and the Redis container run are ShellChecked with every other
/// script in tests/scripts.rs.
#[test]
fn dockerfiles_lint() {
    let (ok, out, err) = run(Command::new(lint_tool("hadolint"))
        .args([
            "--ignore",
            "DL3008",
            "--failure-threshold",
            "info",
            "--no-color",
        ])
        .arg(root().join("docker/Dockerfile"))
        .arg(root().join("docker/Dockerfile.cuda")));
    assert!(ok, "hadolint:\n{out}{err}");
}

/// The Kubernetes ConfigMap carries docker/redis/ as it is, so the cluster's
/// Redis runs what tests/stack.rs checks here.
#[test]
fn kubernetes_redis_config_matches_docker_redis() {
    let text = std::fs::read_to_string(root().join("deploy/redis.yaml")).unwrap();
    let docs = yaml_docs(&text);
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap in deploy/redis.yaml");
    for file in ["redis.conf", "users.acl.in", "render-acl.sh", "start.sh"] {
        let want = std::fs::read_to_string(root().join("docker/redis").join(file)).unwrap();
        assert_eq!(
            config["data"][file].as_str(),
            Some(want.as_str()),
            "deploy/redis.yaml differs from docker/redis/{file}"
        );
    }
}

/// What the manifests promise: Redis as a StatefulSet with a volume claim
/// and the append-only file, the role Secret, one scheduler, two surrogate
/// replicas, trainers with one NVIDIA GPU each, the shared volume claims,
/// and probes on the metrics endpoint of every daemon.
#[test]
fn kubernetes_manifests_hold_the_stack() {
    let mut docs = Vec::new();
    for f in manifests() {
        docs.extend(yaml_docs(&std::fs::read_to_string(&f).unwrap()));
    }
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .clone()
    };
    let redis = find("StatefulSet", "redis");
    assert!(redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"].is_object());
    find("Service", "redis");
    let secret = find("Secret", "nas-redis");
    for key in ["admin", "scheduler", "trainer", "surrogate"] {
        assert!(
            secret["stringData"][format!("{key}-password")].is_string(),
            "Secret key {key}-password"
        );
    }
    let conf = find("ConfigMap", "nas-redis");
    assert!(conf["data"]["redis.conf"]
        .as_str()
        .unwrap()
        .contains("appendonly yes"));
    for pvc in ["nas-data", "nas-results", "nas-checkpoints"] {
        find("PersistentVolumeClaim", pvc);
    }
    // Issue 17: the dashboard, read-only, reading as the scheduler's user.
    let d = find("Deployment", "nas-dashboard");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert!(c["args"].to_string().contains("--read-only-public"));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert!(c["env"]
        .to_string()
        .contains("redis://scheduler@redis:6379/"));
    assert_eq!(
        find("Service", "nas-dashboard")["spec"]["ports"][0]["port"],
        8080
    );
    for (name, replicas) in [("scheduler", 1), ("surrogate", 2), ("trainer", 2)] {
        let d = find("Deployment", &format!("nas-{name}"));
        assert_eq!(d["spec"]["replicas"], replicas, "{name} replicas");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        for probe in ["readinessProbe", "livenessProbe"] {
            assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{name} {probe}");
        }
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
        assert!(c["args"].to_string().contains("0.0.0.0:9100"), "{name}");
        // Issue 15, defect 10: the password comes from the Secret as a
        // file; the URL in the environment names the user only.
        let env = |var: &str| {
            c["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == var)
                .map(|e| e["value"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default()
        };
        assert_eq!(env("REDIS_URL"), format!("redis://{name}@redis:6379/"));
        let file = env("NAS_REDIS_PASSWORD_FILE");
        let mounts = c["volumeMounts"].as_array().unwrap();
        let mount = mounts
            .iter()
            .find(|m| file.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
            .unwrap_or_else(|| panic!("{name}: {file} is on no mount: {mounts:?}"));
        let volumes = d["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
        assert_eq!(volume["secret"]["secretName"], "nas-redis", "{volume}");
        let item = &volume["secret"]["items"][0];
        assert_eq!(item["key"], format!("{name}-password"), "{volume}");
        assert!(file.ends_with(&format!("/{}", item["path"].as_str().unwrap())));
    }
    let trainer = find("Deployment", "nas-trainer");
    let res = &trainer["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"]["nvidia.com/gpu"], 1);
    assert_eq!(res["requests"]["nvidia.com/gpu"], 1);
}

/// Every commented spec in `examples/` is a search that can run: it
/// parses (TOML or JSON) and passes the checks `nas submit` makes.
#[test]
fn example_specs_parse_and_check() {
    let mut strategies = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        // A folder is an example project with its spec beside its code.
        let path = if path.is_dir() {
            path.join("search.toml")
        } else {
            path
        };
        let spec =
            SearchSpec::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v = serde_json::to_value(&spec.strategy).unwrap();
        strategies.push(v["strategy"].as_str().unwrap().to_string());
    }
    strategies.sort();
    assert_eq!(
        strategies,
        [
            "darts",
            "evolution",
            "evolution",
            "evolution",
            "evolution",
            "pnas",
            "random"
        ]
    );
}
