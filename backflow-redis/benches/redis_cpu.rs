//! Client-side CPU per item of the source and the sink against the raw loops of bench `redis`
//! (issue 11), measured as CPU time, not wall-clock: on a loaded or 2-core machine the server
//! shares the cores, so wall-clock ratios say little about what the client itself costs.
//!
//! `cargo bench -p backflow-redis --bench redis_cpu [-- source|raw|sink|raw_xadd|fill] [N]`
//!
//! `source` and `raw` drain N entries (default 200 000, one u64 field `n`) of a fresh stream and
//! group of a private server, acking each. `sink` writes N items of `backflow::range` with
//! `RedisStreamSink` (batches of 100) and `raw_xadd` writes them with pipelines of 100 `XADD`s,
//! each from a thread of its own. The figure printed is the process's CPU time over the run minus
//! the driver thread's own (so only the client's threads count: the source's reader and
//! acknowledger, the sink's caller and writer, the raw loops' one thread), divided by N. With a
//! mode argument only that variant runs, once — handy under `valgrind --tool=callgrind` (`fill`
//! runs no consumer at all, to subtract the driver's own instructions).

#[path = "../tests/common/mod.rs"]
mod common;
mod raw;

use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use backflow::prelude::*;
use backflow_redis::{Delivery, RedisStreamSink, RedisStreamSource, SinkConfig, SourceConfig};
use common::{fill, pending, RedisServer};

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used are constants the kernel knows.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Process CPU minus this thread's CPU: the time of every other thread, live or finished.
fn others_cpu() -> Duration {
    let mine = clock(libc::CLOCK_THREAD_CPUTIME_ID);
    clock(libc::CLOCK_PROCESS_CPUTIME_ID).saturating_sub(mine)
}

/// (user, system) CPU of the process minus this thread's, from `getrusage`.
fn others_split() -> (Duration, Duration) {
    fn usage(who: libc::c_int) -> (Duration, Duration) {
        // SAFETY: all-zero is a valid `rusage`, which `getrusage` then fills in.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage; `who` is RUSAGE_SELF or RUSAGE_THREAD.
        unsafe { libc::getrusage(who, &mut ru) };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        (tv(ru.ru_utime), tv(ru.ru_stime))
    }
    let mine = usage(libc::RUSAGE_THREAD);
    let all = usage(libc::RUSAGE_SELF);
    (all.0.saturating_sub(mine.0), all.1.saturating_sub(mine.1))
}

fn prepare(server: &RedisServer, stream: &str, n: u64) {
    let mut con = server.connection();
    fill(&mut con, stream, n);
    let _: redis::Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("g")
        .arg("0")
        .query(&mut con)
        .unwrap();
}

struct Drain {
    n: u64,
    seen: u64,
    done: Option<mpsc::Sender<()>>,
    sub: Arc<Mutex<Option<SharedSubscription>>>,
}

impl Subscriber<Delivery<u64>> for Drain {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
        *self.sub.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, d: Delivery<u64>) {
        std::hint::black_box(*d);
        d.ack();
        self.seen += 1;
        if self.seen == self.n {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}")
    }
    fn on_complete(&mut self) {}
}

fn run_source(server: &RedisServer, stream: &str, n: u64) {
    let (tx, rx) = mpsc::channel();
    let sub = Arc::new(Mutex::new(None));
    let cfg = SourceConfig::new(server.url(), stream, "g", "c0")
        .max_batch(256)
        .block(Duration::from_millis(20));
    RedisStreamSource::new(cfg, |e| e.parse::<u64>("n")).subscribe(Drain {
        n,
        seen: 0,
        done: Some(tx),
        sub: sub.clone(),
    });
    rx.recv().unwrap();
    let s = sub.lock().unwrap().take();
    if let Some(s) = s {
        s.cancel();
    }
}

fn run_raw(server: &RedisServer, stream: &str, n: u64) {
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| raw::raw_consumer(server, stream, "r0", n, &total));
    });
}

fn run_sink(server: &RedisServer, stream: &str, n: u64) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let sink = RedisStreamSink::new(
                SinkConfig::new(server.url(), stream).max_batch(100),
                |x: &u64| vec![("n", *x)],
            );
            let report = sink.write(backflow::range(0..n)).join().unwrap();
            assert_eq!(report.written, n);
        });
    });
}

fn run_raw_xadd(server: &RedisServer, stream: &str, n: u64) {
    std::thread::scope(|s| {
        s.spawn(|| raw::raw_xadd(server, stream, n));
    });
}

const MODES: [&str; 5] = ["source", "raw", "sink", "raw_xadd", "fill"];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.iter().find(|a| MODES.contains(&a.as_str())).cloned();
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let Some(server) = RedisServer::start() else {
        return;
    };
    // Alternating rounds: a loaded machine disturbs single runs, so min and median are printed.
    let modes: Vec<&str> = match mode.as_deref() {
        Some(m) => vec![m],
        None => ["raw", "source", "raw_xadd", "sink"].repeat(5),
    };
    let mut con = server.connection();
    let mut results: Vec<(&str, f64)> = Vec::new();
    for (round, mode) in modes.into_iter().enumerate() {
        let stream = format!("cpu{round}");
        let writes = matches!(mode, "sink" | "raw_xadd");
        if !writes {
            prepare(&server, &stream, n);
        }
        let before = others_cpu();
        let split = others_split();
        match mode {
            "source" => run_source(&server, &stream, n),
            "raw" => run_raw(&server, &stream, n),
            "sink" => run_sink(&server, &stream, n),
            "raw_xadd" => run_raw_xadd(&server, &stream, n),
            _ => {}
        }
        // The source's last acks are sent by its acknowledger after the last item.
        if mode != "fill" && !writes {
            while pending(&mut con, &stream, "g") != 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Let the source's threads see the cancel and finish.
            std::thread::sleep(Duration::from_millis(100));
        }
        let cpu = others_cpu().saturating_sub(before);
        let after = others_split();
        let per_item = cpu.as_nanos() as f64 / n as f64;
        let (user, sys) = (
            after.0.saturating_sub(split.0),
            after.1.saturating_sub(split.1),
        );
        println!(
            "redis_cpu/{mode}: {per_item:.0} ns client CPU per item ({n} items; user {:.0} ns, system {:.0} ns)",
            user.as_nanos() as f64 / n as f64,
            sys.as_nanos() as f64 / n as f64
        );
        results.push((mode, per_item));
        if writes {
            let len: u64 = redis::cmd("XLEN").arg(&stream).query(&mut con).unwrap();
            assert_eq!(len, n, "{mode} wrote every item");
        }
        let _: i64 = redis::cmd("DEL").arg(&stream).query(&mut con).unwrap();
    }
    for mode in ["raw", "source", "raw_xadd", "sink"] {
        let mut v: Vec<f64> = results
            .iter()
            .filter(|r| r.0 == mode)
            .map(|r| r.1)
            .collect();
        if v.len() < 2 {
            continue;
        }
        v.sort_by(f64::total_cmp);
        println!(
            "redis_cpu/{mode}: min {:.0} ns, median {:.0} ns client CPU per item over {} rounds",
            v[0],
            v[v.len() / 2],
            v.len()
        );
    }
}
