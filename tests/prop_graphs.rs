//! Random DAGs of sources, `map`, `filter`, `publish_on`, `merge`, `zip`, `zip_all`, `concat`,
//! `concat_with` and `broadcast` hubs feeding several consumers inside the graph, every edge
//! instrumented with a counting stage, driven by a random sink demand and sometimes cancelled at a
//! random point. Properties:
//!
//! 1. On every edge, items delivered never exceed the demand requested on that edge (rule 1.01):
//!    each edge wraps the subscription to sum `request(n)` and checks before every emission.
//! 2. Every graph terminates (a 60 s deadlock guard fails the case), or, when the sink cancels,
//!    stops cleanly: no terminal signal after the cancel, and the sink subscriber is released
//!    (rule 3.13, checked with `Weak`) within a short bounded wait. A terminated sink is released
//!    too.
//! 3. Without a cancel and with lossless lanes only, the output multiset equals the model's: the
//!    same DAG evaluated with `Vec` operations (merge = multiset union, zip = pairwise up to the
//!    shorter, concat = concatenation, broadcast = every consumer sees the whole input). With a
//!    cancel or a lossy lane (`Latest`, `DropOldest(n)`, only on hubs rejoined by `merge`), what
//!    arrived is a sub-multiset of the model's output.
//!
//! Items that arrive after the cancel are allowed (rule 1.08: a source hands items down in runs and
//! checks its `cancelled` flag between runs), but they must still be within demand and in the
//! model. Every node is `boxed()`, which delivers item by item; the `Fused*` leaves are built
//! unboxed inside so that sources hand runs down through `on_next_iter` into `map`, `filter`,
//! `publish_on`, `merge`, `zip` and `broadcast`.
//!
//! `PROP_GRAPHS_SCALE=n` multiplies the case counts for a soak.
//!
//! The generator only builds graphs that cannot deadlock by construction with bounded buffers:
//! the consumers of one hub are rejoined inside the hub node (by `merge`, or by `zip` when every
//! consumer is 1:1 and so consumes the hub at the same pace), so a hub never waits on a consumer
//! that a `concat` subscribes later or a `zip` stops pulling. `zip` inputs are order-preserving
//! (no `merge` below them), so the pairs the model makes are the pairs the graph makes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use backflow::ops::Lane;
use backflow::prelude::*;
use backflow::sched::Pool;
use proptest::prelude::*;

type F = Flux<Boxed<u64>>;

/// How long a graph may run before the case counts as a deadlock.
const DEADLOCK_GUARD: Duration = Duration::from_secs(60);
/// How long the sink may stay referenced after its last signal or its cancel.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

fn pool() -> Pool {
    // One pool for every case: the threads are reused instead of spawned per graph.
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| backflow::sched::pool(2)).clone()
}

// ---------------------------------------------------------------------------------------------
// The counting edge.

/// What the counting edges of one graph found.
#[derive(Default)]
struct Audit {
    violations: AtomicUsize,
    first: Mutex<Option<String>>,
}

impl Audit {
    fn violation(&self, what: String) {
        self.violations.fetch_add(1, SeqCst);
        self.first.lock().unwrap().get_or_insert(what);
    }
}

/// One subscription through one edge: the demand requested on it and the credits used.
struct Edge {
    name: String,
    requested: AtomicU64,
    delivered: AtomicU64,
    audit: Arc<Audit>,
}

impl Edge {
    fn check_emit(&self) {
        let (delivered, requested) = (self.delivered.load(SeqCst), self.requested.load(SeqCst));
        if delivered >= requested {
            self.audit.violation(format!(
                "edge {}: an item with {delivered} delivered of {requested} requested",
                self.name
            ));
        }
    }
}

/// A publisher that passes everything through and audits demand on the way.
struct Counted {
    inner: F,
    name: String,
    audit: Arc<Audit>,
}

impl Publisher for Counted {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, down: S) {
        let edge = Arc::new(Edge {
            name: self.name.clone(),
            requested: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            audit: self.audit.clone(),
        });
        self.inner.subscribe(CountSub { down, edge });
    }
}

struct CountSub<S> {
    down: S,
    edge: Arc<Edge>,
}

impl<S: Subscriber<u64>> Subscriber<u64> for CountSub<S> {
    fn on_subscribe(&mut self, upstream: SharedSubscription) {
        self.down.on_subscribe(Arc::new(CountSubscription {
            upstream,
            edge: self.edge.clone(),
        }));
    }

    fn on_next(&mut self, item: u64) {
        self.edge.check_emit();
        self.edge.delivered.fetch_add(1, SeqCst);
        self.down.on_next(item);
    }

    fn try_on_next(&mut self, item: u64) -> bool {
        self.edge.check_emit();
        let used = self.down.try_on_next(item);
        if used {
            self.edge.delivered.fetch_add(1, SeqCst);
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        self.down.on_error(error);
    }

    fn on_complete(&mut self) {
        self.down.on_complete();
    }
}

struct CountSubscription {
    upstream: SharedSubscription,
    edge: Arc<Edge>,
}

impl Subscription for CountSubscription {
    fn request(&self, n: u64) {
        // Counted before it goes up, so an item sent in answer always finds it.
        let _ = self
            .edge
            .requested
            .fetch_update(SeqCst, SeqCst, |r| Some(r.saturating_add(n)));
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

// ---------------------------------------------------------------------------------------------
// The graph description, its model, and its construction.

/// A linear stage.
#[derive(Clone, Debug)]
enum Lin {
    Map(u64),
    Filter(u64),
    PublishOn(usize),
}

#[derive(Clone, Debug)]
enum Node {
    Range(u64, u64),
    Iter(Vec<u64>),
    /// The leaves below are built without boxing inside, so the sources hand runs of items down
    /// through `on_next_iter` (operator fusion) before the first counted edge.
    /// `range(lo..lo + len).map(k).filter(m)`, then `publish_on(pool).prefetch(p)` if `Some(p)`.
    FusedChain {
        lo: u64,
        len: u64,
        k: u64,
        m: u64,
        publish_on: Option<usize>,
    },
    /// `range(lo..lo + len).merge_with(from_iter(v))`.
    FusedMerge(u64, u64, Vec<u64>),
    /// `range(a..a + n).zip(range(b..b + m))`.
    FusedZip(u64, u64, u64, u64),
    /// `range(lo..lo + len).map(k).broadcast_with(p).auto_connect(2)`, its two lanes zipped.
    FusedHub {
        lo: u64,
        len: u64,
        k: u64,
        prefetch: usize,
    },
    Lin(Box<Node>, Lin),
    Merge(Vec<Node>),
    Zip(Box<Node>, Box<Node>),
    ZipAll(Vec<Node>),
    Concat(Vec<Node>),
    ConcatWith(Box<Node>, Box<Node>),
    /// A hub over `input`, `auto_connect(lanes.len())`, one lane per consumer chain, rejoined by
    /// `zip_all` (`zip`, lossless lanes only) or `merge`.
    Broadcast {
        input: Box<Node>,
        prefetch: usize,
        lanes: Vec<(Lane, Vec<Lin>)>,
        zip: bool,
    },
}

fn mapped(k: u64, x: u64) -> u64 {
    x.wrapping_mul(k).wrapping_add(1)
}

fn kept(m: u64, x: u64) -> bool {
    x % m != 0
}

fn pair(a: u64, b: u64) -> u64 {
    a.wrapping_mul(1_000_003).wrapping_add(b)
}

fn combine(items: &[u64]) -> u64 {
    items.iter().fold(7u64, |acc, x| pair(acc, *x))
}

fn model_lin(items: Vec<u64>, lin: &Lin) -> Vec<u64> {
    match *lin {
        Lin::Map(k) => items.into_iter().map(|x| mapped(k, x)).collect(),
        Lin::Filter(m) => items.into_iter().filter(|x| kept(m, *x)).collect(),
        Lin::PublishOn(_) => items,
    }
}

fn model_chain(items: Vec<u64>, chain: &[Lin]) -> Vec<u64> {
    chain.iter().fold(items, model_lin)
}

fn model_zip(inputs: Vec<Vec<u64>>) -> Vec<u64> {
    let len = inputs.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|i| combine(&inputs.iter().map(|v| v[i]).collect::<Vec<_>>()))
        .collect()
}

/// The DAG evaluated on plain vectors (in an order the graph may or may not keep, see the module
/// doc: only `zip` needs the order, and only order-preserving nodes feed a `zip`).
fn model(node: &Node) -> Vec<u64> {
    match node {
        Node::Range(lo, len) => (*lo..lo + len).collect(),
        Node::Iter(v) => v.clone(),
        Node::FusedChain { lo, len, k, m, .. } => (*lo..lo + len)
            .map(|x| mapped(*k, x))
            .filter(|x| kept(*m, *x))
            .collect(),
        Node::FusedMerge(lo, len, v) => (*lo..lo + len).chain(v.iter().copied()).collect(),
        Node::FusedZip(a, n, b, m) => model_zip(vec![(*a..a + n).collect(), (*b..b + m).collect()]),
        Node::FusedHub { lo, len, k, .. } => {
            let input: Vec<u64> = (*lo..lo + len).map(|x| mapped(*k, x)).collect();
            model_zip(vec![input.clone(), input])
        }
        Node::Lin(input, lin) => model_lin(model(input), lin),
        Node::Merge(v) | Node::Concat(v) => v.iter().flat_map(model).collect(),
        Node::ConcatWith(a, b) => [model(a), model(b)].concat(),
        Node::Zip(a, b) => model_zip(vec![model(a), model(b)]),
        Node::ZipAll(v) if v.is_empty() => vec![],
        Node::ZipAll(v) => model_zip(v.iter().map(model).collect()),
        Node::Broadcast {
            input, lanes, zip, ..
        } => {
            let input = model(input);
            let outs: Vec<Vec<u64>> = lanes
                .iter()
                .map(|(_, chain)| model_chain(input.clone(), chain))
                .collect();
            if *zip {
                model_zip(outs)
            } else {
                outs.concat()
            }
        }
    }
}

fn counted(flux: F, name: String, audit: &Arc<Audit>) -> F {
    Flux::new(Counted {
        inner: flux,
        name,
        audit: audit.clone(),
    })
    .boxed()
}

fn build_lin(flux: F, lin: &Lin) -> F {
    match *lin {
        Lin::Map(k) => flux.map(move |x| mapped(k, x)).boxed(),
        Lin::Filter(m) => flux.filter(move |x| kept(m, *x)).boxed(),
        Lin::PublishOn(prefetch) => flux.publish_on(pool()).prefetch(prefetch).boxed(),
    }
}

/// The DAG as a stream, every edge counted; `path` names the edge in violation reports.
fn build(node: &Node, path: &str, audit: &Arc<Audit>) -> F {
    let child = |n: &Node, i: usize| build(n, &format!("{path}.{i}"), audit);
    let flux = match node {
        Node::Range(lo, len) => backflow::range(*lo..lo + len).boxed(),
        Node::Iter(v) => backflow::from_iter(v.clone()).boxed(),
        Node::FusedChain {
            lo,
            len,
            k,
            m,
            publish_on,
        } => {
            let (k, m) = (*k, *m);
            let chain = backflow::range(*lo..lo + len)
                .map(move |x| mapped(k, x))
                .filter(move |x| kept(m, *x));
            match publish_on {
                Some(p) => chain.publish_on(pool()).prefetch(*p).boxed(),
                None => chain.boxed(),
            }
        }
        Node::FusedMerge(lo, len, v) => backflow::range(*lo..lo + len)
            .merge_with(backflow::from_iter(v.clone()))
            .boxed(),
        Node::FusedZip(a, n, b, m) => backflow::range(*a..a + n)
            .zip(backflow::range(*b..b + m))
            .map(|(a, b)| combine(&[a, b]))
            .boxed(),
        Node::FusedHub {
            lo,
            len,
            k,
            prefetch,
        } => {
            let k = *k;
            let hub = backflow::range(*lo..lo + len)
                .map(move |x| mapped(k, x))
                .broadcast_with(*prefetch)
                .auto_connect(2);
            let lane = |i: usize| {
                counted(
                    hub.lane(Lane::Lossless).boxed(),
                    format!("{path}.lane{i}"),
                    audit,
                )
            };
            backflow::zip(lane(0), lane(1))
                .map(|(a, b)| combine(&[a, b]))
                .boxed()
        }
        Node::Lin(input, lin) => build_lin(child(input, 0), lin),
        Node::Merge(v) => backflow::merge(
            v.iter()
                .enumerate()
                .map(|(i, n)| child(n, i))
                .collect::<Vec<_>>(),
        )
        .boxed(),
        Node::Concat(v) => backflow::concat(
            v.iter()
                .enumerate()
                .map(|(i, n)| child(n, i))
                .collect::<Vec<_>>(),
        )
        .boxed(),
        Node::ConcatWith(a, b) => child(a, 0).concat_with(child(b, 1)).boxed(),
        Node::Zip(a, b) => backflow::zip(child(a, 0), child(b, 1))
            .map(|(a, b)| combine(&[a, b]))
            .boxed(),
        Node::ZipAll(v) => backflow::zip_all(
            v.iter()
                .enumerate()
                .map(|(i, n)| child(n, i))
                .collect::<Vec<_>>(),
        )
        .map(|items| combine(&items))
        .boxed(),
        Node::Broadcast {
            input,
            prefetch,
            lanes,
            zip,
        } => {
            let hub = child(input, 0)
                .broadcast_with(*prefetch)
                .auto_connect(lanes.len());
            let outs: Vec<F> = lanes
                .iter()
                .enumerate()
                .map(|(i, (kind, chain))| {
                    let lane = counted(hub.lane(*kind).boxed(), format!("{path}.lane{i}"), audit);
                    chain.iter().fold(lane, build_lin)
                })
                .collect();
            if *zip {
                backflow::zip_all(outs).map(|items| combine(&items)).boxed()
            } else {
                backflow::merge(outs).boxed()
            }
        }
    };
    counted(flux, path.to_string(), audit)
}

// ---------------------------------------------------------------------------------------------
// The generator.

fn lin(allow_filter: bool) -> BoxedStrategy<Lin> {
    let publish_on =
        prop_oneof![Just(1usize), Just(3), Just(32), Just(256)].prop_map(Lin::PublishOn);
    if allow_filter {
        prop_oneof![
            (1u64..5).prop_map(Lin::Map),
            (2u64..5).prop_map(Lin::Filter),
            publish_on,
        ]
        .boxed()
    } else {
        prop_oneof![(1u64..5).prop_map(Lin::Map), publish_on].boxed()
    }
}

fn leaf(ordered: bool) -> BoxedStrategy<Node> {
    let len = || 0u64..=200;
    let fused_chain = (
        0u64..1000,
        len(),
        1u64..5,
        2u64..5,
        prop::option::of(prefetch()),
    )
        .prop_map(|(lo, len, k, m, publish_on)| Node::FusedChain {
            lo,
            len,
            k,
            m,
            publish_on,
        });
    let fused_zip =
        (0u64..1000, len(), 0u64..1000, len()).prop_map(|(a, n, b, m)| Node::FusedZip(a, n, b, m));
    let fused_hub = (0u64..1000, len(), 1u64..5, prefetch()).prop_map(|(lo, len, k, prefetch)| {
        Node::FusedHub {
            lo,
            len,
            k,
            prefetch,
        }
    });
    let common = prop_oneof![
        6 => (0u64..1000, len()).prop_map(|(lo, len)| Node::Range(lo, len)),
        2 => prop::collection::vec(0u64..1000, 0..40).prop_map(Node::Iter),
        1 => fused_chain,
        1 => fused_zip,
        1 => fused_hub,
    ];
    if ordered {
        return common.boxed();
    }
    let fused_merge = (0u64..1000, len(), prop::collection::vec(0u64..1000, 0..40))
        .prop_map(|(lo, len, v)| Node::FusedMerge(lo, len, v));
    prop_oneof![10 => common, 1 => fused_merge].boxed()
}

/// A node of at most `depth` levels; `ordered`: its output order must be deterministic (it feeds
/// a `zip`), so no `merge` below it.
fn node(depth: u32, ordered: bool) -> BoxedStrategy<Node> {
    if depth == 0 {
        return leaf(ordered);
    }
    let sub = move |o: bool| node(depth - 1, o);
    let zip_hub = (
        sub(ordered),
        prefetch(),
        prop::collection::vec(
            (
                Just(Lane::Lossless),
                prop::collection::vec(lin(false), 0..3),
            ),
            2..=3,
        ),
    )
        .prop_map(|(input, prefetch, lanes)| Node::Broadcast {
            input: Box::new(input),
            prefetch,
            lanes,
            zip: true,
        });
    let common = prop_oneof![
        3 => leaf(ordered),
        3 => (sub(ordered), lin(true)).prop_map(|(n, l)| Node::Lin(Box::new(n), l)),
        2 => (sub(true), sub(true)).prop_map(|(a, b)| Node::Zip(Box::new(a), Box::new(b))),
        1 => prop::collection::vec(sub(true), 0..=3).prop_map(Node::ZipAll),
        2 => prop::collection::vec(sub(ordered), 0..=3).prop_map(Node::Concat),
        1 => (sub(ordered), sub(ordered)).prop_map(|(a, b)| Node::ConcatWith(Box::new(a), Box::new(b))),
        2 => zip_hub,
    ];
    if ordered {
        return common.boxed();
    }
    let merge_hub = (
        sub(false),
        prefetch(),
        prop::collection::vec((lane(), prop::collection::vec(lin(true), 0..3)), 1..=3),
    )
        .prop_map(|(input, prefetch, lanes)| Node::Broadcast {
            input: Box::new(input),
            prefetch,
            lanes,
            zip: false,
        });
    prop_oneof![
        6 => common,
        2 => prop::collection::vec(sub(false), 0..=3).prop_map(Node::Merge),
        2 => merge_hub,
    ]
    .boxed()
}

/// Mostly lossless; a lossy lane makes the graph's output a sub-multiset of the model's.
fn lane() -> impl Strategy<Value = Lane> {
    prop_oneof![
        6 => Just(Lane::Lossless),
        1 => Just(Lane::Latest),
        1 => (1usize..8).prop_map(Lane::DropOldest),
    ]
}

/// Whether some hub of the graph has a lossy lane.
fn lossy(node: &Node) -> bool {
    match node {
        Node::Range(..)
        | Node::Iter(_)
        | Node::FusedChain { .. }
        | Node::FusedMerge(..)
        | Node::FusedZip(..)
        | Node::FusedHub { .. } => false,
        Node::Lin(n, _) => lossy(n),
        Node::Zip(a, b) | Node::ConcatWith(a, b) => lossy(a) || lossy(b),
        Node::Merge(v) | Node::ZipAll(v) | Node::Concat(v) => v.iter().any(lossy),
        Node::Broadcast { input, lanes, .. } => {
            lossy(input) || lanes.iter().any(|(l, _)| *l != Lane::Lossless)
        }
    }
}

fn prefetch() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(7), Just(32), Just(256)]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        1 => Just(Request::Unbounded),
        3 => (1u64..=64).prop_map(Request::Batch),
    ]
}

// ---------------------------------------------------------------------------------------------
// The sink.

enum Event {
    Done(Result<(), Error>),
    Cancelled,
}

#[derive(Default)]
struct SinkLog {
    items: Mutex<Vec<u64>>,
    cancelled: AtomicBool,
    next_after_cancel: AtomicUsize,
    terminal_after_cancel: AtomicUsize,
    protocol: Mutex<Vec<String>>,
}

/// Requests as `Request` says (`Batch(n)`: `n` up front, `n - n/4` each time that many were
/// taken), cancels after `cancel_after` items, reports its first terminal or its cancel.
struct Sink {
    log: Arc<SinkLog>,
    events: mpsc::Sender<Event>,
    subscription: Option<SharedSubscription>,
    subscribed: bool,
    terminated: bool,
    limit: Option<u64>,
    taken: u64,
    cancel_after: Option<usize>,
    received: usize,
    _alive: Arc<()>,
}

impl Sink {
    fn cancel(&mut self) {
        self.log.cancelled.store(true, SeqCst);
        if let Some(s) = self.subscription.take() {
            s.cancel();
        }
        let _ = self.events.send(Event::Cancelled);
    }

    fn terminal(&mut self, result: Result<(), Error>) {
        if self.log.cancelled.load(SeqCst) {
            self.log.terminal_after_cancel.fetch_add(1, SeqCst);
            return;
        }
        if self.terminated {
            self.log
                .protocol
                .lock()
                .unwrap()
                .push("second terminal".into());
        }
        self.terminated = true;
        self.subscription = None;
        let _ = self.events.send(Event::Done(result));
    }
}

impl Subscriber<u64> for Sink {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.subscribed {
            self.log
                .protocol
                .lock()
                .unwrap()
                .push("second on_subscribe".into());
            subscription.cancel();
            return;
        }
        self.subscribed = true;
        self.subscription = Some(subscription.clone());
        if self.cancel_after == Some(0) {
            return self.cancel();
        }
        subscription.request(self.limit.unwrap_or(u64::MAX));
    }

    fn on_next(&mut self, item: u64) {
        if self.log.cancelled.load(SeqCst) {
            self.log.next_after_cancel.fetch_add(1, SeqCst);
            self.log.items.lock().unwrap().push(item);
            return;
        }
        if self.terminated {
            self.log
                .protocol
                .lock()
                .unwrap()
                .push("on_next after terminal".into());
        }
        self.log.items.lock().unwrap().push(item);
        self.received += 1;
        if self.cancel_after == Some(self.received) {
            return self.cancel();
        }
        if let (Some(limit), Some(s)) = (self.limit, &self.subscription) {
            self.taken += 1;
            if self.taken == limit {
                self.taken = 0;
                s.request(limit);
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        self.terminal(Err(error));
    }

    fn on_complete(&mut self) {
        self.terminal(Ok(()));
    }
}

// ---------------------------------------------------------------------------------------------
// One case.

fn released(weak: &Weak<()>) -> bool {
    let start = Instant::now();
    while weak.upgrade().is_some() {
        if start.elapsed() > RELEASE_WAIT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

/// Whether `small` is a sub-multiset of `big` (both sorted).
fn sub_multiset(small: &[u64], big: &[u64]) -> bool {
    let mut big = big.iter();
    small.iter().all(|x| big.any(|y| y == x))
}

fn run_case(
    graph: &Node,
    request: Request,
    cancel_after: Option<usize>,
) -> Result<(), TestCaseError> {
    let expected = sorted(model(graph));
    let audit = Arc::new(Audit::default());
    let log = Arc::new(SinkLog::default());
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let (events, rx) = mpsc::channel();
    let sink = Sink {
        log: log.clone(),
        events,
        subscription: None,
        subscribed: false,
        terminated: false,
        limit: match request {
            Request::Unbounded => None,
            Request::Batch(n) => Some(n),
        },
        taken: 0,
        cancel_after,
        received: 0,
        _alive: alive,
    };
    let (g, a) = (graph.clone(), audit.clone());
    // A helper thread: a synchronous graph runs inside `subscribe`, and a deadlocked one must not
    // hang the test.
    std::thread::spawn(move || build(&g, "root", &a).subscribe(sink));
    let event = match rx.recv_timeout(DEADLOCK_GUARD) {
        Ok(event) => event,
        Err(_) => {
            return Err(TestCaseError::fail(format!(
                "no terminal signal and no cancel within {DEADLOCK_GUARD:?} ({} items received)",
                log.items.lock().unwrap().len()
            )))
        }
    };
    prop_assert!(
        released(&weak),
        "the sink subscriber is still referenced after {RELEASE_WAIT:?}"
    );
    // From here on, no signal can reach the sink any more.
    let items = sorted(log.items.lock().unwrap().clone());
    prop_assert_eq!(
        audit.violations.load(SeqCst),
        0,
        "{:?}",
        audit.first.lock().unwrap()
    );
    prop_assert!(
        log.protocol.lock().unwrap().is_empty(),
        "{:?}",
        log.protocol.lock().unwrap()
    );
    match event {
        Event::Done(result) => {
            prop_assert!(result.is_ok(), "the graph failed: {:?}", result);
            if lossy(graph) {
                prop_assert!(
                    sub_multiset(&items, &expected),
                    "items the model does not produce"
                );
            } else {
                prop_assert_eq!(items.len(), expected.len());
                prop_assert_eq!(items, expected);
            }
        }
        Event::Cancelled => {
            // Every empty source (`range(a..a)`, `empty()`, `merge([])`, ...) completes through
            // `complete_now`: `on_subscribe` with a no-op subscription, then `on_complete`, even
            // when the subscriber cancelled inside `on_subscribe` (Reactor's `Operators.complete`
            // and RxJava's `EmptySubscription.complete` do the same; rule 1.08 allows it). Only
            // that case may see a terminal signal after the cancel.
            let empty_at_subscribe = cancel_after == Some(0) && expected.is_empty();
            if !empty_at_subscribe {
                prop_assert_eq!(
                    log.terminal_after_cancel.load(SeqCst),
                    0,
                    "a terminal signal after cancel"
                );
            }
            prop_assert!(
                sub_multiset(&items, &expected),
                "items the model does not produce ({} of them after the cancel)",
                log.next_after_cancel.load(SeqCst)
            );
        }
    }
    Ok(())
}

/// `cases`, times `PROP_GRAPHS_SCALE` when set (a longer soak: `PROP_GRAPHS_SCALE=20`).
fn config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("PROP_GRAPHS_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Properties 1, 2 and 3: demand on every edge, termination, the model's multiset.
    #[test]
    fn lossless_graphs_terminate_with_the_models_items(
        graph in node(3, false),
        request in request(),
    ) {
        run_case(&graph, request, None)?;
    }
}

proptest! {
    #![proptest_config(config(768))]

    /// Properties 1 and 2 with a cancel after a random number of items (or a terminal first,
    /// then the full check).
    #[test]
    fn cancelled_graphs_stop_cleanly(
        graph in node(3, false),
        request in request(),
        cancel_after in 0usize..300,
    ) {
        run_case(&graph, request, Some(cancel_after))?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Deeper graphs, fewer cases.
    #[test]
    fn deep_graphs(
        graph in node(4, false),
        request in request(),
        cancel_after in prop::option::of(0usize..500),
    ) {
        run_case(&graph, request, cancel_after)?;
    }
}
