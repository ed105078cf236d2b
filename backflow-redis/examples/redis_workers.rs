//! More than one process: a producer and N workers share one Redis stream through a consumer
//! group; one worker is killed halfway and its entries are taken over by the others.
//!
//! ```text
//! cargo run -p backflow-redis --example redis_workers -- [workers] [entries]
//! ```
//!
//! Uses `REDIS_URL` when set, else starts a private `redis-server` on a unix socket in a
//! temporary directory (and stops it at the end). Each worker runs
//! `source → map → chunks(50) → sink`: it squares each job, groups 50 results into one entry of
//! the `results` stream, and acknowledges the 50 jobs once that entry is written.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backflow_redis::{
    ClaimConfig, Delivery, RedisStreamSink, RedisStreamSource, RedisUrl, SinkConfig, SourceConfig,
};

const CHUNK: usize = 50;

fn main() {
    match std::env::var("ROLE").as_deref() {
        Ok("producer") => return producer(),
        Ok("worker") => return worker(),
        _ => {}
    }
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let workers = args.first().copied().unwrap_or(3).max(2) as usize;
    let entries = args.get(1).copied().unwrap_or(100_000);
    let (url, _server) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = PrivateServer::start();
            (format!("redis+unix://{}", server.socket), Some(server))
        }
    };
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL");
    let mut con = client.get_connection().expect("connect");
    let _: () = redis::cmd("DEL")
        .arg("jobs")
        .arg("results")
        .arg("jobs:dead")
        .query(&mut con)
        .unwrap();
    println!("{workers} workers, {entries} entries");

    let spawn = |role: &str, name: &str| -> Child {
        Command::new(std::env::current_exe().unwrap())
            .env("ROLE", role)
            .env("NAME", name)
            .env("URL", &url)
            .env("ENTRIES", entries.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let started = Instant::now();
    let mut producer = spawn("producer", "producer");
    let mut children: Vec<Child> = (0..workers)
        .map(|i| spawn("worker", &format!("w{i}")))
        .collect();

    let results_len = |con: &mut redis::Connection| -> u64 {
        redis::cmd("XLEN").arg("results").query(con).unwrap_or(0)
    };
    let half = entries / 2 / CHUNK as u64;
    while results_len(&mut con) < half {
        std::thread::sleep(Duration::from_millis(20));
        assert!(started.elapsed() < Duration::from_secs(600), "no progress");
    }
    children[0].kill().unwrap(); // SIGKILL, halfway
    children[0].wait().unwrap();
    let orphans: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg("jobs")
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .arg("w0")
        .query(&mut con)
        .unwrap();
    println!(
        "killed w0 halfway: it held {} un-acknowledged entries",
        orphans.len()
    );
    producer.wait().unwrap();
    for child in &mut children[1..] {
        child.wait().unwrap();
    }

    // End-to-end totals from the results stream.
    let mut covered: HashMap<String, u32> = HashMap::new();
    let mut per_worker: HashMap<String, u64> = HashMap::new();
    let mut start = "-".to_string();
    loop {
        let page: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg("results")
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)
            .unwrap();
        for (_, fields) in &page {
            let get = |k: &str| {
                let i = fields.iter().position(|f| f == k).unwrap();
                fields[i + 1].clone()
            };
            let ids = get("ids");
            let n = ids.split(',').count() as u64;
            *per_worker.entry(get("worker")).or_default() += n;
            for id in ids.split(',') {
                *covered.entry(id.to_string()).or_default() += 1;
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == 1000 => start = format!("({last}"),
            _ => break,
        }
    }
    let mut per_worker: Vec<_> = per_worker.into_iter().collect();
    per_worker.sort();
    for (w, n) in &per_worker {
        println!("  {w}: {n} entries in results");
    }
    let pending: (u64,) = redis::cmd("XPENDING")
        .arg("jobs")
        .arg("workers")
        .query::<redis::Value>(&mut con)
        .ok()
        .and_then(|v| match v {
            redis::Value::Array(a) => match a.first() {
                Some(redis::Value::Int(n)) => Some((*n as u64,)),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or((0,));
    let held_by_w0: std::collections::HashSet<&str> =
        orphans.iter().map(|(id, ..)| id.as_str()).collect();
    let twice: Vec<&String> = covered
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    let unexplained = twice
        .iter()
        .filter(|id| !held_by_w0.contains(id.as_str()))
        .count();
    println!(
        "total: {} of {entries} entries processed, {} processed twice ({unexplained} of them not \
         among w0's un-acknowledged entries), {} still pending, {:.1} s",
        covered.len(),
        twice.len(),
        pending.0,
        started.elapsed().as_secs_f64()
    );
}

fn url() -> RedisUrl {
    RedisUrl::new(std::env::var("URL").unwrap()).unwrap()
}

fn producer() {
    let entries: u64 = std::env::var("ENTRIES").unwrap().parse().unwrap();
    let sink = RedisStreamSink::new(SinkConfig::new(url(), "jobs"), |x: &u64| [("n", *x)]);
    let report = sink.write(backflow::range(0..entries)).join().unwrap();
    println!("producer: wrote {} entries", report.written);
}

fn worker() {
    let name = std::env::var("NAME").unwrap();
    let claim = ClaimConfig {
        min_idle: Duration::from_secs(1),
        interval: Duration::from_millis(200),
        ..ClaimConfig::default()
    };
    let cfg = SourceConfig::new(url(), "jobs", "workers", name.as_str())
        .max_batch(128)
        .block(Duration::from_millis(200))
        .claim(claim)
        .complete_when_idle(Duration::from_secs(2));
    let source = RedisStreamSource::new(cfg, |e| e.parse::<u64>("n"));
    let metrics = source.metrics();
    let me = name.clone();
    let sink = RedisStreamSink::new(
        SinkConfig::new(url(), "results").max_batch(4),
        move |chunk: &Vec<Delivery<u64>>| {
            let ids: Vec<&str> = chunk.iter().map(|d| d.id()).collect();
            let sum: u64 = chunk.iter().map(|d| **d).sum();
            vec![
                ("ids", ids.join(",")),
                ("sum", sum.to_string()),
                ("worker", me.clone()),
            ]
        },
    )
    // A job is acknowledged only once its result is in the results stream.
    .after_write(|chunks: Vec<Vec<Delivery<u64>>>| {
        chunks.into_iter().flatten().for_each(Delivery::ack)
    });
    let pipeline = source
        .flux()
        .map(|job| job.map(|n| n.wrapping_mul(n)))
        .chunks(CHUNK);
    let report = sink.write(pipeline).join().unwrap();
    // Let the acknowledger send the last batch of XACKs before the process exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.snapshot().pending > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let m = metrics.snapshot();
    println!(
        "{name}: {} entries fetched, {} acked, {} reclaimed, {} dead-lettered, {} result batches",
        m.fetched, m.acked, m.reclaimed, m.dead_lettered, report.written
    );
}

/// A `redis-server` on a unix socket in a temporary directory, killed (by its PID) on drop.
struct PrivateServer {
    child: Child,
    dir: std::path::PathBuf,
    socket: String,
}

impl PrivateServer {
    fn start() -> PrivateServer {
        let dir = std::env::temp_dir().join(format!("redis-workers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("redis.sock").display().to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--unixsocket",
                &socket,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server not found: install it, or set REDIS_URL");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::path::Path::new(&socket).exists() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        PrivateServer { child, dir, socket }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
