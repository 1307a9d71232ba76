//! Helpers shared by the black-box tests: a small dataset in the real IDX
//! format, processes that are killed when the test ends, and a `nas`
//! system over the test Redis.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Child processes killed and reaped on drop.
pub struct Procs(pub Vec<Child>);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// 4 classes told apart by brightness, 12x12 grey images, as IDX files.
pub fn write_dataset(dir: &std::path::Path) {
    let mut state = 12345u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut write = |name: &str, n: u32| {
        let mut img = vec![0, 0, 8, 3];
        let mut lab = vec![0, 0, 8, 1];
        for d in [n, 12, 12] {
            img.extend(d.to_be_bytes());
        }
        lab.extend(n.to_be_bytes());
        for _ in 0..n {
            let class = (rand() % 4) as u8;
            lab.push(class);
            for _ in 0..144 {
                let noise = (rand() % 41) as i32 - 20;
                img.push((class as i32 * 60 + 20 + noise).clamp(0, 255) as u8);
            }
        }
        std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), lab).unwrap();
    };
    write("train", 400);
    write("t10k", 100);
}

/// [`write_dataset`] with `train` training images.
pub fn write_dataset_of(dir: &std::path::Path, train: u32) {
    write_dataset(dir);
    let mut state = 777u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut img = vec![0, 0, 8, 3];
    let mut lab = vec![0, 0, 8, 1];
    for d in [train, 12, 12] {
        img.extend(d.to_be_bytes());
    }
    lab.extend(train.to_be_bytes());
    for _ in 0..train {
        let class = (rand() % 4) as u8;
        lab.push(class);
        for _ in 0..144 {
            let noise = (rand() % 81) as i32 - 40;
            img.push((class as i32 * 60 + 20 + noise).clamp(0, 255) as u8);
        }
    }
    std::fs::write(dir.join("train-images-idx3-ubyte"), img).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), lab).unwrap();
}

/// A `nas` system on the test Redis (`REDIS_URL`, set by scripts/test.sh)
/// under a key prefix of its own: daemons started with [`System::spawn`]
/// log to files in a temporary folder and are killed when it drops.
pub struct System {
    url: String,
    prefix: String,
    /// The temporary folder: `logs/`, and whatever the test puts there.
    pub dir: tempfile::TempDir,
    procs: Procs,
}

impl System {
    /// A system whose keys start with `name` and this process's id.
    pub fn new(name: &str) -> Self {
        let url = std::env::var("REDIS_URL").expect("REDIS_URL: run through scripts/test.sh");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        Self {
            url,
            prefix: format!("{name}-{}", std::process::id()),
            dir,
            procs: Procs(Vec::new()),
        }
    }

    /// The Redis URL of the test Redis.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This system's key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection to the test Redis.
    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// A path in the temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `nas` command pointed at this system.
    pub fn nas(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nas"));
        c.args(args)
            .env("REDIS_URL", &self.url)
            .env("NAS_PREFIX", &self.prefix)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        c
    }

    /// Start a daemon logging to `logs/<log>`.
    pub fn spawn(&mut self, args: &[&str], log: &str) {
        let f = std::fs::File::create(self.path("logs").join(log)).unwrap();
        let child = self
            .nas(args)
            .stderr(f.try_clone().unwrap())
            .stdout(f)
            .spawn()
            .unwrap();
        self.procs.0.push(child);
    }

    /// Start a daemon logging to `logs/<log>`; its process id.
    pub fn spawn_pid(&mut self, args: &[&str], log: &str) -> u32 {
        self.spawn(args, log);
        self.procs.0.last().unwrap().id()
    }

    /// A daemon's log so far.
    pub fn log(&self, log: &str) -> String {
        std::fs::read_to_string(self.path("logs").join(log)).unwrap_or_default()
    }

    /// `nas submit` the spec text; returns the search id.
    pub fn submit(&self, spec: &str) -> String {
        let path = self.path("spec.toml");
        std::fs::write(&path, spec).unwrap();
        let out = self
            .nas(&["submit", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// `nas status ID --json` once the search has stopped running; panics
    /// with the daemons' logs after `timeout`.
    pub fn wait_done(&self, id: &str, timeout: Duration) -> serde_json::Value {
        let end = Instant::now() + timeout;
        loop {
            let out = self.nas(&["status", id, "--json"]).output().unwrap();
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if doc["searches"][0]["state"]["status"] != "running" {
                return doc;
            }
            if Instant::now() > end {
                for entry in std::fs::read_dir(self.path("logs")).unwrap() {
                    let path = entry.unwrap().path();
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    eprintln!("--- {}\n{text}", path.display());
                }
                panic!("search {id} did not finish: {doc}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `nas results ID`: every evaluation, in order.
    pub fn results(&self, id: &str) -> Vec<serde_json::Value> {
        let out = self.nas(&["results", id]).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The path as UTF-8, for command lines.
pub fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}
