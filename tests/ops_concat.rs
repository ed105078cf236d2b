//! `concat`, `concat_with`, `start_with`: demand carried across sources, trampolining, cancel.

use std::sync::{Arc, Mutex, Weak};

use backflow::prelude::*;

#[derive(Default)]
struct Log {
    items: Vec<u32>,
    completed: bool,
    error: Option<Error>,
}

struct Manual {
    log: Arc<Mutex<Log>>,
    sub: Arc<Mutex<Option<SharedSubscription>>>,
    _alive: Arc<()>,
}

type Probe = (
    Manual,
    Arc<Mutex<Log>>,
    Arc<Mutex<Option<SharedSubscription>>>,
    Weak<()>,
);

/// A subscriber that only records; the test drives demand through the returned handle.
fn manual() -> Probe {
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let m = Manual {
        log: Default::default(),
        sub: Default::default(),
        _alive: alive,
    };
    let (log, sub) = (m.log.clone(), m.sub.clone());
    (m, log, sub, weak)
}

impl Subscriber<u32> for Manual {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.sub.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, x: u32) {
        self.log.lock().unwrap().items.push(x)
    }
    fn on_error(&mut self, e: Error) {
        self.log.lock().unwrap().error = Some(e)
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().completed = true
    }
}

#[test]
fn demand_is_carried_across_sources() {
    let (m, log, sub, _) = manual();
    backflow::concat(vec![
        backflow::range(0..2u32),
        backflow::range(10..12),
        backflow::range(20..22),
    ])
    .subscribe(m);
    let s = sub.lock().unwrap().clone().unwrap();
    s.request(3);
    assert_eq!(log.lock().unwrap().items, vec![0, 1, 10]);
    s.request(1);
    assert_eq!(log.lock().unwrap().items, vec![0, 1, 10, 11]);
    assert!(!log.lock().unwrap().completed);
    s.request(2);
    let log = log.lock().unwrap();
    assert_eq!(log.items, vec![0, 1, 10, 11, 20, 21]);
    assert!(
        log.completed,
        "the last item used the last credit, completion follows"
    );
}

#[test]
fn many_empty_sources_do_not_grow_the_stack() {
    let sources: Vec<_> = (0..100_000u32)
        .map(|i| backflow::range(i..i + (i % 1000 == 0) as u32))
        .collect();
    let out = backflow::concat(sources).collect().unwrap();
    assert_eq!(out.len(), 100);
}

#[test]
fn an_error_ends_the_stream_and_later_sources_are_never_subscribed() {
    let late = Arc::new(Mutex::new(false));
    let l = late.clone();
    let failing = backflow::range(0..3u32)
        .map(|x| if x == 2 { panic!("no") } else { x })
        .boxed();
    let later = backflow::range(5..6u32)
        .map(move |x| {
            *l.lock().unwrap() = true;
            x
        })
        .boxed();
    let err = backflow::concat(vec![failing, later])
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(!*late.lock().unwrap());
}

#[test]
fn cancel_stops_and_releases_the_subscriber() {
    let (m, log, sub, alive) = manual();
    backflow::concat(vec![backflow::range(0..5u32), backflow::range(5..10)]).subscribe(m);
    let s = sub.lock().unwrap().clone().unwrap();
    s.request(6);
    s.cancel();
    s.request(10);
    assert_eq!(log.lock().unwrap().items, vec![0, 1, 2, 3, 4, 5]);
    assert!(!log.lock().unwrap().completed);
    assert!(alive.upgrade().is_none(), "rule 3.13");
}

#[test]
fn request_zero_reaches_the_active_source() {
    let (m, log, sub, _) = manual();
    backflow::concat(vec![backflow::range(0..5u32)]).subscribe(m);
    sub.lock().unwrap().clone().unwrap().request(0);
    assert_eq!(
        log.lock().unwrap().error.as_ref().unwrap().kind(),
        ErrorKind::InvalidDemand
    );
}

#[test]
fn unbounded_demand_stays_unbounded() {
    let out = backflow::concat((0..50u32).map(|i| backflow::range(i * 10..i * 10 + 10)))
        .collect_with(Request::Unbounded)
        .unwrap();
    assert_eq!(out, (0..500).collect::<Vec<_>>());
}

#[test]
fn batched_requests_across_sources_match_the_model() {
    for batch in [1, 2, 3, 5, 8] {
        let out = backflow::range(0..7u32)
            .concat_with(backflow::range(100..104u32))
            .start_with(vec![50u32, 51])
            .collect_with(Request::Batch(batch))
            .unwrap();
        assert_eq!(
            out,
            vec![50, 51, 0, 1, 2, 3, 4, 5, 6, 100, 101, 102, 103],
            "batch {batch}"
        );
    }
}

#[test]
fn empty_concat_completes() {
    let none: Vec<Flux<backflow::source::Range<u32>>> = Vec::new();
    assert!(backflow::concat(none).collect().unwrap().is_empty());
}
