//! The acknowledger: batches `XACK`s and keeps in-flight entries from being reclaimed.
//!
//! Acks queue here; they leave in one `XACK stream group id…` per batch, by one of two ways:
//!
//! - the reader takes everything queued into the pipeline of its next read (`XACK` +
//!   `XREADGROUP` in one round trip) — the common case when the subscriber acks inside `on_next`
//!   or soon after;
//! - this thread, with its own connection (the reader's sits in `XREADGROUP BLOCK`), sends them
//!   when `ack_batch` are queued or the oldest has waited `ack_interval`, whichever comes first,
//!   or as soon as every entry of a short fetch (fewer entries than asked for: no backlog, so no
//!   more acks are coming to batch with) is acknowledged while the reader is not about to read.
//!
//! Every `refresh` interval it also re-claims the IDs still being processed with
//! `XCLAIM stream group me 0 id… JUSTID`, which resets their idle time (and not their delivery
//! count) so another consumer's `XAUTOCLAIM` with `min_idle` does not take an entry a live, slow
//! worker is still working on.

use std::collections::HashSet;

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::{Connection, ConnectionLike, Value};

use crate::conn::{self, Backoff};
use crate::entry::{EntryId, IdHash};
use crate::metrics::RedisMetrics;
use crate::url::RedisUrl;

/// What the acknowledger needs from the source's configuration.
#[derive(Clone, Debug)]
pub(crate) struct AckConfig {
    pub(crate) url: RedisUrl,
    pub(crate) stream: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
    pub(crate) interval: Duration,
    pub(crate) batch: usize,
    pub(crate) refresh: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) backoff: (Duration, Duration),
}

#[derive(Default)]
struct AckState {
    /// IDs acknowledged by the user and not yet sent.
    queue: Vec<Id>,
    /// When `queue` became non-empty.
    since: Option<Instant>,
    /// IDs delivered downstream and neither acked nor released.
    inflight: Slots,
    /// The last fetch came back short: flush as soon as `inflight` is empty.
    eager: bool,
    /// Every [`AckLink`] is gone: flush and stop.
    closed: bool,
    /// The acknowledger is waiting on `wake` (otherwise it looks at the state again before it
    /// waits, so nobody needs to wake it).
    waiting: bool,
    /// ... and its wait is the long idle one (until the next refresh), not a poll.
    dozing: bool,
    /// The reader is handing a fetched batch downstream and takes the acks queued meanwhile
    /// into its next read's pipeline: no wake-up for a full queue or a finished short fetch.
    delivering: bool,
}

/// The in-flight IDs in numbered slots: each ticket knows its slot, so an ack or a release
/// frees it in O(1) without hashing the ID.
#[derive(Default)]
struct Slots {
    ids: Vec<Option<Id>>,
    free: Vec<u32>,
    live: usize,
}

impl Slots {
    fn insert(&mut self, id: Id) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(slot) => {
                self.ids[slot as usize] = Some(id);
                slot
            }
            None => {
                self.ids.push(Some(id));
                (self.ids.len() - 1) as u32
            }
        }
    }

    /// Frees `slot` if it still holds `id` (an ack or release is applied once).
    fn remove(&mut self, slot: u32, id: &Id) {
        if let Some(cell) = self.ids.get_mut(slot as usize) {
            if cell.as_ref() == Some(id) {
                *cell = None;
                self.live -= 1;
                if self.live == 0 {
                    // Nothing in flight: start over compactly.
                    self.ids.clear();
                    self.free.clear();
                } else {
                    self.free.push(slot);
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.live
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn iter(&self) -> impl Iterator<Item = &Id> + '_ {
        self.ids.iter().flatten()
    }
}

pub(crate) struct AckShared {
    cfg: AckConfig,
    state: Mutex<AckState>,
    wake: Condvar,
    metrics: Arc<RedisMetrics>,
}

/// A counted handle: the acknowledger runs until the reader and every ticket have dropped theirs.
pub(crate) struct AckLink(Arc<AckShared>);

impl AckLink {
    pub(crate) fn shared(&self) -> &AckShared {
        &self.0
    }
}

impl Drop for AckLink {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_all();
    }
}

impl AckShared {
    fn lock(&self) -> MutexGuard<'_, AckState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn gauge(&self, st: &AckState) {
        self.metrics
            .set_pending((st.queue.len() + st.inflight.len()) as u64);
    }

    /// The reader is about to deliver these entries (one lock per fetched batch); their slots
    /// are appended to `slots`. `short`: the fetch returned fewer than it asked for.
    pub(crate) fn delivered(
        &self,
        ids: impl Iterator<Item = Id>,
        short: bool,
        slots: &mut Vec<u32>,
    ) {
        let mut st = self.lock();
        slots.extend(ids.map(|id| st.inflight.insert(id)));
        st.eager = short;
        st.delivering = true;
        self.gauge(&st);
        let doze = st.waiting && st.dozing;
        drop(st);
        if doze {
            // Idle until now: from here on it polls every `ack_interval`.
            self.wake.notify_one();
        }
    }

    /// The IDs delivered here and still being processed, or acknowledged here and not yet sent
    /// (a history re-read after a reconnect must not deliver either again).
    pub(crate) fn held_ids(&self) -> HashSet<Id, IdHash> {
        let st = self.lock();
        st.inflight.iter().chain(st.queue.iter()).copied().collect()
    }

    /// Entries held here: delivered and not let go, or acked and not yet sent.
    pub(crate) fn held(&self) -> u64 {
        let st = self.lock();
        (st.queue.len() + st.inflight.len()) as u64
    }

    /// The reader has handed its batch over. `reading_next`: it goes straight on to its next
    /// read (taking the queued acks along); otherwise the acknowledger is told to look.
    pub(crate) fn delivery_done(&self, reading_next: bool) {
        let mut st = self.lock();
        st.delivering = false;
        let wake = !reading_next && st.waiting && !st.queue.is_empty();
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }

    /// The acks queued so far, for the reader to send in one pipeline with its next read (one
    /// round trip for both). On failure it hands them back with [`AckShared::put_back`].
    pub(crate) fn take_queued(&self, ids: &mut Vec<Id>) {
        let mut st = self.lock();
        if st.queue.is_empty() {
            return;
        }
        let n = st.queue.len().min(MAX_IDS_PER_COMMAND);
        ids.extend(st.queue.drain(..n));
        if st.queue.is_empty() {
            st.since = None;
        }
    }

    /// The reader sent these acks (`Ok`) or could not (`Err`: queued again, first in line);
    /// `ids` is left empty.
    pub(crate) fn sent(&self, ids: &mut Vec<Id>, result: Result<(), ()>) {
        let mut st = self.lock();
        match result {
            Ok(()) => self.metrics.acked(ids.len() as u64),
            Err(()) => {
                st.queue.splice(0..0, ids.iter().copied());
                st.since.get_or_insert_with(Instant::now);
            }
        }
        ids.clear();
        self.gauge(&st);
    }

    pub(crate) fn ack(&self, slot: u32, id: Id) {
        let mut st = self.lock();
        st.inflight.remove(slot, &id);
        st.queue.push(id);
        if st.since.is_none() {
            st.since = Some(Instant::now());
        }
        let full = st.queue.len() >= self.cfg.batch;
        let first = st.queue.len() == 1;
        let done = st.eager && st.inflight.is_empty();
        // A polling acknowledger finds the first ack within `ack_interval` by itself: only a full
        // queue, a finished short fetch or a dozing acknowledger is worth a wake-up (a syscall).
        let wake = st.waiting && ((!st.delivering && (full || done)) || (first && st.dozing));
        self.gauge(&st);
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }

    pub(crate) fn release(&self, slot: u32, id: &Id) {
        let mut st = self.lock();
        st.inflight.remove(slot, id);
        let wake = st.waiting
            && !st.delivering
            && st.eager
            && st.inflight.is_empty()
            && !st.queue.is_empty();
        self.gauge(&st);
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// Starts the acknowledger thread; the returned link keeps it alive.
pub(crate) fn start(cfg: AckConfig, metrics: Arc<RedisMetrics>) -> std::io::Result<Arc<AckLink>> {
    let shared = Arc::new(AckShared {
        cfg,
        state: Mutex::new(AckState::default()),
        wake: Condvar::new(),
        metrics,
    });
    let worker = shared.clone();
    std::thread::Builder::new()
        .name(format!("backflow-redis-ack-{}", shared.cfg.consumer))
        .spawn(move || run(&worker))?;
    Ok(Arc::new(AckLink(shared)))
}

enum Work {
    Flush(Vec<Id>),
    Refresh(Vec<Id>),
    Stop,
}

/// How long the acknowledger keeps polling every `ack_interval` after its last entry in flight.
const IDLE_AFTER: Duration = Duration::from_secs(1);

/// Attempts at the final flush before giving up (the IDs then stay pending: redelivered later).
const CLOSING_ATTEMPTS: u32 = 20;

fn run(shared: &AckShared) {
    let cfg = &shared.cfg;
    let mut con: Option<Connection> = None;
    let mut backoff = Backoff::new(cfg.backoff.0, cfg.backoff.1);
    let mut next_refresh = Instant::now() + cfg.refresh;
    let mut failures_closing = 0u32;
    let mut last_busy = Instant::now();
    loop {
        let work = {
            let mut st = shared.lock();
            loop {
                let now = Instant::now();
                if !st.queue.is_empty() || !st.inflight.is_empty() {
                    last_busy = now;
                }
                let due = st.since.is_some_and(|t| now >= t + cfg.interval)
                    || (st.eager && st.inflight.is_empty());
                if !st.queue.is_empty() && (st.closed || due || st.queue.len() >= cfg.batch) {
                    st.since = None;
                    let n = st.queue.len().min(MAX_IDS_PER_COMMAND);
                    let ids: Vec<Id> = st.queue.drain(..n).collect();
                    if !st.queue.is_empty() {
                        st.since = Some(now);
                    }
                    break Work::Flush(ids);
                }
                if st.closed && st.queue.is_empty() {
                    break Work::Stop;
                }
                if now >= next_refresh {
                    next_refresh = now + cfg.refresh;
                    if !st.inflight.is_empty() {
                        break Work::Refresh(st.inflight.iter().copied().collect());
                    }
                }
                // While entries are in flight (and for a while after) poll every interval, so
                // an ack needs no wake-up; idle, sleep until the next refresh.
                let active = now < last_busy + IDLE_AFTER;
                let mut wait = next_refresh.saturating_duration_since(now);
                if let Some(t) = st.since {
                    wait = wait.min((t + cfg.interval).saturating_duration_since(now));
                } else if active {
                    wait = wait.min(cfg.interval);
                }
                st.waiting = true;
                st.dozing = !active;
                st = shared
                    .wake
                    .wait_timeout(st, wait.max(Duration::from_micros(200)))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                st.waiting = false;
                st.dozing = false;
            }
        };
        match work {
            Work::Stop => return,
            Work::Flush(ids) => match send(shared, &mut con, |c| xack(cfg, c, &ids)) {
                Ok(_) => {
                    shared.metrics.acked(ids.len() as u64);
                    backoff.reset();
                    let st = shared.lock();
                    shared.gauge(&st);
                }
                Err(()) => {
                    let mut st = shared.lock();
                    let closed = st.closed;
                    let mut back = ids;
                    back.append(&mut st.queue);
                    st.queue = back;
                    st.since.get_or_insert_with(Instant::now);
                    drop(st);
                    if closed {
                        failures_closing += 1;
                        if failures_closing > CLOSING_ATTEMPTS {
                            return;
                        }
                    }
                    std::thread::sleep(backoff.next_delay());
                }
            },
            Work::Refresh(ids) => {
                for chunk in ids.chunks(MAX_IDS_PER_COMMAND) {
                    if send(shared, &mut con, |c| refresh(cfg, c, chunk)).is_err() {
                        std::thread::sleep(backoff.next_delay());
                        break;
                    }
                }
            }
        }
    }
}

/// An entry ID, copied inline into the ticket that carries it, the in-flight set and the queue.
pub(crate) type Id = EntryId;

/// IDs per `XACK` / `XCLAIM` command.
const MAX_IDS_PER_COMMAND: usize = 4096;

/// Runs `f` on the connection, opening it first if needed; on failure drops the connection.
fn send<R>(
    shared: &AckShared,
    con: &mut Option<Connection>,
    f: impl FnOnce(&mut Connection) -> redis::RedisResult<R>,
) -> Result<R, ()> {
    let cfg = &shared.cfg;
    if con.is_none() {
        match conn::open(&cfg.url, cfg.connect_timeout, cfg.io_timeout) {
            Ok(c) => *con = Some(c),
            Err(_) => return Err(()),
        }
    }
    let c = con.as_mut().expect("just opened");
    match f(c) {
        Ok(r) => Ok(r),
        Err(e) => {
            if conn::is_connection_error(&e) || !c.is_open() {
                *con = None;
            }
            Err(())
        }
    }
}

fn xack(cfg: &AckConfig, con: &mut Connection, ids: &[Id]) -> redis::RedisResult<Value> {
    redis::cmd("XACK")
        .arg(&cfg.stream)
        .arg(&cfg.group)
        .arg(ids)
        .query(con)
}

fn refresh(cfg: &AckConfig, con: &mut Connection, ids: &[Id]) -> redis::RedisResult<Value> {
    redis::cmd("XCLAIM")
        .arg(&cfg.stream)
        .arg(&cfg.group)
        .arg(&cfg.consumer)
        .arg(0)
        .arg(ids)
        .arg("JUSTID")
        .query(con)
}
