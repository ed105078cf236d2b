//! `RedisStreamSink`: writes a backflow stream into a Redis stream with pipelined `XADD`s.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use backflow::{Error, Publisher, SharedSubscription, Subscriber};
use redis::{Connection, ToRedisArgs, Value};

use crate::conn::{self, Backoff};
use crate::metrics::RedisMetrics;
use crate::resp::XaddEncoder;
use crate::url::RedisUrl;

/// The configuration of a [`RedisStreamSink`].
#[derive(Clone)]
pub struct SinkConfig {
    url: RedisUrl,
    stream: String,
    max_batch: usize,
    batches_in_flight: usize,
    maxlen: Option<u64>,
    linger: Duration,
    connect_timeout: Duration,
    io_timeout: Duration,
    backoff: (Duration, Duration),
}

impl fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkConfig")
            .field("url", &self.url)
            .field("stream", &self.stream)
            .field("max_batch", &self.max_batch)
            .field("batches_in_flight", &self.batches_in_flight)
            .field("maxlen", &self.maxlen)
            .finish_non_exhaustive()
    }
}

impl SinkConfig {
    /// Writes to `stream`.
    pub fn new(url: RedisUrl, stream: impl Into<String>) -> SinkConfig {
        SinkConfig {
            url,
            stream: stream.into(),
            max_batch: 100,
            batches_in_flight: 2,
            maxlen: None,
            linger: Duration::from_millis(2),
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(10),
            backoff: (Duration::from_millis(50), Duration::from_secs(2)),
        }
    }

    /// `XADD`s per pipelined round trip (default 100).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// How many batches the sink may hold (one being written, the rest filling): the sink requests
    /// `max_batch × batches_in_flight` items up front and replenishes what it wrote. Default 2.
    pub fn batches_in_flight(mut self, n: usize) -> Self {
        self.batches_in_flight = n.max(1);
        self
    }

    /// Trim the stream with `MAXLEN ~ n` on every `XADD`.
    ///
    /// Caveat (Redis 7.0): trimming deletes the oldest entries whether or not a consumer group
    /// still has them pending; a consumer then sees them as deleted (the source acknowledges them
    /// as gone), so size `n` well above any group's backlog, or trim from the consumer side.
    pub fn maxlen_approx(mut self, n: u64) -> Self {
        self.maxlen = Some(n);
        self
    }

    /// How long a partial batch waits for more items before it is written (default 2 ms).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Reconnect backoff: first delay and cap (defaults 50 ms, 2 s).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max);
        self
    }

    fn capacity(&self) -> usize {
        self.max_batch * self.batches_in_flight
    }
}

type AfterWrite<T> = Box<dyn FnMut(Vec<T>) + Send>;

/// Writes every item of a publisher to a stream: `XADD stream [MAXLEN ~ n] * field value …`,
/// pipelined `max_batch` to a round trip, by a writer thread with its own connection.
///
/// # Demand
///
/// The sink requests `max_batch × batches_in_flight` items up front and then exactly as many as
/// it has written, so a slow Redis slows the pipeline instead of growing memory. An upstream that
/// sends more than requested is cancelled with an overflow error.
///
/// # Pipelining
///
/// One batch is on the wire at a time. While the server works on it, the writer hands the
/// previous, accepted batch to [`after_write`](RedisStreamSink::after_write), requests the room it freed
/// (a synchronous upstream emits right there, on the writer thread) and encodes the next batch
/// if one is full (or lingered, or the last), so it goes out as soon as the reply is in. The
/// items held never exceed `max_batch × batches_in_flight`. The `XADD`s are encoded straight into
/// one reused buffer per batch, with the same bytes `redis::cmd` would send. The round-trip
/// metric counts the time the writer spent sending a batch and waiting for its replies, not the
/// work it overlapped with them.
///
/// # Failures
///
/// A lost connection is re-opened with backoff and the batch written again; if the failure hit
/// after the server applied part of the batch, those entries are written twice (at-least-once).
/// An error reply (`WRONGTYPE`, ...) or a panic in the encoder cancels upstream and is returned
/// by [`SinkHandle::join`].
pub struct RedisStreamSink<T, E> {
    cfg: SinkConfig,
    encoder: E,
    after_write: Option<AfterWrite<T>>,
    metrics: Arc<RedisMetrics>,
}

impl<T, E> fmt::Debug for RedisStreamSink<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStreamSink")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// The outcome of a finished sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkReport {
    /// Items written.
    pub written: u64,
}

/// A running sink: wait for it, or cancel it.
#[derive(Debug)]
pub struct SinkHandle {
    thread: JoinHandle<Result<SinkReport, Error>>,
    shared: Arc<dyn SinkControl>,
}

impl SinkHandle {
    /// Waits until upstream completed and everything was written (or the sink failed).
    pub fn join(self) -> Result<SinkReport, Error> {
        match self.thread.join() {
            Ok(r) => r,
            Err(p) => Err(Error::panicked("the sink writer", p)),
        }
    }

    /// Cancels upstream and stops writing (items not yet written are dropped).
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    /// Whether the writer has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

trait SinkControl: Send + Sync + fmt::Debug {
    fn cancel(&self);
}

struct SinkState<T> {
    items: VecDeque<T>,
    since: Option<Instant>,
    end: Option<Result<(), Error>>,
    subscription: Option<SharedSubscription>,
    cancelled: bool,
    /// The writer is (about to be) blocked on `wake`. `on_next` signals only then, and only once
    /// per wait: a futex wake per item cost more than the `XADD` encoding itself.
    writer_waiting: bool,
}

struct Shared<T> {
    state: Mutex<SinkState<T>>,
    wake: Condvar,
    capacity: usize,
    max_batch: usize,
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkShared").finish_non_exhaustive()
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, SinkState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancel_upstream(&self) {
        let sub = {
            let mut st = self.lock();
            st.cancelled = true;
            st.subscription.take()
        };
        self.wake.notify_all();
        if let Some(s) = sub {
            s.cancel();
        }
    }
}

impl<T: Send> SinkControl for Shared<T> {
    fn cancel(&self) {
        self.cancel_upstream();
    }
}

struct SinkSubscriber<T> {
    shared: Arc<Shared<T>>,
    subscribed: bool,
}

impl<T: Send> Subscriber<T> for SinkSubscriber<T> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.subscribed {
            subscription.cancel(); // rule 2.05
            return;
        }
        self.subscribed = true;
        let cancelled = {
            let mut st = self.shared.lock();
            if !st.cancelled {
                st.subscription = Some(subscription.clone());
            }
            st.cancelled
        };
        if cancelled {
            subscription.cancel();
        } else {
            subscription.request(self.shared.capacity as u64);
        }
    }

    fn on_next(&mut self, item: T) {
        let mut st = self.shared.lock();
        if st.cancelled {
            return; // in flight after our cancel (rule 2.08)
        }
        if st.items.len() >= self.shared.capacity {
            // Rule 1.01 broken upstream: refuse to grow.
            st.end = Some(Err(Error::overflow("RedisStreamSink")));
            st.cancelled = true;
            let sub = st.subscription.take();
            drop(st);
            self.shared.wake.notify_all();
            if let Some(s) = sub {
                s.cancel();
            }
            return;
        }
        st.items.push_back(item);
        if st.since.is_none() {
            st.since = Some(Instant::now());
        }
        // The first item starts the linger clock; a full batch is ready. Anything in between
        // only matters to a writer that is not waiting anyway.
        let wake =
            st.writer_waiting && (st.items.len() == 1 || st.items.len() >= self.shared.max_batch);
        if wake {
            st.writer_waiting = false;
        }
        drop(st);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    fn on_error(&mut self, error: Error) {
        let mut st = self.shared.lock();
        st.end.get_or_insert(Err(error));
        drop(st);
        self.shared.wake.notify_all();
    }

    fn on_complete(&mut self) {
        let mut st = self.shared.lock();
        st.end.get_or_insert(Ok(()));
        drop(st);
        self.shared.wake.notify_all();
    }
}

impl<T, E, I, F, V> RedisStreamSink<T, E>
where
    T: Send + 'static,
    E: Fn(&T) -> I + Send + 'static,
    I: IntoIterator<Item = (F, V)>,
    F: ToRedisArgs,
    V: ToRedisArgs,
{
    /// A sink writing each item as the field/value pairs `encoder` makes of it.
    ///
    /// The pairs can come in any `IntoIterator`: an array (`|x: &u64| [("n", *x)]`) costs no
    /// allocation per item, a `Vec` one; either way they are encoded straight into the batch's
    /// buffer.
    pub fn new(cfg: SinkConfig, encoder: E) -> Self {
        let metrics = Arc::new(RedisMetrics::new("sink", &cfg.stream, "", ""));
        RedisStreamSink {
            cfg,
            encoder,
            after_write: None,
            metrics,
        }
    }

    /// Called with every batch once the server has accepted it: acknowledge the inputs of the
    /// written items here (`Delivery::ack`), so an entry is acknowledged only after its result
    /// is durable in the output stream.
    pub fn after_write(mut self, f: impl FnMut(Vec<T>) + Send + 'static) -> Self {
        self.after_write = Some(Box::new(f));
        self
    }

    /// This sink's metrics.
    pub fn metrics(&self) -> Arc<RedisMetrics> {
        self.metrics.clone()
    }

    /// Subscribes to `upstream` and writes until it completes; returns at once.
    pub fn write<P>(self, upstream: P) -> SinkHandle
    where
        P: Publisher<Item = T>,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(SinkState {
                items: VecDeque::with_capacity(self.cfg.capacity()),
                since: None,
                end: None,
                subscription: None,
                cancelled: false,
                writer_waiting: false,
            }),
            wake: Condvar::new(),
            capacity: self.cfg.capacity(),
            max_batch: self.cfg.max_batch,
        });
        let writer = shared.clone();
        let name = format!("backflow-redis-sink-{}", self.cfg.stream);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || self.run(&writer))
            .expect("spawn the sink writer thread");
        upstream.subscribe(SinkSubscriber {
            shared: shared.clone(),
            subscribed: false,
        });
        SinkHandle { thread, shared }
    }

    fn run(mut self, shared: &Shared<T>) -> Result<SinkReport, Error> {
        let mut w = Writer {
            encoder: XaddEncoder::new(&self.cfg.stream, self.cfg.maxlen),
            written: 0,
            con: None,
            backoff: Backoff::new(self.cfg.backoff.0, self.cfg.backoff.1),
            connected_before: false,
            accepted: None,
            spare: Vec::new(),
        };
        let outcome = self.write_all(shared, &mut w);
        // A batch the server accepted is handed to `after_write` however the run ends.
        let handed = self.hand_over(shared, &mut w);
        let report = outcome?;
        handed.map(|()| report)
    }

    /// Writes batch after batch until upstream ends or the sink is cancelled or fails.
    ///
    /// One batch is on the wire at a time; while the server works on it, the writer hands the
    /// previous (accepted) batch to `after_write`, requests as many items as that batch freed, and
    /// encodes the next batch if one is ready, so that it is sent as soon as the reply is in.
    fn write_all(&mut self, shared: &Shared<T>, w: &mut Writer<T>) -> Result<SinkReport, Error> {
        let mut next: Option<Batch<T>> = None;
        loop {
            let batch = match next.take() {
                Some(b) => b,
                None => {
                    // The room the last batch freed must be requested before waiting for items.
                    self.hand_over(shared, w)?;
                    match self.take(shared, true)? {
                        Some(items) => self.encode(shared, w, items)?,
                        None => return Ok(SinkReport { written: w.written }),
                    }
                }
            };
            let mut blocked = Duration::ZERO;
            loop {
                if shared.lock().cancelled {
                    return Ok(SinkReport { written: w.written });
                }
                let con = match w.con.as_mut() {
                    Some(c) => c,
                    None => match conn::open(
                        &self.cfg.url,
                        self.cfg.connect_timeout,
                        self.cfg.io_timeout,
                    ) {
                        Ok(c) => {
                            if w.connected_before {
                                self.metrics.reconnect();
                            }
                            w.connected_before = true;
                            w.con.insert(c)
                        }
                        Err(e) if conn::is_connection_error(&e) => {
                            let d = w.backoff.next_delay();
                            conn::sleep_unless(d, || shared.lock().cancelled);
                            continue;
                        }
                        Err(e) => {
                            shared.cancel_upstream();
                            return Err(self.cfg.url.error("connect", &e));
                        }
                    },
                };
                let started = Instant::now();
                let sent = con.send_packed_command(&batch.bytes);
                blocked += started.elapsed();
                let replies = match sent {
                    Ok(()) => {
                        // Overlap: the server is busy with this batch.
                        self.hand_over(shared, w)?;
                        if next.is_none() {
                            if let Some(items) = self.take(shared, false)? {
                                next = Some(self.encode(shared, w, items)?);
                            }
                        }
                        let started = Instant::now();
                        let con = w.con.as_mut().expect("connected");
                        let replies = read_replies(con, batch.items.len());
                        blocked += started.elapsed();
                        replies
                    }
                    Err(e) => Err(e),
                };
                match replies {
                    Ok(()) => {
                        self.metrics.round_trip(blocked);
                        w.backoff.reset();
                        break;
                    }
                    Err(e) if conn::is_connection_error(&e) => {
                        w.con = None;
                        blocked = Duration::ZERO;
                        let d = w.backoff.next_delay();
                        conn::sleep_unless(d, || shared.lock().cancelled);
                    }
                    Err(e) => {
                        shared.cancel_upstream();
                        return Err(self.cfg.url.error("XADD", &e));
                    }
                }
            }
            let n = batch.items.len() as u64;
            w.written += n;
            self.metrics.written(n);
            self.metrics.stage_ref().record_emitted(n);
            let held = next.as_ref().map_or(0, |b| b.items.len());
            let pending = shared.lock().items.len() + held;
            self.metrics.set_pending(pending as u64);
            w.spare.push(batch.bytes);
            w.accepted = Some(batch.items);
        }
    }

    /// The next batch: waits for one when `block`, else only takes one that is ready. `None`
    /// when there is nothing to write (blocking: upstream completed and everything was taken;
    /// or the sink was cancelled, which returns upstream's error if it had one).
    fn take(&self, shared: &Shared<T>, block: bool) -> Result<Option<Vec<T>>, Error> {
        let mut st = shared.lock();
        loop {
            if st.cancelled {
                if !block {
                    return Ok(None);
                }
                return match st.end.take() {
                    Some(Err(e)) => Err(e),
                    _ => Ok(None),
                };
            }
            let now = Instant::now();
            let lingered = st.since.is_some_and(|t| now >= t + self.cfg.linger);
            if st.items.len() >= self.cfg.max_batch
                || (!st.items.is_empty() && (lingered || st.end.is_some()))
            {
                break;
            }
            if !block {
                return Ok(None);
            }
            if st.items.is_empty() {
                if let Some(end) = st.end.take() {
                    return end.map(|()| None);
                }
            }
            let wait = match st.since {
                Some(t) => (t + self.cfg.linger).saturating_duration_since(now),
                None => Duration::from_millis(100),
            };
            st.writer_waiting = true;
            st = shared
                .wake
                .wait_timeout(st, wait.max(Duration::from_micros(100)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
            st.writer_waiting = false;
        }
        let n = st.items.len().min(self.cfg.max_batch);
        let batch: Vec<T> = st.items.drain(..n).collect();
        st.since = if st.items.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        let pending = st.items.len() + n;
        drop(st);
        self.metrics.set_pending(pending as u64);
        self.metrics.stage_ref().record_received(n as u64);
        Ok(Some(batch))
    }

    /// Encodes `items` as one pipeline of `XADD`s (a panicking encoder cancels the sink).
    fn encode(
        &self,
        shared: &Shared<T>,
        w: &mut Writer<T>,
        items: Vec<T>,
    ) -> Result<Batch<T>, Error> {
        let mut bytes = w.spare.pop().unwrap_or_default();
        bytes.clear();
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for item in &items {
                w.encoder.push(&mut bytes, (self.encoder)(item));
            }
        }));
        match encoded {
            Ok(()) => Ok(Batch { items, bytes }),
            Err(p) => {
                shared.cancel_upstream();
                Err(Error::panicked("the sink encoder", p))
            }
        }
    }

    /// Hands the last accepted batch to `after_write`, then requests as many items as it freed.
    fn hand_over(&mut self, shared: &Shared<T>, w: &mut Writer<T>) -> Result<(), Error> {
        let Some(batch) = w.accepted.take() else {
            return Ok(());
        };
        let n = batch.len() as u64;
        if let Some(f) = self.after_write.as_mut() {
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(batch))) {
                shared.cancel_upstream();
                return Err(Error::panicked("the sink's after_write", p));
            }
        }
        let sub = shared.lock().subscription.clone();
        if let Some(s) = sub {
            self.metrics.stage_ref().record_requested(n);
            s.request(n);
        }
        Ok(())
    }
}

/// The writer thread's state between batches.
struct Writer<T> {
    encoder: XaddEncoder,
    written: u64,
    con: Option<Connection>,
    backoff: Backoff,
    connected_before: bool,
    /// The last batch the server accepted, not yet handed to `after_write` (nor its room
    /// requested from upstream).
    accepted: Option<Vec<T>>,
    /// Encoding buffers of written batches, for reuse.
    spare: Vec<Vec<u8>>,
}

/// Items taken from the queue and their `XADD`s, encoded.
struct Batch<T> {
    items: Vec<T>,
    bytes: Vec<u8>,
}

/// Reads the replies of `n` pipelined commands. Every reply is read even after an error reply,
/// so the connection stays in step; the first error reply is returned.
fn read_replies(con: &mut Connection, n: usize) -> redis::RedisResult<()> {
    let mut refused = None;
    for _ in 0..n {
        if let Value::ServerError(e) = con.recv_response()? {
            refused.get_or_insert(e);
        }
    }
    refused.map_or(Ok(()), |e| Err(e.into()))
}
