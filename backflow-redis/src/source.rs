//! `RedisStreamSource`: a consumer group member as a backflow publisher.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use backflow::demand::Demand;
use backflow::{Error, Flux, Publisher, SharedSubscription, Subscriber, Subscription};
use redis::{Connection, RedisError, Value};

use crate::ack::{self, AckConfig, AckLink, Id};
use crate::conn::{self, Backoff, RawEntry};
use crate::entry::{value_bytes, Delivery, Entry, EntryId, Ticket};
use crate::metrics::RedisMetrics;
use crate::url::RedisUrl;

/// How a source takes over entries that other (dead) consumers left pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimConfig {
    /// An entry pending this long without activity is considered abandoned. Default 30 s.
    pub min_idle: Duration,
    /// How often `XAUTOCLAIM` runs (while there is demand). Default 1 s.
    pub interval: Duration,
    /// The most entries one `XAUTOCLAIM` takes (also capped by demand). Default 100.
    pub count: usize,
    /// How often the IDs still being processed here are refreshed (`XCLAIM … 0 … JUSTID`), so a
    /// slow live worker keeps its entries. Default `min_idle / 4`; always clamped to at most
    /// `min_idle / 2`.
    pub refresh: Option<Duration>,
}

impl Default for ClaimConfig {
    fn default() -> Self {
        ClaimConfig {
            min_idle: Duration::from_secs(30),
            interval: Duration::from_secs(1),
            count: 100,
            refresh: None,
        }
    }
}

impl ClaimConfig {
    fn refresh_every(&self) -> Duration {
        let cap = (self.min_idle / 2).max(Duration::from_millis(1));
        self.refresh
            .unwrap_or(self.min_idle / 4)
            .min(cap)
            .max(Duration::from_millis(1))
    }
}

/// Where poison and malformed entries go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterConfig {
    /// The dead-letter stream. Default `<stream>:dead`.
    pub stream: String,
    /// An entry delivered this many times and still not acknowledged is dead-lettered instead
    /// of being delivered again. Default 5.
    pub max_deliveries: u64,
}

/// The configuration of a [`RedisStreamSource`]. Built with [`SourceConfig::new`] and the
/// builder methods; every duration has a working default.
#[derive(Clone)]
pub struct SourceConfig {
    url: RedisUrl,
    stream: String,
    group: String,
    consumer: String,
    start: String,
    max_batch: usize,
    block: Duration,
    timeout_margin: Duration,
    connect_timeout: Duration,
    claim: ClaimConfig,
    dead_letter: DeadLetterConfig,
    ack_interval: Duration,
    ack_batch: usize,
    backoff: (Duration, Duration),
    complete_when_idle: Option<Duration>,
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceConfig")
            .field("url", &self.url)
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("max_batch", &self.max_batch)
            .field("block", &self.block)
            .field("claim", &self.claim)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

impl SourceConfig {
    /// Consumer `consumer` of group `group` on `stream`. The consumer name must be stable across
    /// restarts of the same worker (its pending entries are found by name on restart).
    pub fn new(
        url: RedisUrl,
        stream: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> SourceConfig {
        let stream = stream.into();
        SourceConfig {
            url,
            dead_letter: DeadLetterConfig {
                stream: format!("{stream}:dead"),
                max_deliveries: 5,
            },
            stream,
            group: group.into(),
            consumer: consumer.into(),
            start: "0".into(),
            max_batch: 256,
            block: Duration::from_millis(500),
            timeout_margin: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            claim: ClaimConfig::default(),
            ack_interval: Duration::from_millis(5),
            ack_batch: 256,
            backoff: (Duration::from_millis(50), Duration::from_secs(2)),
            complete_when_idle: None,
        }
    }

    /// Drain mode, for batch jobs: complete the stream (`on_complete`) once nothing has arrived
    /// for `idle` (and at least `min_idle + claim.interval`), this consumer's pending history is
    /// read, and no other consumer holds entries it stopped refreshing (a dead consumer's entries
    /// are reclaimed first). Deliveries still held downstream can be acknowledged after
    /// completion. Best effort: entries of a consumer that dies in the last `2 × refresh` before
    /// the others complete stay pending for the next run (nothing is lost). Default: never.
    pub fn complete_when_idle(mut self, idle: Duration) -> Self {
        self.complete_when_idle = Some(idle);
        self
    }

    /// The most entries one fetch asks for (also capped by demand). Default 256.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// How long one `XREADGROUP` waits for new entries (`BLOCK`); also bounds how long `cancel`
    /// waits for a read in progress. Default 500 ms.
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.max(Duration::from_millis(1));
        self
    }

    /// How much longer than `block` the socket read timeout is (at least 1 s). Default 5 s.
    pub fn timeout_margin(mut self, margin: Duration) -> Self {
        self.timeout_margin = margin.max(Duration::from_secs(1));
        self
    }

    /// Where a group created by this source starts: `"0"` (the whole stream, default) or `"$"`.
    pub fn start_at(mut self, id: impl Into<String>) -> Self {
        self.start = id.into();
        self
    }

    /// Claim settings.
    pub fn claim(mut self, claim: ClaimConfig) -> Self {
        self.claim = claim;
        self
    }

    /// Dead-letter settings.
    pub fn dead_letter(mut self, dead_letter: DeadLetterConfig) -> Self {
        self.dead_letter = dead_letter;
        self
    }

    /// The dead-letter stream's name (keeping `max_deliveries`).
    pub fn dead_letter_stream(mut self, stream: impl Into<String>) -> Self {
        self.dead_letter.stream = stream.into();
        self
    }

    /// Deliveries after which an un-acknowledged entry is dead-lettered (at least 1).
    pub fn max_deliveries(mut self, n: u64) -> Self {
        self.dead_letter.max_deliveries = n.max(1);
        self
    }

    /// Acknowledgements are sent at least this often (default 5 ms) ... (The reader also sends
    /// whatever is queued in one pipeline with each of its reads, so a subscriber that acks as it
    /// goes has its acks sent with the next fetch, one `XACK` per batch.)
    pub fn ack_interval(mut self, interval: Duration) -> Self {
        self.ack_interval = interval;
        self
    }

    /// ... or as soon as this many are queued (default 256).
    pub fn ack_batch(mut self, n: usize) -> Self {
        self.ack_batch = n.max(1);
        self
    }

    /// Reconnect backoff: first delay and cap (defaults 50 ms, 2 s).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max);
        self
    }

    /// The socket read timeout of the reader: always `block + margin`, longer than `BLOCK`.
    pub fn read_timeout(&self) -> Duration {
        self.block + self.timeout_margin
    }

    /// The stream.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The consumer name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }
}

type Decoder<T> = dyn Fn(&Entry) -> Result<T, String> + Send + Sync;

/// A Redis Streams consumer-group member as a [`Publisher`] of [`Delivery`]s.
///
/// # Demand
///
/// Outstanding demand becomes `XREADGROUP GROUP g c COUNT min(demand, max_batch) BLOCK ms
/// STREAMS s >` on a dedicated reader thread; with no demand nothing is read (and nothing is
/// claimed). Every fetched entry is delivered at once against one credit, or dead-lettered, so the
/// source never holds more entries than were requested, whatever the backlog. The subscriber's
/// own memory is its business: a `Delivery` it keeps is an entry pending in the group.
///
/// # Order of reads
///
/// On start and after every reconnect the consumer first re-reads its own pending history
/// (`XREADGROUP … 0`, skipping entries this process still holds or has acked but not yet sent),
/// then new entries (`>`); every `claim.interval` it runs `XAUTOCLAIM` for entries idle longer
/// than `min_idle`.
///
/// # Signals
///
/// Unicast: each `subscribe` runs its own reader and acknowledger under the configured consumer
/// name, so subscribe once at a time per name. The stream is endless unless
/// [`SourceConfig::complete_when_idle`] is set: it terminates with `on_error` on an
/// unrecoverable server reply (such as `WRONGTYPE` or a failed `AUTH`) or a panic in `on_next`.
/// `cancel` stops reading within `block` and leaves every
/// un-acknowledged entry pending for others.
pub struct RedisStreamSource<T> {
    cfg: Arc<SourceConfig>,
    decoder: Arc<Decoder<T>>,
    metrics: Arc<RedisMetrics>,
}

impl<T> Clone for RedisStreamSource<T> {
    fn clone(&self) -> Self {
        RedisStreamSource {
            cfg: self.cfg.clone(),
            decoder: self.decoder.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<T> fmt::Debug for RedisStreamSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStreamSource")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> RedisStreamSource<T> {
    /// A source whose entries are decoded by `decoder`; an `Err(reason)` (or a panic in it)
    /// dead-letters the entry with that reason.
    pub fn new(
        cfg: SourceConfig,
        decoder: impl Fn(&Entry) -> Result<T, String> + Send + Sync + 'static,
    ) -> Self {
        let metrics = Arc::new(RedisMetrics::new(
            "source",
            &cfg.stream,
            &cfg.group,
            &cfg.consumer,
        ));
        RedisStreamSource {
            cfg: Arc::new(cfg),
            decoder: Arc::new(decoder),
            metrics,
        }
    }

    /// This source's metrics (shared by all its subscriptions).
    pub fn metrics(&self) -> Arc<RedisMetrics> {
        self.metrics.clone()
    }

    /// The source as a [`Flux`], to chain operators.
    pub fn flux(self) -> Flux<Self> {
        Flux::new(self)
    }
}

impl<T: Send + 'static> Publisher for RedisStreamSource<T> {
    type Item = Delivery<T>;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<Delivery<T>> + 'static,
    {
        let control = Arc::new(Control {
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let handle: SharedSubscription = control.clone();
        if let Err(p) = catch(|| subscriber.on_subscribe(handle)) {
            control.cancelled.store(true, Ordering::Release);
            return deliver_error(&mut subscriber, Error::panicked("on_subscribe", p));
        }
        let cfg = &self.cfg;
        let ack_cfg = AckConfig {
            url: cfg.url.clone(),
            stream: cfg.stream.clone(),
            group: cfg.group.clone(),
            consumer: cfg.consumer.clone(),
            interval: cfg.ack_interval,
            batch: cfg.ack_batch,
            refresh: cfg.claim.refresh_every(),
            connect_timeout: cfg.connect_timeout,
            io_timeout: cfg.timeout_margin.max(Duration::from_secs(1)),
            backoff: cfg.backoff,
        };
        let acks = match ack::start(ack_cfg, self.metrics.clone()) {
            Ok(a) => a,
            Err(e) => return deliver_error(&mut subscriber, Error::custom(e)),
        };
        let reader = Reader {
            cfg: self.cfg.clone(),
            decoder: self.decoder.clone(),
            metrics: self.metrics.clone(),
            control,
            acks,
            con: None,
            connected_before: false,
            backoff: Backoff::new(cfg.backoff.0, cfg.backoff.1),
            history: Some("0".into()),
            cursor: "0-0".into(),
            next_claim: Instant::now(),
            last_activity: Instant::now(),
            scratch: Entry::scratch(),
            bufs: Buffers {
                entries: Vec::new(),
                values: Vec::new(),
                slots: Vec::new(),
                ready: Vec::new(),
                acks: Vec::new(),
            },
        };
        // The subscriber moves to the reader thread: on_subscribe above happens-before its first
        // on_next there (thread spawn), and only that thread signals it from now on (rule 1.03).
        let slot = Arc::new(Mutex::new(Some(subscriber)));
        let theirs = slot.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("backflow-redis-read-{}", cfg.consumer))
            .spawn(move || {
                let sub = theirs.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(sub) = sub {
                    reader.run(sub)
                }
            });
        if let Err(e) = spawned {
            if let Some(mut s) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                deliver_error(&mut s, Error::custom(e));
            }
        }
    }
}

fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn std::any::Any + Send>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}

fn deliver_error<T, S: Subscriber<T>>(subscriber: &mut S, e: Error) {
    let _ = catch(|| subscriber.on_error(e));
}

/// The subscription: demand and cancellation, shared with the reader thread.
struct Control {
    demand: Demand,
    cancelled: AtomicBool,
    invalid: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Control {
    fn notify(&self) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.wake.notify_all();
    }

    fn stopped(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

impl Subscription for Control {
    fn request(&self, n: u64) {
        if self.stopped() {
            return;
        }
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
            self.cancelled.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.notify();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.notify();
        }
    }
}

/// Why the reader stopped a step.
enum Stop {
    /// Cancelled (or `request(0)`, answered by the caller).
    Cancelled,
    /// The connection failed: reconnect with backoff, then resume from the pending history.
    Connection,
    /// A terminal error for the subscriber.
    Fatal(Error),
    /// Drain mode found nothing left: complete.
    Drained,
}

struct Reader<T> {
    cfg: Arc<SourceConfig>,
    decoder: Arc<Decoder<T>>,
    metrics: Arc<RedisMetrics>,
    control: Arc<Control>,
    acks: Arc<AckLink>,
    con: Option<Connection>,
    connected_before: bool,
    backoff: Backoff,
    /// `Some(after)` while re-reading this consumer's pending history, from `after`.
    history: Option<String>,
    cursor: String,
    next_claim: Instant,
    last_activity: Instant,
    /// The entry handed to the decoder, its buffers reused for every entry.
    scratch: Entry,
    /// Per-batch buffers, reused: a batch allocates nothing of its own (a fresh ~60 KiB a batch
    /// made the allocator give pages back and fault them in again).
    bufs: Buffers<T>,
}

struct Buffers<T> {
    entries: Vec<RawEntry>,
    values: Vec<(T, Id, u64)>,
    slots: Vec<u32>,
    ready: Vec<Delivery<T>>,
    acks: Vec<Id>,
}

/// Where a batch of entries came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    New,
    History,
    Claimed,
}

impl<T: Send + 'static> Reader<T> {
    fn run<S: Subscriber<Delivery<T>>>(mut self, mut subscriber: S) {
        let end = loop {
            match self.step(&mut subscriber) {
                Ok(()) => {}
                Err(Stop::Cancelled) => break None,
                // An error after the subscriber cancelled (say the read it left blocked was
                // unblocked by a deleted stream) is not signalled (rule 1.08: signals stop).
                Err(Stop::Fatal(_)) if self.control.stopped() => break None,
                Err(Stop::Fatal(e)) => break Some(Err(e)),
                Err(Stop::Drained) => break Some(Ok(())),
                Err(Stop::Connection) => {
                    self.con = None;
                    let delay = self.backoff.next_delay();
                    if !conn::sleep_unless(delay, || self.control.stopped()) {
                        break None;
                    }
                }
            }
        };
        self.control.cancelled.store(true, Ordering::Release);
        if self.control.invalid.load(Ordering::Acquire) {
            deliver_error(&mut subscriber, Error::invalid_demand());
        } else if let Some(Err(e)) = end {
            deliver_error(&mut subscriber, e);
        } else if let Some(Ok(())) = end {
            let _ = catch(|| subscriber.on_complete());
        }
        // Dropping `self.acks` (with the subscriber) lets the acknowledger flush and stop once
        // every outstanding ticket is gone too.
    }

    fn redis_error(&self, what: &str, e: RedisError) -> Stop {
        if conn::is_connection_error(&e) || conn::is_nogroup(&e) {
            Stop::Connection
        } else {
            Stop::Fatal(self.cfg.url.error(what, &e))
        }
    }

    fn wait_demand(&self) -> Result<u64, Stop> {
        let c = &self.control;
        let mut guard = c.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if c.stopped() {
                return Err(Stop::Cancelled);
            }
            let d = c.demand.get();
            if d > 0 {
                return Ok(d);
            }
            guard = c
                .wake
                .wait_timeout(guard, Duration::from_millis(250))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn connect(&mut self) -> Result<(), Stop> {
        let cfg = &self.cfg;
        let opened =
            conn::open(&cfg.url, cfg.connect_timeout, cfg.read_timeout()).and_then(|mut c| {
                conn::create_group(&mut c, &cfg.stream, &cfg.group, &cfg.start).map(|()| c)
            });
        match opened {
            Ok(c) => {
                if self.connected_before {
                    self.metrics.reconnect();
                }
                self.connected_before = true;
                self.backoff.reset();
                self.con = Some(c);
                self.history = Some("0".into());
                Ok(())
            }
            Err(e) => Err(self.redis_error("connect", e)),
        }
    }

    fn step<S: Subscriber<Delivery<T>>>(&mut self, subscriber: &mut S) -> Result<(), Stop> {
        let demand = self.wait_demand()?;
        if self.con.is_none() {
            self.connect()?;
        }
        let count = demand.min(self.cfg.max_batch as u64);
        let cfg = self.cfg.clone();
        let started = Instant::now();
        if let Some(after) = self.history.clone() {
            let reply = self.read(
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(&cfg.group)
                    .arg(&cfg.consumer)
                    .arg("COUNT")
                    .arg(count)
                    .arg("STREAMS")
                    .arg(&cfg.stream)
                    .arg(&after),
                "XREADGROUP (history)",
            )?;
            self.metrics.round_trip(started.elapsed());
            let buf = std::mem::take(&mut self.bufs.entries);
            let entries = self.entries(conn::parse_xreadgroup(reply, buf))?;
            self.metrics.fetched(entries.len() as u64, count);
            match entries.last() {
                None => self.history = None,
                Some(last) => self.history = Some(last.id.as_str().to_owned()),
            }
            return self.handle(subscriber, entries, count, Origin::History);
        }
        if Instant::now() >= self.next_claim {
            let reply = self.read(
                redis::cmd("XAUTOCLAIM")
                    .arg(&cfg.stream)
                    .arg(&cfg.group)
                    .arg(&cfg.consumer)
                    .arg(cfg.claim.min_idle.as_millis() as u64)
                    .arg(&self.cursor)
                    .arg("COUNT")
                    .arg(count.min(cfg.claim.count.max(1) as u64)),
                "XAUTOCLAIM",
            )?;
            self.metrics.round_trip(started.elapsed());
            let (cursor, entries, deleted) = match conn::parse_xautoclaim(reply) {
                Ok(r) => r,
                Err(e) => return Err(Stop::Fatal(Error::msg(e))),
            };
            // Redis 7 removes deleted entries from the pending list itself and names them here.
            self.metrics.deleted(deleted.len() as u64);
            self.next_claim = if cursor == "0-0" {
                Instant::now() + cfg.claim.interval
            } else {
                Instant::now()
            };
            self.cursor = cursor;
            self.metrics.fetched(entries.len() as u64, count);
            return self.handle(subscriber, entries, count, Origin::Claimed);
        }
        let reply = self.read(
            redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&cfg.group)
                .arg(&cfg.consumer)
                .arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(cfg.block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&cfg.stream)
                .arg(">"),
            "XREADGROUP",
        )?;
        let elapsed = started.elapsed();
        let buf = std::mem::take(&mut self.bufs.entries);
        let entries = self.entries(conn::parse_xreadgroup(reply, buf))?;
        self.metrics.fetched(entries.len() as u64, count);
        if entries.is_empty() {
            // An empty reply waited out BLOCK: that is idle time, not a round trip.
            self.check_drained()?;
        } else {
            self.metrics.round_trip(elapsed);
        }
        self.handle(subscriber, entries, count, Origin::New)
    }

    /// In drain mode, after an empty read: `Stop::Drained` once quiet long enough (and at least
    /// `min_idle + claim.interval`, so entries of a consumer that died before the quiet period
    /// would have been reclaimed), no other consumer holds an entry it has stopped refreshing,
    /// and every entry pending under this consumer is one it holds.
    fn check_drained(&mut self) -> Result<(), Stop> {
        let Some(idle) = self.cfg.complete_when_idle else {
            return Ok(());
        };
        let quiet = idle.max(self.cfg.claim.min_idle + self.cfg.claim.interval);
        if self.last_activity.elapsed() < quiet {
            return Ok(());
        }
        let cfg = self.cfg.clone();
        let stale_ms = (cfg.claim.refresh_every() * 2).as_millis() as u64;
        let reply = self.query(
            redis::cmd("XPENDING")
                .arg(&cfg.stream)
                .arg(&cfg.group)
                .arg("IDLE")
                .arg(stale_ms)
                .arg("-")
                .arg("+")
                .arg(100),
            "XPENDING",
        )?;
        let stale = conn::parse_xpending(reply).map_err(|e| Stop::Fatal(Error::msg(e)))?;
        if stale
            .iter()
            .any(|(_, consumer, _, _)| *consumer != cfg.consumer)
        {
            return Ok(()); // a dead consumer's entries: wait for min_idle and reclaim them
        }
        let reply = self.query(
            redis::cmd("XPENDING").arg(&cfg.stream).arg(&cfg.group),
            "XPENDING",
        )?;
        let mut mine = 0u64;
        if let Value::Array(parts) = reply {
            if let Some(Value::Array(consumers)) = parts.into_iter().nth(3) {
                for c in consumers {
                    if let Value::Array(pair) = c {
                        let n = pair.get(1).and_then(conn::int).unwrap_or(0).max(0) as u64;
                        let name = pair.into_iter().next().and_then(conn::string);
                        if name.as_deref() == Some(cfg.consumer.as_str()) {
                            mine = n;
                        }
                    }
                }
            }
        }
        if mine <= self.acks.shared().held() {
            Err(Stop::Drained)
        } else {
            Ok(())
        }
    }

    fn entries(&self, parsed: Result<Vec<RawEntry>, String>) -> Result<Vec<RawEntry>, Stop> {
        parsed.map_err(|e| Stop::Fatal(Error::msg(format!("redis: {e}"))))
    }

    fn query(&mut self, cmd: &redis::Cmd, what: &str) -> Result<Value, Stop> {
        let con = self.con.as_mut().expect("connected");
        match cmd.query::<Value>(con) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.redis_error(what, e)),
        }
    }

    /// A read, in one pipeline after an `XACK` of the acks queued so far (if any): the reader
    /// sends them instead of waking the acknowledger for a round trip of its own.
    fn read(&mut self, cmd: &redis::Cmd, what: &str) -> Result<Value, Stop> {
        let acks = self.acks.clone();
        let mut ids = std::mem::take(&mut self.bufs.acks);
        acks.shared().take_queued(&mut ids);
        if ids.is_empty() {
            self.bufs.acks = ids;
            return self.query(cmd, what);
        }
        let mut pipe = redis::pipe();
        pipe.cmd("XACK")
            .arg(&self.cfg.stream)
            .arg(&self.cfg.group)
            .arg(&ids[..])
            .ignore();
        pipe.add_command(cmd.clone());
        let con = self.con.as_mut().expect("connected");
        match pipe.query::<(Value,)>(con) {
            Ok((v,)) => {
                acks.shared().sent(&mut ids, Ok(()));
                self.bufs.acks = ids;
                Ok(v)
            }
            Err(e) => {
                // Maybe applied, maybe not: sent again later (an XACK twice is harmless).
                acks.shared().sent(&mut ids, Err(()));
                self.bufs.acks = ids;
                Err(self.redis_error(what, e))
            }
        }
    }

    /// Delivery counts of pending entries of this consumer, for the poison check.
    fn delivery_counts(&mut self, entries: &[RawEntry]) -> Result<HashMap<EntryId, u64>, Stop> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(HashMap::new());
        };
        let cfg = self.cfg.clone();
        let reply = self.query(
            redis::cmd("XPENDING")
                .arg(&cfg.stream)
                .arg(&cfg.group)
                .arg(first.id)
                .arg(last.id)
                .arg(entries.len() * 2 + 1024)
                .arg(&cfg.consumer),
            "XPENDING",
        )?;
        let rows = conn::parse_xpending(reply).map_err(|e| Stop::Fatal(Error::msg(e)))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, _, _, n)| Some((EntryId::new(id.as_bytes())?, n)))
            .collect())
    }

    fn handle<S: Subscriber<Delivery<T>>>(
        &mut self,
        subscriber: &mut S,
        mut entries: Vec<RawEntry>,
        asked: u64,
        origin: Origin,
    ) -> Result<(), Stop> {
        if entries.is_empty() {
            self.bufs.entries = entries;
            return Ok(());
        }
        let short = (entries.len() as u64) < asked;
        self.last_activity = Instant::now();
        if origin == Origin::Claimed {
            self.metrics.reclaimed(entries.len() as u64);
        }
        let counts = if origin == Origin::New {
            HashMap::new()
        } else {
            self.delivery_counts(&entries)?
        };
        let max = self.cfg.dead_letter.max_deliveries;
        let mut dead: Vec<(RawEntry, String, u64)> = Vec::new();
        let mut gone: Vec<EntryId> = Vec::new();
        let acks = self.acks.clone();
        let shared = acks.shared();
        let held = if origin == Origin::New {
            HashSet::default()
        } else {
            shared.held_ids()
        };
        let mut values = std::mem::take(&mut self.bufs.values);
        for raw in entries.drain(..) {
            if held.contains(&raw.id) {
                continue; // being processed (or just acked) in this process: not a redelivery
            }
            let fields = match raw.fields {
                Some(f) if !f.is_empty() => f,
                _ => {
                    gone.push(raw.id);
                    continue;
                }
            };
            let deliveries = counts.get(&raw.id).copied().unwrap_or(1);
            // The count includes this fetch (history reads and XAUTOCLAIM both increment it):
            // `deliveries - 1` handlers have seen the entry and none acknowledged it.
            if deliveries > max {
                let seen = deliveries - 1;
                let reason =
                    format!("not acknowledged after {seen} deliveries (max_deliveries {max})");
                let raw = RawEntry {
                    id: raw.id,
                    fields: Some(fields),
                };
                dead.push((raw, reason, seen));
                continue;
            }
            let id: Id = raw.id;
            self.scratch.load(&id, fields);
            let decoded = match catch(|| (self.decoder)(&self.scratch)) {
                Ok(r) => r,
                Err(p) => Err(Error::panicked("the decoder", p).to_string()),
            };
            let fields = self.scratch.take_fields();
            match decoded {
                Ok(value) => {
                    drop(fields);
                    values.push((value, id, deliveries));
                }
                Err(reason) => {
                    let raw = RawEntry {
                        id,
                        fields: Some(fields),
                    };
                    dead.push((raw, format!("decode: {reason}"), deliveries));
                }
            }
        }
        // Registered before any is delivered (an ack inside on_next must find its ID); one lock
        // per batch. A delivery not handed over (cancel, failure) is released when it drops.
        self.bufs.entries = entries;
        let mut slots = std::mem::take(&mut self.bufs.slots);
        shared.delivered(values.iter().map(|v| v.1), short, &mut slots);
        let mut ready = std::mem::take(&mut self.bufs.ready);
        ready.extend(values.drain(..).zip(slots.drain(..)).map(
            |((value, id, deliveries), slot)| {
                Delivery::new(value, Ticket::new(id, slot, deliveries, acks.clone()))
            },
        ));
        self.bufs.values = values;
        self.bufs.slots = slots;
        if let Err(stop) = self.flush_side_effects(dead, gone) {
            shared.delivery_done(false);
            return Err(stop);
        }
        let mut delivered = 0u64;
        let mut outcome = Ok(());
        let mut handing = ready.drain(..);
        for d in handing.by_ref() {
            if self.control.stopped() {
                break;
            }
            delivered += 1;
            if let Err(p) = catch(|| subscriber.on_next(d)) {
                // Rule 2.13: the subscriber is treated as cancelled; the panic goes downstream.
                outcome = Err(Stop::Fatal(Error::panicked("on_next", p)));
                break;
            }
        }
        drop(handing); // the deliveries not handed over (cancel, panic) are released here
        self.bufs.ready = ready;
        // Only this thread consumes demand, and the fetch asked for no more than was outstanding.
        let left = self.control.demand.produced(delivered);
        shared.delivery_done(outcome.is_ok() && left > 0 && !self.control.stopped());
        self.metrics.stage_ref().record_emitted(delivered);
        outcome
    }

    /// Acks deleted entries, and moves dead ones atomically: `MULTI`, `XADD dlq`, `XACK`, `EXEC`.
    fn flush_side_effects(
        &mut self,
        dead: Vec<(RawEntry, String, u64)>,
        gone: Vec<EntryId>,
    ) -> Result<(), Stop> {
        let cfg = self.cfg.clone();
        if !gone.is_empty() {
            self.query(
                redis::cmd("XACK")
                    .arg(&cfg.stream)
                    .arg(&cfg.group)
                    .arg(&gone[..]),
                "XACK",
            )?;
            self.metrics.deleted(gone.len() as u64);
            self.metrics.acked(gone.len() as u64);
        }
        if dead.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (raw, reason, deliveries) in &dead {
            let xadd = pipe
                .cmd("XADD")
                .arg(&cfg.dead_letter.stream)
                .arg("*")
                .arg("dlq-source-stream")
                .arg(&cfg.stream)
                .arg("dlq-source-id")
                .arg(raw.id)
                .arg("dlq-group")
                .arg(&cfg.group)
                .arg("dlq-consumer")
                .arg(&cfg.consumer)
                .arg("dlq-deliveries")
                .arg(*deliveries)
                .arg("dlq-reason")
                .arg(reason.as_str());
            for kv in raw.fields.iter().flat_map(|f| f.chunks(2)) {
                xadd.arg(value_bytes(&kv[0]))
                    .arg(kv.get(1).map_or(&[][..], value_bytes));
            }
            xadd.ignore();
            pipe.cmd("XACK")
                .arg(&cfg.stream)
                .arg(&cfg.group)
                .arg(raw.id)
                .ignore();
        }
        let con = self.con.as_mut().expect("connected");
        match pipe.query::<()>(con) {
            Ok(()) => {
                self.metrics.dead_lettered(dead.len() as u64);
                self.metrics.acked(dead.len() as u64);
                Ok(())
            }
            Err(e) => Err(self.redis_error("dead-letter MULTI", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SourceConfig {
        let url = RedisUrl::new("redis://user:pw-secret@127.0.0.1:6379").unwrap();
        SourceConfig::new(url, "s", "g", "c")
    }

    #[test]
    fn the_read_timeout_is_always_longer_than_block() {
        for block in [1, 500, 10_000, 120_000] {
            let block = Duration::from_millis(block);
            let c = cfg().block(block).timeout_margin(Duration::ZERO);
            assert!(
                c.read_timeout() >= block + Duration::from_secs(1),
                "{block:?}"
            );
        }
    }

    #[test]
    fn the_refresh_interval_stays_well_inside_min_idle() {
        let claim = ClaimConfig {
            min_idle: Duration::from_secs(4),
            refresh: Some(Duration::from_secs(10)),
            ..ClaimConfig::default()
        };
        assert_eq!(claim.refresh_every(), Duration::from_secs(2));
        let default = ClaimConfig::default();
        assert_eq!(default.refresh_every(), default.min_idle / 4);
    }

    #[test]
    fn the_config_debug_output_has_no_credentials() {
        let text = format!("{:?}", cfg());
        assert!(
            !text.contains("pw-secret") && !text.contains("user"),
            "{text}"
        );
        assert!(text.contains("***@127.0.0.1"), "{text}");
    }
}
