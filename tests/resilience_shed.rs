//! Priority shedding: the seed-002 rule, shedding order in a priority pool, and the `shed`
//! operator's drops and demand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use backflow::prelude::*;
use backflow::resilience::shed::{LoadShedder, Priority, PriorityPool};
use backflow::DropReason;

fn seed_002(load: &Arc<AtomicU64>) -> LoadShedder<Priority> {
    let l = load.clone();
    LoadShedder::new(move || l.load(Ordering::Relaxed) as f64 / 100.0)
        .above(0.70, Priority::Normal)
        .above(0.90, Priority::Critical)
}

#[test]
fn seed_002_rule_over_70_drop_low_over_90_only_critical() {
    let load = Arc::new(AtomicU64::new(0));
    let shedder = seed_002(&load);
    let all = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];
    let admitted = |pct| {
        load.store(pct, Ordering::Relaxed);
        all.iter().filter(|p| shedder.admits(p)).count()
    };
    assert_eq!(admitted(50), 4);
    assert_eq!(admitted(70), 4, "over 70%, not at");
    assert_eq!(admitted(71), 3);
    assert_eq!(admitted(90), 3);
    assert_eq!(admitted(91), 1);
    load.store(91, Ordering::Relaxed);
    assert_eq!(shedder.least_admitted(), Some(Priority::Critical));
}

#[test]
fn the_pool_sheds_the_lowest_class_first() {
    let pool = PriorityPool::new(10)
        .class(Priority::Low, 2)
        .class(Priority::Normal, 3)
        .class(Priority::Critical, 5);
    // Idle pool: low gets only its share, normal its share plus nothing of critical's.
    let low: Vec<_> = (0..2)
        .map(|_| pool.try_enter(Priority::Low).unwrap())
        .collect();
    assert!(pool.try_enter(Priority::Low).is_err());
    let normal: Vec<_> = (0..3)
        .map(|_| pool.try_enter(Priority::Normal).unwrap())
        .collect();
    assert!(
        pool.try_enter(Priority::Normal).is_err(),
        "critical's share stays free"
    );
    // Critical takes its share and nothing more is left.
    let critical: Vec<_> = (0..5)
        .map(|_| pool.try_enter(Priority::Critical).unwrap())
        .collect();
    assert!(pool.try_enter(Priority::Critical).is_err());
    assert_eq!(pool.utilisation(), 1.0);
    drop(low);
    // Freed low slots: critical may borrow them, low may retake its share...
    let borrowed = pool.try_enter(Priority::Critical).unwrap();
    let _low_again = pool.try_enter(Priority::Low).unwrap();
    // ...and then the pool is full again; the low class, not critical, is the one short.
    assert!(pool.try_enter(Priority::Low).is_err());
    assert_eq!(pool.in_use(&Priority::Critical), 6);
    drop((normal, critical, borrowed));
}

#[test]
fn a_higher_class_keeps_its_share_against_lower_borrowers() {
    let pool = PriorityPool::new(4)
        .class(Priority::Low, 0)
        .class(Priority::High, 2);
    let low: Vec<_> = (0..2)
        .map(|_| pool.try_enter(Priority::Low).unwrap())
        .collect();
    assert!(
        pool.try_enter(Priority::Low).is_err(),
        "high's 2 unused are kept"
    );
    let _h1 = pool.try_enter(Priority::High).unwrap();
    let _h2 = pool.try_enter(Priority::High).unwrap();
    drop(low);
}

#[test]
fn shed_drops_through_on_drop_counts_and_gives_credits_back() {
    let load = Arc::new(AtomicU64::new(80));
    let shedder = seed_002(&load);
    let stage = Arc::new(backflow::metrics::StageMetrics::new("ingest", 0));
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let priority = |x: &u32| match x % 4 {
        0 => Priority::Low,
        1 => Priority::Normal,
        2 => Priority::High,
        _ => Priority::Critical,
    };
    let out = backflow::range(0..40u32)
        .shed(&shedder, priority)
        .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
        .metrics(stage.clone())
        .collect_with(Request::Batch(3))
        .unwrap();
    assert_eq!(out.len(), 30, "every low item shed, the rest delivered");
    assert!(out.iter().all(|x| x % 4 != 0));
    assert_eq!(dropped.lock().unwrap().len(), 10);
    assert!(dropped
        .lock()
        .unwrap()
        .iter()
        .all(|(x, r)| x % 4 == 0 && *r == DropReason::Shed));
    assert_eq!(stage.snapshot().dropped.get(DropReason::Shed), 10);
    let registry = backflow::metrics::Registry::new();
    registry.register(stage);
    assert!(registry
        .prometheus()
        .contains(r#"backflow_dropped_total{stage="ingest",reason="shed"} 10"#));
}

#[test]
fn shed_replenishes_unfused_upstreams() {
    // A plain on_next upstream (no try_on_next fusion): each shed item must give its credit back.
    let load = Arc::new(AtomicU64::new(95));
    let shedder = seed_002(&load);
    let (sub, probe) = TestSubscriber::<u32>::new(2);
    backflow::range(0..100u32)
        .publish_on(backflow::sched::immediate())
        .shed(&shedder, |x| {
            if *x >= 50 {
                Priority::Critical
            } else {
                Priority::Low
            }
        })
        .subscribe(sub);
    probe
        .await_values(2, std::time::Duration::from_secs(10))
        .unwrap();
    assert_eq!(probe.values(), [50, 51]);
}
