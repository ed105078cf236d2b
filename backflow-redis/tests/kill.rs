//! The kill test: three worker processes share a stream of 100 000 entries; one is killed with
//! SIGKILL mid-run. Every entry is processed, the processed set equals the written set,
//! duplicates are only entries the killed worker had fetched and not acknowledged, and nothing
//! is left pending.
//!
//! The workers are this test binary itself, re-run with `BACKFLOW_REDIS_KILL_WORKER=<name>`.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backflow::prelude::*;
use backflow_redis::{
    ClaimConfig, Delivery, RedisStreamSink, RedisStreamSource, RedisUrl, SinkConfig, SourceConfig,
};
use common::{all_entries, all_ids, eventually, loud, pending, pending_of, RedisServer};

const ENTRIES: u64 = 100_000;
const WORKERS: usize = 3;
const TEST: &str = "three_workers_one_killed_nothing_lost";

#[test]
fn three_workers_one_killed_nothing_lost() {
    if let Ok(name) = std::env::var("BACKFLOW_REDIS_KILL_WORKER") {
        worker(&name);
        std::process::exit(0);
    }
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    // The producer: the sink, from a backflow range.
    let sink = RedisStreamSink::new(SinkConfig::new(server.url(), "jobs"), |x: &u64| {
        vec![("n", *x)]
    });
    assert_eq!(
        sink.write(backflow::range(0..ENTRIES))
            .join()
            .unwrap()
            .written,
        ENTRIES
    );
    let written: HashSet<String> = all_ids(&mut con, "jobs").into_iter().collect();
    assert_eq!(written.len() as u64, ENTRIES);

    let mut workers = Workers(Vec::new());
    for i in 0..WORKERS {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env("BACKFLOW_REDIS_KILL_WORKER", format!("w{i}"))
            .env("BACKFLOW_REDIS_SOCKET", server.socket())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn a worker");
        workers.0.push(child);
    }
    let done_len =
        |con: &mut redis::Connection| -> u64 { redis::cmd("XLEN").arg("done").query(con).unwrap() };
    assert!(
        eventually(Duration::from_secs(240), || done_len(&mut con)
            >= ENTRIES / 3),
        "the workers did not get a third of the way"
    );
    workers.0[0].kill().unwrap(); // SIGKILL, by the child's own PID
    workers.0[0].wait().unwrap();
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut con).unwrap();
    let killed_at_ms = secs * 1000 + micros / 1000;
    // Bytes the worker wrote before it died are still being served; then its pending list is
    // exactly what it fetched and did not acknowledge (min_idle 1 s: nobody has reclaimed yet).
    std::thread::sleep(Duration::from_millis(200));
    let orphans: HashSet<String> = pending_of(&mut con, "jobs", "g", "w0")
        .into_iter()
        .collect();

    let finished = eventually(Duration::from_secs(300), || {
        done_len(&mut con) >= ENTRIES && pending(&mut con, "jobs", "g") == 0 && {
            let ids: HashSet<String> = all_entries(&mut con, "done")
                .into_iter()
                .filter_map(|(_, f)| f.into_iter().find(|(k, _)| k == "id").map(|(_, v)| v))
                .collect();
            ids.len() as u64 == ENTRIES
        }
    });
    let _: () = redis::cmd("SET")
        .arg("stop")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert!(finished, "not everything was processed within the limit");

    let mut times: HashMap<String, usize> = HashMap::new();
    let mut last_reclaimed_ms = 0u64;
    for (done_id, fields) in all_entries(&mut con, "done") {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let (id, by) = (get("id"), get("w"));
        if orphans.contains(&id) && by != "w0" {
            let ms: u64 = done_id.split('-').next().unwrap().parse().unwrap();
            last_reclaimed_ms = last_reclaimed_ms.max(ms);
        }
        *times.entry(id).or_default() += 1;
    }
    let processed: HashSet<String> = times.keys().cloned().collect();
    assert_eq!(processed, written, "the processed set is the written set");
    let duplicates: Vec<&String> = times
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    let stray: Vec<&&String> = duplicates
        .iter()
        .filter(|id| !orphans.contains(**id))
        .collect();
    assert!(
        stray.is_empty(),
        "duplicates outside the killed worker's un-acked entries: {stray:?}"
    );
    assert!(
        times.values().all(|n| *n <= 2),
        "an entry was processed more than twice"
    );
    assert_eq!(
        pending(&mut con, "jobs", "g"),
        0,
        "nothing pending at the end"
    );
    let mut per_worker: HashMap<String, u64> = HashMap::new();
    for (_, fields) in all_entries(&mut con, "done") {
        let by = fields.into_iter().find(|(k, _)| k == "w").unwrap().1;
        *per_worker.entry(by).or_default() += 1;
    }
    let mut per_worker: Vec<_> = per_worker.into_iter().collect();
    per_worker.sort();
    loud(&format!(
        "\nkill test: {ENTRIES} entries, {WORKERS} workers, w0 killed with {} entries fetched and \
         un-acked; {} duplicates (all among those); per worker {per_worker:?}; kill -> last reclaimed \
         entry processed: {} ms\n",
        orphans.len(),
        duplicates.len(),
        last_reclaimed_ms.saturating_sub(killed_at_ms)
    ));
    for w in &mut workers.0[1..] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while w.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Kills any worker still running when the test ends (each by its own PID).
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.0 {
            if w.try_wait().ok().flatten().is_none() {
                let _ = w.kill();
                let _ = w.wait();
            }
        }
    }
}

/// One worker: processes entries (a few µs of work each), records each processed ID in the
/// `done` stream, then acknowledges it. Stops when the `stop` key appears.
fn worker(name: &str) {
    let socket = std::env::var("BACKFLOW_REDIS_SOCKET").unwrap();
    let url = RedisUrl::unix(&socket).unwrap();
    let claim = ClaimConfig {
        min_idle: Duration::from_secs(1),
        interval: Duration::from_millis(100),
        refresh: Some(Duration::from_millis(100)),
        ..ClaimConfig::default()
    };
    let cfg = SourceConfig::new(url.clone(), "jobs", "g", name)
        .max_batch(64)
        .block(Duration::from_millis(100))
        .claim(claim);
    let source = RedisStreamSource::new(cfg, |e| e.parse::<u64>("n"));
    let client = redis::Client::open(format!("redis+unix://{socket}")).unwrap();
    let mut watch = client.get_connection().unwrap();
    let stopped = Arc::new(AtomicBool::new(false));
    source.subscribe(Worker {
        name: name.to_string(),
        sub: None,
        left: 0,
        conn: client.get_connection().unwrap(),
    });
    while !stopped.load(Ordering::Relaxed) {
        let stop: bool = redis::cmd("EXISTS")
            .arg("stop")
            .query(&mut watch)
            .unwrap_or(false);
        if stop {
            stopped.store(true, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Everything is acknowledged by now (the parent checked); give the acknowledger a moment.
    std::thread::sleep(Duration::from_millis(200));
}

struct Worker {
    name: String,
    sub: Option<SharedSubscription>,
    left: u64,
    conn: redis::Connection,
}

const BATCH: u64 = 64;

impl Subscriber<Delivery<u64>> for Worker {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(BATCH);
        self.left = BATCH;
        self.sub = Some(s);
    }
    fn on_next(&mut self, d: Delivery<u64>) {
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_micros(3) {
            std::hint::spin_loop();
        }
        let _: String = redis::cmd("XADD")
            .arg("done")
            .arg("*")
            .arg("id")
            .arg(d.id())
            .arg("w")
            .arg(&self.name)
            .query(&mut self.conn)
            .expect("record a processed entry");
        d.ack();
        self.left -= 1;
        if self.left == 0 {
            self.left = BATCH;
            self.sub.as_ref().unwrap().request(BATCH);
        }
    }
    fn on_error(&mut self, e: Error) {
        panic!("worker {}: {e}", self.name);
    }
    fn on_complete(&mut self) {}
}
