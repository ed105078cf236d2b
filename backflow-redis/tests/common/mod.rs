//! The test fixture: a private `redis-server` per test, on a unix socket in a temporary
//! directory, killed by its own PID when the guard drops. No TCP port is opened (`--port 0`).
//!
//! Without `redis-server` on `PATH` the tests skip with a message written straight to the
//! process's stderr (fd 2, which the test harness does not capture); with `REQUIRE_REDIS=1` a
//! missing server is a failure instead.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backflow_redis::RedisUrl;

/// Generous: 8 sessions share 2 cores on the CI machine.
pub const STARTUP: Duration = Duration::from_secs(30);

pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
    aof: bool,
}

/// Writes to fd 2 directly: `eprintln!` and `std::io::stderr()` are captured by the harness.
///
/// Opened for appending: with stderr redirected to a file (`2> log`), a plain write would start
/// at offset 0 of the fresh file description and the harness's later output would overwrite it.
pub fn loud(message: &str) {
    if let Ok(mut tty) = std::fs::OpenOptions::new().append(true).open("/dev/stderr") {
        let _ = tty.write_all(message.as_bytes());
        let _ = tty.flush();
    }
}

fn server_binary() -> Option<String> {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let ok = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(bin)
}

impl RedisServer {
    /// A fresh server with no persistence, or `None` (after a loud message) when the machine has
    /// no `redis-server` and `REQUIRE_REDIS` is not set.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(false)
    }

    /// As [`start`](Self::start), with the append-only file on (`appendfsync always`), so a
    /// stop/restart keeps everything.
    pub fn start_with(aof: bool) -> Option<RedisServer> {
        let Some(_) = server_binary() else {
            if std::env::var("REQUIRE_REDIS").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_REDIS=1 but redis-server is not installed (apt-get install -y redis-server)");
            }
            loud(
                "\n\n!!!!! backflow-redis: redis-server not found on PATH: SKIPPING this test. \
                 Install it (apt-get install -y redis-server) or set REQUIRE_REDIS=1 to fail instead. !!!!!\n\n",
            );
            return None;
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "backflow-redis-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let socket = dir.join("redis.sock");
        let mut server = RedisServer {
            child: None,
            dir,
            socket,
            aof,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let bin = server_binary().expect("redis-server vanished");
        let log = std::fs::File::create(self.dir.join("redis.log")).expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(&self.socket)
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--save")
            .arg("")
            .arg("--hz")
            .arg("100")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--daemonize")
            .arg("no");
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP;
        loop {
            if self.socket.exists() {
                if let Ok(mut c) = self.try_connection() {
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                        // Still loading the AOF answers PING with -LOADING: wait for a real reply.
                        if redis::cmd("DBSIZE").query::<i64>(&mut c).is_ok() {
                            return;
                        }
                    }
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                panic!("redis-server exited at start ({status}):\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up within {STARTUP:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn url(&self) -> RedisUrl {
        RedisUrl::unix(&self.socket).unwrap()
    }

    fn try_connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(format!("redis+unix://{}", self.socket.display()))?;
        let c = client.get_connection_with_timeout(Duration::from_secs(10))?;
        c.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(c)
    }

    /// A plain connection for the test's own commands.
    pub fn connection(&self) -> redis::Connection {
        self.try_connection().expect("connect to the test server")
    }

    /// Stops the server gracefully (SIGTERM: the AOF is flushed) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + STARTUP;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts the server again on the same socket and directory.
    pub fn restart(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.socket);
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to this child's own PID, nothing else.
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `n` entries `n=1..=n` to `stream` server-side (one Lua call per 100 000), fast even for
/// a million entries in a debug build. Returns nothing; IDs are read back with [`all_ids`].
pub fn fill(con: &mut redis::Connection, stream: &str, n: u64) {
    let script = "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do \
                  redis.call('XADD', KEYS[1], '*', 'n', i) end return 1";
    let mut from = 1;
    while from <= n {
        let to = (from + 99_999).min(n);
        let _: i64 = redis::cmd("EVAL")
            .arg(script)
            .arg(1)
            .arg(stream)
            .arg(from)
            .arg(to)
            .query(con)
            .unwrap();
        from = to + 1;
    }
}

/// Every entry ID of `stream`, in order.
pub fn all_ids(con: &mut redis::Connection, stream: &str) -> Vec<String> {
    all_entries(con, stream)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// Every entry of `stream` as `(id, fields)`, read in pages of 10 000.
pub fn all_entries(
    con: &mut redis::Connection,
    stream: &str,
) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut start = "-".to_string();
    loop {
        let page: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query(con)
            .unwrap();
        let n = page.len();
        if let Some((last, _)) = page.last() {
            start = format!("({last}");
        }
        out.extend(page.into_iter().map(|(id, f)| {
            let pairs = f
                .chunks(2)
                .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()));
            (id, pairs.collect())
        }));
        if n < 10_000 {
            return out;
        }
    }
}

/// How many times the server ran `command` (INFO commandstats).
pub fn calls(con: &mut redis::Connection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    let key = format!("cmdstat_{}:calls=", command.to_lowercase());
    info.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `XPENDING stream group` summary count.
pub fn pending(con: &mut redis::Connection, stream: &str, group: &str) -> u64 {
    let v: redis::Value = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query(con)
        .unwrap();
    match v {
        redis::Value::Array(a) => match a.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            _ => 0,
        },
        _ => 0,
    }
}

/// Pending entry IDs of one consumer.
pub fn pending_of(
    con: &mut redis::Connection,
    stream: &str,
    group: &str,
    consumer: &str,
) -> Vec<String> {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .arg(consumer)
        .query(con)
        .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

/// Polls `f` until it is true or `limit` passes; returns whether it became true.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
