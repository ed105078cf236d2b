//! Group `redis` (issue 11): the connector against hand-written loops over the same `redis`
//! client, same private server (unix socket), same payload (one u64 field `n`).
//!
//! - `source/1` and `source/4`: 1 and 4 consumers of one group drain `ITEMS` entries, acking each
//!   (batched by the acknowledger). `raw_loop/1`, `raw_loop/4`: `XREADGROUP COUNT 256` + one
//!   `XACK` per batch. Target: source ≥ 0.9× raw.
//! - `sink`: `RedisStreamSink` (batches of 100) from `backflow::range`; `raw_xadd`: pipelines of
//!   100 `XADD`s per round trip. Target: sink ≥ 0.9× raw.
//!
//! On a 2-core machine the server shares the cores with the client, so the bench also prints the
//! client's CPU time per item (process CPU clock, all threads) for each variant.
//!
//! Run the real measurement on a quiet machine: `cargo bench -p backflow-redis --bench redis`.
//! `-- --test` runs each once (a smoke test).

#[path = "../tests/common/mod.rs"]
mod common;
mod raw;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backflow::prelude::*;
use backflow_redis::{Delivery, RedisStreamSink, RedisStreamSource, SinkConfig, SourceConfig};
use common::{eventually, fill, pending, RedisServer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ITEMS: u64 = 20_000;

fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time and items per variant, printed after the group.
static CPU: Mutex<Vec<(String, Duration, u64)>> = Mutex::new(Vec::new());

fn record_cpu(name: &str, cpu: Duration, items: u64) {
    let mut all = CPU.lock().unwrap();
    match all.iter_mut().find(|(n, _, _)| n == name) {
        Some(e) => {
            e.1 += cpu;
            e.2 += items;
        }
        None => all.push((name.to_string(), cpu, items)),
    }
}

/// A fresh stream with `ITEMS` entries and a group at its start; returns the stream's name.
fn prepare(server: &RedisServer, round: u64) -> String {
    let mut con = server.connection();
    let stream = format!("s{round}");
    fill(&mut con, &stream, ITEMS);
    let _: redis::Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("g")
        .arg("0")
        .query(&mut con)
        .unwrap();
    stream
}

fn wait_drained(server: &RedisServer, stream: &str) {
    let mut con = server.connection();
    assert!(eventually(Duration::from_secs(120), || pending(
        &mut con, stream, "g"
    ) == 0));
    let _: i64 = redis::cmd("DEL").arg(stream).query(&mut con).unwrap();
}

/// Counts deliveries and acks each; the one that brings the total to ITEMS says so on `done`,
/// and every subscription is then cancelled.
struct Drain {
    total: Arc<AtomicU64>,
    subs: Arc<Mutex<Vec<SharedSubscription>>>,
    done: std::sync::mpsc::Sender<()>,
}

impl Subscriber<Delivery<u64>> for Drain {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
        self.subs.lock().unwrap().push(s);
    }
    fn on_next(&mut self, d: Delivery<u64>) {
        std::hint::black_box(*d);
        d.ack();
        if self.total.fetch_add(1, Ordering::Relaxed) + 1 == ITEMS {
            let _ = self.done.send(());
        }
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}")
    }
    fn on_complete(&mut self) {}
}

fn run_source(server: &RedisServer, stream: &str, consumers: usize) {
    let total = Arc::new(AtomicU64::new(0));
    let subs = Arc::new(Mutex::new(Vec::new()));
    // Woken once, not polled: the driver's own CPU stays out of the source's figure.
    let (done, finished) = std::sync::mpsc::channel();
    for c in 0..consumers {
        let cfg = SourceConfig::new(server.url(), stream, "g", format!("c{c}"))
            .max_batch(256)
            .block(Duration::from_millis(20));
        RedisStreamSource::new(cfg, |e| e.parse::<u64>("n")).subscribe(Drain {
            total: total.clone(),
            subs: subs.clone(),
            done: done.clone(),
        });
    }
    finished.recv().unwrap();
    for s in subs.lock().unwrap().iter() {
        s.cancel();
    }
}

fn run_raw(server: &RedisServer, stream: &str, consumers: usize) {
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        for c in 0..consumers {
            let total = &total;
            s.spawn(move || raw::raw_consumer(server, stream, &format!("r{c}"), ITEMS, total));
        }
    });
}

fn bench_source(c: &mut Criterion) {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let round = AtomicU64::new(0);
    let mut group = c.benchmark_group("redis");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(ITEMS));
    type Run = fn(&RedisServer, &str, usize);
    let variants: [(&str, usize, Run); 4] = [
        ("source/1", 1, run_source),
        ("source/4", 4, run_source),
        ("raw_loop/1", 1, run_raw),
        ("raw_loop/4", 4, run_raw),
    ];
    for (name, consumers, run) in variants {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut wall = Duration::ZERO;
                for _ in 0..iters {
                    let stream = prepare(&server, round.fetch_add(1, Ordering::Relaxed));
                    let (t, cpu) = (Instant::now(), cpu_now());
                    run(&server, &stream, consumers);
                    wait_drained_timed(&server, &stream, &mut wall, t);
                    record_cpu(name, cpu_now() - cpu, ITEMS);
                }
                wall
            })
        });
    }
    for (name, sink) in [("sink", true), ("raw_xadd", false)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut wall = Duration::ZERO;
                for _ in 0..iters {
                    let stream = format!("out{}", round.fetch_add(1, Ordering::Relaxed));
                    let (t, cpu) = (Instant::now(), cpu_now());
                    if sink {
                        let sink = RedisStreamSink::new(
                            SinkConfig::new(server.url(), stream.as_str()).max_batch(100),
                            |x: &u64| vec![("n", *x)],
                        );
                        sink.write(backflow::range(0..ITEMS)).join().unwrap();
                    } else {
                        raw::raw_xadd(&server, &stream, ITEMS);
                    }
                    wall += t.elapsed();
                    record_cpu(name, cpu_now() - cpu, ITEMS);
                    let mut con = server.connection();
                    let len: u64 = redis::cmd("XLEN").arg(&stream).query(&mut con).unwrap();
                    assert_eq!(len, ITEMS);
                    let _: i64 = redis::cmd("DEL").arg(&stream).query(&mut con).unwrap();
                }
                wall
            })
        });
    }
    group.finish();
    for (name, cpu, items) in CPU.lock().unwrap().iter() {
        println!(
            "redis/{name}: client CPU {:.0} ns/item over {items} items",
            cpu.as_nanos() as f64 / *items as f64
        );
    }
}

/// Stops the clock once every ack has reached the server (the raw loop acks synchronously).
fn wait_drained_timed(server: &RedisServer, stream: &str, wall: &mut Duration, started: Instant) {
    let mut con = server.connection();
    while pending(&mut con, stream, "g") != 0 {
        std::thread::sleep(Duration::from_micros(200));
    }
    *wall += started.elapsed();
    wait_drained(server, stream);
}

criterion_group!(benches, bench_source);
criterion_main!(benches);
