//! A test's world of real processes: `nas trainer` and `nas scheduler`
//! against a real Redis (REDIS_URL from scripts/test.sh, or a redis-server
//! the test owns when it must kill or restart it), with a key prefix and a
//! folder of logs and results of its own.

#![allow(dead_code)]

use queue::{Queue, QueueConfig, RedisQueue, RedisUrl};
use scheduler::{RedisStore, Store};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "venv.rs"]
mod venv;
pub use venv::venv_bin;

pub struct World {
    pub url: String,
    pub prefix: String,
    pub dir: tempfile::TempDir,
    pub procs: Vec<(String, Child)>,
    pub lease_secs: f64,
    /// Extra environment for every process started from now on.
    pub env: Vec<(String, String)>,
}

impl World {
    pub fn new(name: &str) -> Self {
        let url = std::env::var("REDIS_URL")
            .expect("REDIS_URL is not set: run the tests through scripts/test.sh");
        Self::on(name, url)
    }

    pub fn on(name: &str, url: String) -> Self {
        Self {
            url,
            prefix: format!("rel-{name}-{}", std::process::id()),
            dir: tempfile::tempdir().unwrap(),
            procs: Vec::new(),
            lease_secs: 1.0,
            env: Vec::new(),
        }
    }

    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            prefix: self.prefix.clone(),
            lease: Duration::from_secs_f64(self.lease_secs),
            ..QueueConfig::default()
        }
    }

    pub async fn queue(&self) -> RedisQueue {
        RedisQueue::connect(&RedisUrl::parse(&self.url).unwrap(), self.queue_config())
            .await
            .unwrap()
    }

    pub fn nas(&self, args: &[&str]) -> Command {
        self.nas_under(&[], args)
    }

    /// `nas ARGS` run by `wrapper` (`ip netns exec NS nas ARGS`), with this
    /// world's Redis, prefix and log level.
    pub fn nas_under(&self, wrapper: &[&str], args: &[&str]) -> Command {
        let nas = env!("CARGO_BIN_EXE_nas");
        let mut c = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(nas);
                c
            }
            None => Command::new(nas),
        };
        c.args(args)
            .env("REDIS_URL", &self.url)
            .env("NAS_PREFIX", &self.prefix)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        c
    }

    /// Start a named process whose output goes to `<dir>/<name>.log`.
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> u32 {
        self.spawn_with(name, args, &[])
    }

    /// [`World::spawn`] with extra environment variables.
    pub fn spawn_with(&mut self, name: &str, args: &[&str], env: &[(&str, &str)]) -> u32 {
        self.spawn_wrapped(name, &[], args, env)
    }

    /// [`World::spawn_with`] under `wrapper` (`ip netns exec NS`, which
    /// execs the program: the process is `nas` itself).
    pub fn spawn_wrapped(
        &mut self,
        name: &str,
        wrapper: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> u32 {
        let lease = self.lease_secs.to_string();
        let results = self.results_dir();
        let mut full: Vec<&str> = args.to_vec();
        if matches!(args.first(), Some(&"trainer") | Some(&"scheduler")) {
            full.extend(["--lease-secs", &lease, "--backoff-ms", "50"]);
        }
        if args.first() == Some(&"scheduler") {
            full.extend(["--results-dir", results.to_str().unwrap()]);
        }
        let mut cmd = self.nas_under(wrapper, &full);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied());
        self.start_logged(name, cmd)
    }

    pub fn trainer(&mut self, name: &str, extra: &[&str]) -> u32 {
        let mut args = vec!["trainer", "--worker-id", name];
        args.extend(extra);
        self.spawn(name, &args)
    }

    /// Start `nas-worker` (the Python trainer, installed into the torch venv
    /// by scripts/setup.sh) as `name`, running `entry` from the test
    /// functions in tests/python, with this world's Redis, prefix and lease.
    pub fn python_worker(&mut self, name: &str, entry: &str, extra: &[&str]) -> u32 {
        let lease = self.lease_secs.to_string();
        let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
        let mut cmd = Command::new(venv_bin("nas-worker"));
        cmd.args(["--redis", &self.url, "--prefix", &self.prefix])
            .args(["--worker-id", name, "--entry", entry, "--lease-s", &lease])
            .args(extra)
            .env("PYTHONPATH", tests)
            .env("PYTHONUNBUFFERED", "1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        self.start_logged(name, cmd)
    }

    /// Start `cmd` as the process `name`, its output to `<dir>/<name>.log`.
    fn start_logged(&mut self, name: &str, mut cmd: Command) -> u32 {
        let log = std::fs::File::create(self.log_path(name)).unwrap();
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.procs.push((name.to_string(), child));
        pid
    }

    pub fn results_dir(&self) -> PathBuf {
        self.dir.path().join("results")
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    pub fn signal(&mut self, name: &str, sig: &str) {
        let (_, child) = self.procs.iter().find(|(n, _)| n == name).unwrap();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig} {name}");
    }

    /// Wait for a process to exit; its exit status.
    pub fn wait(&mut self, name: &str, within: Duration) -> std::process::ExitStatus {
        let (_, child) = self.procs.iter_mut().find(|(n, _)| n == name).unwrap();
        let end = Instant::now() + within;
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < end,
                "{name} did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL a process and reap it.
    pub fn kill(&mut self, name: &str) {
        self.signal(name, "KILL");
        self.wait(name, Duration::from_secs(10));
    }

    pub fn submit(&self, spec: &str) -> String {
        let path = self.dir.path().join(format!("spec-{}.toml", rand_suffix()));
        std::fs::write(&path, spec).unwrap();
        let out = self
            .nas(&["submit", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "submit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// No process's log shows a panic.
    pub fn assert_no_panics(&self) {
        for (name, _) in &self.procs {
            let log = self.log(name);
            assert!(!log.contains("panicked"), "{name} panicked:\n{log}");
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for (_, c) in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let mut seen = HashSet::new();
            for (name, _) in &self.procs {
                if seen.insert(name.clone()) {
                    let log = self.log(name);
                    let tail: String = log
                        .lines()
                        .rev()
                        .take(60)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    eprintln!("---- {name} log (last 60 lines) ----\n{tail}");
                }
            }
        }
    }
}

/// A redis-server the test owns: append-only with `appendfsync everysec`
/// (the deployment's setting), killed and restarted at will on one port and
/// one data folder.
pub struct OwnRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Addresses it listens on besides 127.0.0.1.
    also: Vec<String>,
}

impl OwnRedis {
    pub fn start() -> Self {
        Self::start_also_on(&[])
    }

    /// Start one that also listens on `addrs` (a veth's address: protected
    /// mode is off, as a deployment's Redis behind its ACL has it).
    pub fn start_also_on(addrs: &[&str]) -> Self {
        let mut r = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            also: addrs.iter().map(|a| a.to_string()).collect(),
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Start it again (after [`OwnRedis::kill`]) on the same data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(&self.also)
            .args([
                "--protected-mode",
                if self.also.is_empty() { "yes" } else { "no" },
            ])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .args(["--save", "", "--dir", self.dir.path().to_str().unwrap()])
            // One increment file for the test's life: a rewrite would start
            // a new one, and a cut must be measured on the file it cuts.
            .args(["--auto-aof-rewrite-percentage", "0"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/test.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port);
    }

    /// Stop it with `sig` (KILL: no flush; TERM: a clean shutdown).
    pub fn stop(&mut self, sig: &str) {
        let mut c = self.child.take().expect("redis is not running");
        Command::new("kill")
            .args([&format!("-{sig}"), &c.id().to_string()])
            .status()
            .unwrap();
        c.wait().unwrap();
    }

    pub fn kill(&mut self) {
        self.stop("KILL")
    }

    /// The append-only file Redis is writing now (Redis 7 keeps a base file
    /// and increments under `appendonlydir/`; the newest increment).
    fn aof(&self) -> PathBuf {
        let dir = self.dir.path().join("appendonlydir");
        let mut incr: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
            .collect();
        incr.sort_by_key(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.split('.')
                .find_map(|part| part.parse::<u64>().ok())
                .unwrap_or(0)
        });
        incr.pop().expect("an append-only increment file")
    }

    /// How far the append-only file has been written.
    pub fn written(&self) -> u64 {
        std::fs::metadata(self.aof()).unwrap().len()
    }

    /// What a power cut under `appendfsync everysec` does: SIGKILL, and the
    /// writes after `synced` (the file's length at the last fsync, about a
    /// second ago) never reached the disk. Redis loads the file up to its
    /// last whole command (`aof-load-truncated`, dropping an unfinished
    /// MULTI block), so acknowledged writes are lost, never half-applied.
    pub fn kill_losing_writes_after(&mut self, synced: u64) {
        self.kill();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(self.aof())
            .unwrap();
        f.set_len(synced).unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// An NAS-Bench-201 search of `budget` random candidates, `parallel` in
/// flight, whose evaluations take `time_scale` of their recorded time.
pub fn spec(name: &str, budget: usize, parallel: usize, time_scale: f64) -> String {
    format!(
        r#"
name = "{name}"
budget = {budget}
seed = 7
parallel = {parallel}
[space]
kind = "nb201"
[strategy]
strategy = "random"
[evaluator.nb201]
dataset = "cifar10"
time_scale = {time_scale}
"#
    )
}

/// Poll `f` until it returns Some, failing after `within`.
pub async fn until<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait for a search to finish; check every candidate was recorded once:
/// in the search state, in the queue's counts and in the append-only log.
pub async fn finished(
    world: &World,
    id: &str,
    budget: usize,
    within: Duration,
) -> Vec<scheduler::Evaluation> {
    let q = world.queue().await;
    let store = RedisStore::new(&q, "test");
    until(&format!("search {id} to finish"), within, || async {
        let s = store.load(id).await.ok()??;
        s.status.is_terminal().then_some(())
    })
    .await;
    let s = store.load(id).await.unwrap().unwrap();
    assert_eq!(s.status, scheduler::Status::Done, "{id}");
    let evals = scheduler::client::results(&store, id).await.unwrap();
    assert_eq!(evals.len(), budget, "one evaluation per candidate");
    let hashes: HashSet<&str> = evals.iter().map(|e| e.hash.as_str()).collect();
    assert_eq!(hashes.len(), budget, "no candidate evaluated twice");
    let jobs: HashSet<&str> = evals.iter().map(|e| e.job_id.as_str()).collect();
    assert_eq!(jobs.len(), budget, "no job reported twice");
    let counts = q.counts(id).await.unwrap();
    assert_eq!(
        counts.done as usize, budget,
        "exactly one result per job in the queue: {counts:?}"
    );
    // The append-only log agrees with Redis.
    let jsonl =
        std::fs::read_to_string(world.results_dir().join(id).join("evaluations.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), budget, "evaluations.jsonl lines");
    evals
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16) {
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "redis on {port} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A network namespace joined to this one by a veth pair, with link-local
/// addresses on the pair only: a process started in it (`ip netns exec`)
/// reaches the host through the pair and nothing else, so taking the host's
/// end down cuts it off the way a partition does (packets dropped, nothing
/// refused) while the rest of the world goes on over loopback.
pub struct Netns {
    pub name: String,
    host_if: String,
    /// The host's end of the pair.
    pub host_addr: String,
}

impl Netns {
    pub fn create() -> Self {
        let n = std::process::id() % 60_000;
        let (name, host_if, ns_if) = (
            format!("nas-part-{n}"),
            format!("nph{n}"),
            format!("npn{n}"),
        );
        let (a, b) = (n / 250 % 250 + 1, n % 250);
        let host_addr = format!("169.254.{a}.{}", b / 4 * 4 + 1);
        let ns_addr = format!("169.254.{a}.{}", b / 4 * 4 + 2);
        let ns = Self {
            name: name.clone(),
            host_if: host_if.clone(),
            host_addr: host_addr.clone(),
        };
        // Left over from a run that was killed: start clean.
        let _ = ip(&["link", "del", &host_if]);
        let _ = ip(&["netns", "del", &name]);
        let exec = ["netns", "exec", &name, "ip"];
        for args in [
            vec!["netns", "add", &name],
            vec![
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
            vec!["link", "set", &ns_if, "netns", &name],
            vec!["addr", "add", &format!("{host_addr}/30"), "dev", &host_if],
            vec!["link", "set", &host_if, "up"],
            [
                &exec[..],
                &["addr", "add", &format!("{ns_addr}/30"), "dev", &ns_if],
            ]
            .concat(),
            [&exec[..], &["link", "set", &ns_if, "up"]].concat(),
            [&exec[..], &["link", "set", "lo", "up"]].concat(),
        ] {
            if let Err(e) = ip(&args) {
                panic!(
                    "the partition test makes a network namespace and a veth pair \
                     (root and iproute2, both on the CI machine): {e}"
                );
            }
        }
        ns
    }

    /// `ip netns exec NAME`, to start a process inside.
    pub fn exec(&self) -> Vec<&str> {
        vec!["ip", "netns", "exec", &self.name]
    }

    /// Cut the namespace off: its packets to the host are dropped.
    pub fn partition(&self) {
        ip(&["link", "set", &self.host_if, "down"]).unwrap();
    }

    /// Join it up again; open connections carry on where TCP left them.
    pub fn heal(&self) {
        ip(&["link", "set", &self.host_if, "up"]).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
