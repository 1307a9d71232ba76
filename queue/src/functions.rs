//! The queue's transitions as one Redis Functions library, `nasq`: every
//! client (the Rust queue, the Python worker, any other) calls the same
//! code in Redis with `FCALL nasq_<name>`, so no client carries its own
//! copy of the Lua. The library is `lua/prelude.lua` followed by each
//! `lua/<name>.lua` wrapped as a function of `(KEYS, ARGV)`; it is loaded
//! by whichever loading client finds it missing first (the scheduler,
//! `nas submit`; `FUNCTION LOAD`, never `REPLACE`): trainers of every
//! language never load it, they wait for it. A daemon that finds another version refuses to run
//! ([`QueueError::FunctionsVersion`]) until `nas migrate-keys` replaces it.
//!
//! `nasq_version` (read-only) returns [`FUNCTIONS_VERSION`]; any change to
//! the library's text must bump it (a test pins the text's hash to the
//! version), because two versions must never serve one deployment.

use crate::{QueueError, Result};
use redis::aio::ConnectionManager;
use redis::{FromRedisValue, ToRedisArgs};

macro_rules! version {
    () => {
        "2"
    };
}

/// The version of the library this build speaks (returned by
/// `FCALL_RO nasq_version 0`). Version 1 was the scripts loaded with
/// `EVALSHA`, before the library.
pub const FUNCTIONS_VERSION: &str = version!();

/// The library's name in Redis.
pub const LIBRARY_NAME: &str = "nasq";

macro_rules! function {
    ($name:literal) => {
        concat!(
            "\nlocal function ",
            $name,
            "(KEYS, ARGV)\n",
            include_str!(concat!("../lua/", $name, ".lua")),
            "end\nredis.register_function('nasq_",
            $name,
            "', ",
            $name,
            ")\n"
        )
    };
}

/// The library's source, as `FUNCTION LOAD` takes it.
pub const LIBRARY: &str = concat!(
    "#!lua name=nasq\n",
    include_str!("../lua/prelude.lua"),
    function!("enqueue"),
    function!("claim"),
    function!("renew"),
    function!("complete"),
    function!("fail"),
    function!("release"),
    function!("reap"),
    function!("replay"),
    function!("cancel"),
    function!("progress"),
    function!("retire"),
    function!("sweep"),
    function!("alive"),
    "\nredis.register_function{function_name = 'nasq_version', flags = { 'no-writes' }, \
     callback = function() return '",
    version!(),
    "' end}\n"
);

/// The transitions' names, as `FCALL` takes them (`nasq_` + name).
pub const NAMES: [&str; 13] = [
    "enqueue", "claim", "renew", "complete", "fail", "release", "reap", "replay", "cancel",
    "progress", "retire", "sweep", "alive",
];

/// Whether `e` says that the library (or one of its functions) is not in
/// Redis: Redis restarted without persistence, or someone flushed it.
fn is_missing(e: &redis::RedisError) -> bool {
    let s = e.to_string();
    s.contains("Function not found") || s.contains("Library not found")
}

/// Make sure Redis holds this build's library: load it if it is missing
/// and `may_load` (else [`QueueError::FunctionsMissing`]), refuse if
/// another version is there. Idempotent, and safe when several daemons
/// start at once (a load that loses the race finds the winner's).
pub async fn ensure(con: &mut ConnectionManager, may_load: bool) -> Result<()> {
    for _ in 0..2 {
        match loaded_version(con).await? {
            Some(v) if v == FUNCTIONS_VERSION => return Ok(()),
            Some(found) => {
                return Err(QueueError::FunctionsVersion {
                    found,
                    expected: FUNCTIONS_VERSION.into(),
                })
            }
            None if !may_load => {
                return Err(QueueError::FunctionsMissing(
                    "a trainer waits for a loader".into(),
                ))
            }
            None => match load(con, false).await {
                Ok(()) => return Ok(()),
                // Another daemon loaded it between our check and our load.
                Err(QueueError::Redis(e)) if e.to_string().contains("already exists") => continue,
                Err(e) => return Err(e),
            },
        }
    }
    Err(QueueError::Corrupt(format!(
        "the {LIBRARY_NAME} functions library came and went while this daemon loaded it"
    )))
}

/// The version of the library in Redis, `None` if there is none.
pub async fn loaded_version(con: &mut ConnectionManager) -> Result<Option<String>> {
    let r: redis::RedisResult<String> = redis::cmd("FCALL_RO")
        .arg("nasq_version")
        .arg(0)
        .query_async(con)
        .await;
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Load this build's library; `replace` swaps out whatever version is
/// there (`nas migrate-keys`, with every daemon stopped).
pub async fn load(con: &mut ConnectionManager, replace: bool) -> Result<()> {
    let mut cmd = redis::cmd("FUNCTION");
    cmd.arg("LOAD");
    if replace {
        cmd.arg("REPLACE");
    }
    let r: redis::RedisResult<String> = cmd.arg(LIBRARY).query_async(con).await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NOPERM") => Err(QueueError::FunctionsMissing(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// One transition of the library, called like a `redis::Script`.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    name: &'static str,
    may_load: bool,
}

impl Function {
    /// The transition `nasq_<name>`, loading the library again if Redis
    /// lost it.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            may_load: true,
        }
    }

    /// The same transition, loading the library again only if `may_load`
    /// (else a lost library is an outage until a loader puts it back).
    pub const fn loading(self, may_load: bool) -> Self {
        Self { may_load, ..self }
    }

    /// A call with no keys or arguments yet.
    pub fn prepare_invoke(&self) -> Call {
        Call {
            name: self.name,
            may_load: self.may_load,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    /// A call with its first key.
    pub fn key<T: ToRedisArgs>(&self, key: T) -> Call {
        let mut c = self.prepare_invoke();
        c.key(key);
        c
    }
}

/// A call being built: keys, then arguments, as `FCALL` takes them.
pub struct Call {
    name: &'static str,
    may_load: bool,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call {
    /// Add a key (`KEYS[n]` in the function).
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    /// Add an argument (`ARGV[n]` in the function).
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    fn cmd(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(format!("nasq_{}", self.name))
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        cmd
    }

    /// Call the function; if Redis lost the library (a restart without
    /// persistence), load it again and call once more.
    pub async fn invoke_async<T: FromRedisValue>(
        &self,
        con: &mut ConnectionManager,
    ) -> redis::RedisResult<T> {
        match self.cmd().query_async(con).await {
            Err(e) if is_missing(&e) => {
                tracing::warn!(
                    function = self.name,
                    "the nasq functions library is missing from redis; loading it again"
                );
                if let Err(load_err) = ensure(con, self.may_load).await {
                    // An I/O error to the caller: transient, so a trainer
                    // (which does not load the library) keeps retrying, each
                    // try logged, until the scheduler has loaded it again.
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the nasq functions library is missing from redis and this client could not load it",
                        load_err.to_string(),
                    )));
                }
                self.cmd().query_async(con).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// Any change to the library's text must come with a new version: two
    /// texts under one version would let two builds disagree on a
    /// transition while each believes the other speaks its protocol. When
    /// this fails, bump `version!()` and put the new hash here.
    #[test]
    fn the_library_text_is_pinned_to_its_version() {
        let hash = format!("{:x}", Sha256::digest(LIBRARY.as_bytes()));
        let pinned = [(
            "2",
            "96bf4c7e0003d3865c2712ebaea87ca4d34ee4e2ba01a9f60e192d115f3cb826",
        )];
        let (v, h) = pinned.last().unwrap();
        assert_eq!(*v, FUNCTIONS_VERSION, "pin the new version's hash");
        assert_eq!(
            *h, hash,
            "the library changed: bump FUNCTIONS_VERSION and pin {hash}"
        );
    }

    #[test]
    fn every_transition_is_registered() {
        for name in NAMES {
            assert!(
                LIBRARY.contains(&format!("redis.register_function('nasq_{name}', {name})")),
                "{name}"
            );
        }
        assert!(LIBRARY.starts_with("#!lua name=nasq\n"));
    }
}
