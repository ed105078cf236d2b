//! The connector against a real `redis-server` started by the test (see `common`).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backflow::prelude::*;
use backflow_redis::{
    ClaimConfig, Delivery, RedisStreamSink, RedisStreamSource, RedisUrl, SinkConfig, SourceConfig,
};
use common::{all_entries, all_ids, calls, eventually, fill, pending, pending_of, RedisServer};

/// Generous limits: the machine is shared by many builds.
const LONG: Duration = Duration::from_secs(60);

fn source(server: &RedisServer, stream: &str, consumer: &str) -> SourceConfig {
    SourceConfig::new(server.url(), stream, "g", consumer)
        .block(Duration::from_millis(100))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
}

fn ack_value(d: Delivery<u64>) -> u64 {
    let v = *d;
    d.ack();
    v
}

fn n_source(cfg: SourceConfig) -> RedisStreamSource<u64> {
    RedisStreamSource::new(cfg, |e| e.parse::<u64>("n"))
}

/// A subscriber that requests `batch` at a time and hands each delivery to `f`.
struct Batches<T, F> {
    batch: u64,
    left: u64,
    sub: Option<SharedSubscription>,
    f: F,
    _t: std::marker::PhantomData<fn(T)>,
}

fn batches<T, F: FnMut(Delivery<T>, &SharedSubscription) + Send>(
    batch: u64,
    f: F,
) -> Batches<T, F> {
    Batches {
        batch,
        left: 0,
        sub: None,
        f,
        _t: std::marker::PhantomData,
    }
}

impl<T, F: FnMut(Delivery<T>, &SharedSubscription) + Send> Subscriber<Delivery<T>>
    for Batches<T, F>
{
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.left = self.batch;
        s.request(self.batch);
        self.sub = Some(s);
    }
    fn on_next(&mut self, d: Delivery<T>) {
        let sub = self.sub.clone().unwrap();
        (self.f)(d, &sub);
        self.left -= 1;
        if self.left == 0 {
            self.left = self.batch;
            sub.request(self.batch);
        }
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error: {e}");
    }
    fn on_complete(&mut self) {}
}

#[test]
fn consumes_everything_and_acks_in_batches() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 2_000);
    let src = n_source(source(&server, "s", "c1").max_batch(100));
    let metrics = src.metrics();
    let seen = src
        .clone()
        .flux()
        .take(2_000)
        .map(ack_value)
        .collect()
        .unwrap();
    assert_eq!(seen, (1..=2_000).collect::<Vec<_>>());
    assert!(
        eventually(LONG, || pending(&mut con, "s", "g") == 0),
        "acks reached the server"
    );
    let snap = metrics.snapshot();
    assert_eq!((snap.fetched, snap.acked), (2_000, 2_000));
    assert!(snap.max_fetch <= 100, "COUNT capped by max_batch: {snap:?}");
    // The generic stage families come from backflow's own registry.
    let registry = backflow::metrics::Registry::new();
    registry.register(metrics.stage());
    let generic = registry.prometheus();
    assert!(
        generic.contains(r#"backflow_received_total{stage="redis-source:s/g/c1"} 2000"#),
        "{generic}"
    );
    assert!(
        generic.contains(r#"backflow_emitted_total{stage="redis-source:s/g/c1"} 2000"#),
        "{generic}"
    );
    let xacks = calls(&mut con, "xack");
    assert!(
        xacks <= 2_000 / 10,
        "acks are batched, not one round trip per item: {xacks} XACKs"
    );
    assert!(metrics.prometheus().contains(
        "backflow_redis_acked_total{role=\"source\",stream=\"s\",group=\"g\",consumer=\"c1\"} 2000"
    ));
}

#[test]
fn no_demand_means_no_read_and_a_fetch_never_exceeds_demand() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 100);
    let src = n_source(source(&server, "s", "c1"));
    let (sub, probe) = TestSubscriber::<Delivery<u64>>::new(0);
    src.subscribe(sub);
    probe.await_subscribed(LONG).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(calls(&mut con, "xreadgroup"), 0, "no demand, no read");
    assert_eq!(src.metrics().snapshot().fetched, 0);
    probe.request(3);
    probe.await_values(3, LONG).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let snap = src.metrics().snapshot();
    assert_eq!(snap.fetched, 3, "{snap:?}");
    assert!(snap.max_fetch <= 3);
    assert_eq!(probe.next_count(), 3);
    assert_eq!(
        pending(&mut con, "s", "g"),
        3,
        "held deliveries stay pending"
    );
    probe.cancel();
    probe.assert_protocol();
}

#[test]
fn a_restarted_consumer_reads_its_own_pending_history_first() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 20);
    let src = n_source(source(&server, "s", "c1"));
    let (sub, probe) = TestSubscriber::<Delivery<u64>>::new(5);
    src.subscribe(sub);
    probe.await_values(5, LONG).unwrap();
    probe.cancel();
    let first: Vec<String> = probe.with_values(|v| v.iter().map(|d| d.id().to_string()).collect());
    drop(probe); // the deliveries drop un-acked: they stay pending under c1
    assert!(eventually(LONG, || pending_of(&mut con, "s", "g", "c1")
        .len()
        == 5));
    let again = n_source(source(&server, "s", "c1"));
    let redelivered = again
        .flux()
        .take(8)
        .map(|d| {
            let seen = (d.id().to_string(), d.deliveries());
            d.ack();
            seen
        })
        .collect()
        .unwrap();
    let history: Vec<String> = redelivered[..5].iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(history, first, "pending history comes before new entries");
    assert!(
        redelivered[..5].iter().all(|(_, n)| *n == 2),
        "{redelivered:?}"
    );
    assert!(
        redelivered[5..].iter().all(|(_, n)| *n == 1),
        "{redelivered:?}"
    );
}

#[test]
fn entries_of_a_dead_consumer_are_reclaimed() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 10);
    let _: redis::Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("s")
        .arg("g")
        .arg("0")
        .query(&mut con)
        .unwrap();
    // "dead" reads all ten and never acknowledges.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("dead")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg("s")
        .arg(">")
        .query(&mut con)
        .unwrap();
    let claim = ClaimConfig {
        min_idle: Duration::from_millis(300),
        interval: Duration::from_millis(50),
        ..ClaimConfig::default()
    };
    let src = n_source(source(&server, "s", "alive").claim(claim));
    let metrics = src.metrics();
    let mut got = src.flux().take(10).map(ack_value).collect().unwrap();
    got.sort();
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
    assert_eq!(metrics.snapshot().reclaimed, 10);
    assert!(eventually(LONG, || pending(&mut con, "s", "g") == 0));
}

/// The strategy chosen against stealing: a worker refreshes the IDs it holds (`XCLAIM … 0 …
/// JUSTID` every `refresh`), so another consumer's `XAUTOCLAIM` with `min_idle` passes them over
/// however slow the handler is; once the worker lets go (nack), they are reclaimed.
#[test]
fn a_slow_live_worker_keeps_its_entries_until_it_lets_go() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 5);
    // min_idle is 20 refresh periods: a loaded machine may delay a refresh, not twenty.
    let claim = ClaimConfig {
        min_idle: Duration::from_millis(1_000),
        interval: Duration::from_millis(50),
        refresh: Some(Duration::from_millis(50)),
        ..ClaimConfig::default()
    };
    let slow = n_source(source(&server, "s", "slow").claim(claim.clone()));
    let (sub, held) = TestSubscriber::<Delivery<u64>>::new(5);
    slow.subscribe(sub);
    held.await_values(5, LONG).unwrap();

    let thief = n_source(source(&server, "s", "thief").claim(claim));
    let thief_metrics = thief.metrics();
    let (sub, stolen) = TestSubscriber::<Delivery<u64>>::new(100);
    thief.subscribe(sub);
    // Three times min_idle: without the refresh every entry would have been reclaimed by now.
    std::thread::sleep(Duration::from_millis(3_000));
    assert_eq!(
        stolen.next_count(),
        0,
        "a live worker's entries were stolen"
    );
    assert_eq!(thief_metrics.snapshot().reclaimed, 0);
    assert_eq!(pending_of(&mut con, "s", "g", "slow").len(), 5);

    // The slow worker gives them back: now they are the thief's after min_idle.
    held.cancel();
    drop(held);
    stolen.await_values(5, LONG).unwrap();
    assert_eq!(thief_metrics.snapshot().reclaimed, 5);
    stolen.with_values(|v| {
        assert!(v.iter().all(|d| d.deliveries() == 2));
    });
    stolen.cancel();
}

#[test]
fn entries_deleted_while_pending_are_acknowledged_as_gone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 3);
    let src = n_source(source(&server, "s", "c1"));
    let (sub, probe) = TestSubscriber::<Delivery<u64>>::new(3);
    src.subscribe(sub);
    probe.await_values(3, LONG).unwrap();
    let middle = probe.with_values(|v| v[1].id().to_string());
    probe.cancel();
    drop(probe);
    let _: i64 = redis::cmd("XDEL")
        .arg("s")
        .arg(&middle)
        .query(&mut con)
        .unwrap();
    let again = n_source(source(&server, "s", "c1"));
    let metrics = again.metrics();
    let got = again.flux().take(2).map(ack_value).collect().unwrap();
    assert_eq!(got, vec![1, 3]);
    assert_eq!(metrics.snapshot().deleted, 1);
    assert!(eventually(LONG, || pending(&mut con, "s", "g") == 0));
}

#[test]
fn a_malformed_entry_goes_to_the_dead_letter_stream_with_the_reason() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    let bad: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("other")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let bad_number: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("n")
        .arg("seven")
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("n")
        .arg("7")
        .query(&mut con)
        .unwrap();
    let src = n_source(source(&server, "s", "c1"));
    let metrics = src.metrics();
    let got = src.flux().take(1).map(ack_value).collect().unwrap();
    assert_eq!(got, vec![7]);
    assert!(eventually(LONG, || pending(&mut con, "s", "g") == 0));
    let dead = all_entries(&mut con, "s:dead");
    assert_eq!(dead.len(), 2, "{dead:?}");
    let field = |e: &(String, Vec<(String, String)>), k: &str| {
        e.1.iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field(&dead[0], "dlq-source-id"), bad);
    assert!(
        field(&dead[0], "dlq-reason").contains("\"n\" missing"),
        "{dead:?}"
    );
    assert_eq!(
        field(&dead[0], "other"),
        "x",
        "the original fields travel along"
    );
    assert_eq!(field(&dead[1], "dlq-source-id"), bad_number);
    assert!(
        field(&dead[1], "dlq-reason").starts_with("decode: field \"n\""),
        "{dead:?}"
    );
    assert_eq!(metrics.snapshot().dead_lettered, 2);
}

#[test]
fn a_poison_entry_is_dead_lettered_after_max_deliveries() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    let id: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("n")
        .arg("13")
        .query(&mut con)
        .unwrap();
    let claim = ClaimConfig {
        min_idle: Duration::from_millis(150),
        interval: Duration::from_millis(30),
        ..ClaimConfig::default()
    };
    let src = n_source(source(&server, "s", "c1").claim(claim).max_deliveries(3));
    let metrics = src.metrics();
    let attempts = Arc::new(AtomicU64::new(0));
    let a = attempts.clone();
    let failing = batches(1, move |d: Delivery<u64>, _| {
        a.fetch_add(1, Ordering::Relaxed);
        d.nack(); // the handler always fails
    });
    src.subscribe(failing);
    assert!(
        eventually(LONG, || metrics.snapshot().dead_lettered == 1),
        "{:?}",
        metrics.snapshot()
    );
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        3,
        "delivered exactly max_deliveries times"
    );
    let dead = all_entries(&mut con, "s:dead");
    assert_eq!(dead.len(), 1);
    let reason = dead[0]
        .1
        .iter()
        .find(|(k, _)| k == "dlq-reason")
        .unwrap()
        .1
        .clone();
    assert!(reason.contains("after 3 deliveries"), "{reason}");
    assert!(dead[0].1.contains(&("dlq-source-id".into(), id)));
    assert!(eventually(LONG, || pending(&mut con, "s", "g") == 0));
}

#[test]
fn cancel_stops_reading_promptly_and_leaves_unacked_entries_pending() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 100);
    let src = n_source(source(&server, "s", "c1"));
    let (sub, probe) = TestSubscriber::<Delivery<u64>>::new(10);
    src.subscribe(sub);
    probe.await_values(10, LONG).unwrap();
    probe.cancel();
    std::thread::sleep(Duration::from_millis(2_000)); // > block (100 ms) + scheduling slack
    let before = calls(&mut con, "xreadgroup") + calls(&mut con, "xautoclaim");
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(
        calls(&mut con, "xreadgroup") + calls(&mut con, "xautoclaim"),
        before,
        "reads stopped"
    );
    drop(probe);
    assert_eq!(pending_of(&mut con, "s", "g", "c1").len(), 10);
    assert!(probe_free(&src));
}

fn probe_free(src: &RedisStreamSource<u64>) -> bool {
    src.metrics().snapshot().acked == 0
}

#[test]
fn credentials_stay_out_of_errors_and_debug_output() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    let _: redis::Value = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("worker")
        .arg("on")
        .arg(">right-pass")
        .arg("~*")
        .arg("+@all")
        .query(&mut con)
        .unwrap();
    fill(&mut con, "s", 1);
    let sock = server.socket().display().to_string();
    let wrong = RedisUrl::new(format!("redis+unix://{sock}?user=worker&pass=wrong-pass")).unwrap();
    let cfg = SourceConfig::new(wrong, "s", "g", "c1");
    assert!(!format!("{cfg:?}").contains("wrong-pass"));
    let (sub, probe) = TestSubscriber::<Delivery<u64>>::new(1);
    n_source(cfg).subscribe(sub);
    let e = probe.await_error(LONG).unwrap();
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("wrong-pass") && !text.contains("worker"),
        "{text}"
    );
    assert!(text.contains("***"), "{text}");

    let right = RedisUrl::new(format!("redis+unix://{sock}?user=worker&pass=right-pass")).unwrap();
    let got = n_source(SourceConfig::new(right, "s", "g", "c1"))
        .flux()
        .take(1)
        .map(ack_value)
        .collect()
        .unwrap();
    assert_eq!(got, vec![1]);
}

/// A million entries behind, a consumer that asks for ten at a time holds at most ten.
#[test]
fn a_slow_consumer_holds_at_most_its_demand_whatever_the_backlog() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 1_000_000);
    let src = n_source(source(&server, "s", "c1").max_batch(10));
    let metrics = src.metrics();
    let seen = Arc::new(AtomicU64::new(0));
    let worst = Arc::new(AtomicU64::new(0));
    let (s2, w2, m2) = (seen.clone(), worst.clone(), metrics.clone());
    src.subscribe(batches(10, move |d: Delivery<u64>, sub| {
        let n = s2.fetch_add(1, Ordering::Relaxed) + 1;
        // Everything fetched so far beyond what was handed over is what the source holds.
        let held = m2.snapshot().fetched.saturating_sub(n - 1);
        w2.fetch_max(held, Ordering::Relaxed);
        d.ack();
        if n == 5_000 {
            sub.cancel();
        }
    }));
    assert!(eventually(Duration::from_secs(120), || seen
        .load(Ordering::Relaxed)
        >= 5_000));
    let snap = metrics.snapshot();
    assert!(snap.max_fetch <= 10, "{snap:?}");
    assert!(
        worst.load(Ordering::Relaxed) <= 10,
        "held {} entries",
        worst.load(Ordering::Relaxed)
    );
    assert!(snap.fetched <= 5_000 + 10, "{snap:?}");
    assert!(eventually(LONG, || pending(&mut con, "s", "g") == 0));
    let len: u64 = redis::cmd("XLEN").arg("s").query(&mut con).unwrap();
    assert_eq!(len, 1_000_000);
}

#[test]
fn the_consumer_reconnects_after_a_server_restart_and_loses_nothing() {
    let Some(mut server) = RedisServer::start_with(true) else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 3_000);
    let written: BTreeSet<String> = all_ids(&mut con, "s").into_iter().collect();
    drop(con);
    let src = n_source(source(&server, "s", "c1").max_batch(50));
    let metrics = src.metrics();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let s2 = seen.clone();
    src.subscribe(batches(50, move |d: Delivery<u64>, _| {
        std::thread::sleep(Duration::from_micros(200));
        s2.lock().unwrap().insert(d.id().to_string());
        d.ack();
    }));
    assert!(eventually(LONG, || seen.lock().unwrap().len() >= 1_000));
    server.restart();
    assert!(
        eventually(Duration::from_secs(120), || seen.lock().unwrap().len()
            == written.len()),
        "seen {} of {}",
        seen.lock().unwrap().len(),
        written.len()
    );
    let mut con = server.connection();
    assert!(eventually(LONG, || pending(&mut con, "s", "g") == 0));
    let seen: BTreeSet<String> = seen.lock().unwrap().iter().cloned().collect();
    assert_eq!(seen, written);
    assert!(
        metrics.snapshot().reconnects >= 1,
        "{:?}",
        metrics.snapshot()
    );
}

#[test]
fn the_sink_writes_everything_in_pipelined_batches() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    let sink = RedisStreamSink::new(
        SinkConfig::new(server.url(), "out").max_batch(100),
        |x: &u64| vec![("n", *x)],
    );
    let metrics = sink.metrics();
    let report = sink.write(backflow::range(0..10_000u64)).join().unwrap();
    assert_eq!(report.written, 10_000);
    let entries = all_entries(&mut con, "out");
    let values: Vec<u64> = entries
        .iter()
        .map(|(_, f)| f[0].1.parse().unwrap())
        .collect();
    assert_eq!(values, (0..10_000).collect::<Vec<_>>());
    let snap = metrics.snapshot();
    assert_eq!(snap.written, 10_000);
    assert!(
        snap.round_trips >= 100 && snap.round_trips <= 200,
        "{snap:?}"
    );
}

/// The encoder may return any `IntoIterator` of pairs: an array (no allocation per item) with
/// several fields of mixed types, written in order.
#[test]
fn the_sink_takes_an_array_of_fields_from_its_encoder() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    let sink = RedisStreamSink::new(
        SinkConfig::new(server.url(), "out").max_batch(64),
        |x: &u64| [("n", x.to_string()), ("double", (x * 2).to_string())],
    );
    let report = sink.write(backflow::range(0..500u64)).join().unwrap();
    assert_eq!(report.written, 500);
    let entries = all_entries(&mut con, "out");
    assert_eq!(entries.len(), 500);
    for (i, (_, fields)) in entries.iter().enumerate() {
        let expected = vec![
            ("n".to_string(), i.to_string()),
            ("double".to_string(), (2 * i).to_string()),
        ];
        assert_eq!(fields, &expected);
    }
}

#[test]
fn the_sink_requests_only_what_it_has_room_for() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let produced = Arc::new(AtomicU64::new(0));
    let worst = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let (p, w, wr) = (produced.clone(), worst.clone(), written.clone());
    let upstream = backflow::range(0..u64::MAX).inspect(move |_| {
        p.fetch_add(1, Ordering::Relaxed);
    });
    let sink = RedisStreamSink::new(
        SinkConfig::new(server.url(), "out")
            .max_batch(10)
            .batches_in_flight(2),
        |x: &u64| vec![("n", *x)],
    )
    .after_write(move |batch: Vec<u64>| {
        let total = wr.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
        w.fetch_max(produced.load(Ordering::Relaxed) - total, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(5)); // a slow Redis
    });
    let handle = sink.write(upstream);
    assert!(eventually(LONG, || written.load(Ordering::Relaxed) >= 300));
    handle.cancel();
    handle.join().unwrap();
    assert!(
        worst.load(Ordering::Relaxed) <= 20,
        "held {} items",
        worst.load(Ordering::Relaxed)
    );
}

#[test]
fn the_sink_fails_on_an_error_reply_and_hands_over_what_was_written() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    // The key holds a string: every XADD is refused with WRONGTYPE.
    let _: () = redis::cmd("SET")
        .arg("not-a-stream")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let handed = Arc::new(AtomicU64::new(0));
    let h = handed.clone();
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let sink = RedisStreamSink::new(
        SinkConfig::new(server.url(), "not-a-stream").max_batch(10),
        |x: &u64| vec![("n", *x)],
    )
    .after_write(move |batch: Vec<u64>| {
        h.fetch_add(batch.len() as u64, Ordering::Relaxed);
    });
    let err = sink
        .write(backflow::range(0..1_000u64).do_on_cancel(move || c.store(true, Ordering::Relaxed)))
        .join()
        .unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    assert!(cancelled.load(Ordering::Relaxed), "upstream cancelled");
    assert_eq!(handed.load(Ordering::Relaxed), 0, "nothing was written");

    // A good stream: every batch the server accepted reaches after_write, in order, before join.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let sink = RedisStreamSink::new(
        SinkConfig::new(server.url(), "good").max_batch(7),
        |x: &u64| vec![("n", *x)],
    )
    .after_write(move |batch: Vec<u64>| s.lock().unwrap().extend(batch));
    assert_eq!(
        sink.write(backflow::range(0..1_000u64))
            .join()
            .unwrap()
            .written,
        1_000
    );
    assert_eq!(*seen.lock().unwrap(), (0..1_000).collect::<Vec<_>>());
}

#[test]
fn the_sink_trims_with_maxlen() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    let sink = RedisStreamSink::new(
        SinkConfig::new(server.url(), "out").maxlen_approx(100),
        |x: &u64| vec![("n", x.to_string())],
    );
    assert_eq!(
        sink.write(backflow::range(0..5_000u64))
            .join()
            .unwrap()
            .written,
        5_000
    );
    let len: u64 = redis::cmd("XLEN").arg("out").query(&mut con).unwrap();
    assert!((100..5_000).contains(&len), "XLEN {len}");
}

#[test]
fn source_to_sink_through_a_pipeline_acks_after_the_write() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "in", 1_000);
    let src = n_source(source(&server, "in", "c1"));
    let sink = RedisStreamSink::new(SinkConfig::new(server.url(), "out"), |d: &Delivery<u64>| {
        vec![("double", **d * 2)]
    })
    .after_write(|written: Vec<Delivery<u64>>| written.into_iter().for_each(Delivery::ack));
    let started = Instant::now();
    sink.write(src.flux().take(1_000)).join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(120));
    let out: Vec<u64> = all_entries(&mut con, "out")
        .iter()
        .map(|(_, f)| f[0].1.parse().unwrap())
        .collect();
    assert_eq!(out, (1..=1_000).map(|x| x * 2).collect::<Vec<_>>());
    assert!(eventually(LONG, || pending(&mut con, "in", "g") == 0));
}

#[test]
fn drain_mode_completes_once_the_group_has_nothing_left() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut con = server.connection();
    fill(&mut con, "s", 500);
    let claim = ClaimConfig {
        min_idle: Duration::from_millis(300),
        interval: Duration::from_millis(50),
        ..ClaimConfig::default()
    };
    let run = |name: &str| {
        let cfg = source(&server, "s", name)
            .claim(claim.clone())
            .complete_when_idle(Duration::from_millis(300));
        let src = n_source(cfg);
        std::thread::spawn(move || src.flux().map(ack_value).collect().unwrap())
    };
    let (a, b) = (run("a"), run("b"));
    let mut all: Vec<u64> = a.join().unwrap();
    all.extend(b.join().unwrap());
    all.sort();
    assert_eq!(
        all,
        (1..=500).collect::<Vec<_>>(),
        "both completed, every entry seen once"
    );
    assert!(eventually(LONG, || pending(&mut con, "s", "g") == 0));
}
