//! Adaptive concurrency limits against the simulated service (tests/sim_service), on virtual time.
//!
//! Every figure is over 20 seeds and judged on the worst 10% (the second-worst seed), as the
//! issue asks. The service: C = 50 workers, S = 10 ms mean, processor sharing past C, thrashing
//! past 1.5·C, clients that give up after 5·S (see `sim_service`).
//!
//! The algorithms are configured for this service the way a user would configure them for theirs
//! (each choice says why below); `netflix_defaults_measured` keeps the plain Netflix settings'
//! figures, which miss the bars here.

mod sim_service;

use std::time::Duration;

use backflow::resilience::limit::Limit;
use sim_service::limits::{aimd, aimd_per_call, gradient2, gradient2_defaults, vegas};
use sim_service::{run, Scenario, Trace};

const SEEDS: u64 = 20;
const C: usize = 50;

type Make = fn(&Scenario, u64) -> Box<dyn Limit>;

/// The protected configurations the bars are held to.
fn protected() -> [(&'static str, Make); 3] {
    [
        ("vegas", |_, seed| vegas(seed)),
        ("gradient2", |_, _| gradient2()),
        ("aimd", |s, _| aimd(s)),
    ]
}

/// The value at the worst 10% of `values` (higher is better): the second lowest of 20.
fn worst_decile(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[(values.len() / 10).saturating_sub(1)]
}

/// The value at the worst 10% of `values` (lower is better).
fn worst_decile_high(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| b.partial_cmp(a).unwrap());
    values[(values.len() / 10).saturating_sub(1)]
}

fn per_seed(
    load: f64,
    f: impl Fn(&Scenario, u64) -> Option<Box<dyn Limit>>,
) -> Vec<(Scenario, Trace)> {
    (0..SEEDS)
        .map(|seed| {
            let s = Scenario::new(load, seed);
            let t = run(&s, f(&s, seed));
            (s, t)
        })
        .collect()
}

#[test]
fn vegas_and_gradient2_settle_in_band_within_20c_completions() {
    let (low, high) = (C * 8 / 10, C * 13 / 10);
    for (name, make) in [
        ("vegas", (|_, seed| vegas(seed)) as Make),
        ("gradient2", |_, _| gradient2()),
    ] {
        let runs = per_seed(2.0, |s, seed| Some(make(s, seed)));
        let mut settled = 0;
        for (s, t) in &runs {
            // From the 20·C-th completion on, the limit stays inside [0.8·C, 1.3·C] to the end.
            let (lo, hi) = t.limit_range_after(20 * C);
            println!(
                "{name} seed {}: limit after {} completions in [{lo}, {hi}]",
                s.seed,
                20 * C
            );
            settled += (low <= lo && hi <= high) as u64;
            // No seed strays far: at worst 0.7·C, and never over the band.
            assert!(
                lo as f64 >= 0.7 * C as f64 && hi <= high,
                "{name} seed {}: [{lo}, {hi}]",
                s.seed
            );
        }
        println!("{name}: {settled} of {SEEDS} seeds settled in [{low}, {high}]");
        // The bar: the worst 10% settle too, so at most 2 seeds of 20 may miss.
        assert!(
            settled >= SEEDS - SEEDS / 10,
            "{name}: only {settled} of {SEEDS} seeds settled in [{low}, {high}]"
        );
    }
}

#[test]
fn protected_goodput_at_2x_load_and_unprotected_collapse() {
    let warm = Duration::from_secs(1);
    for (name, make) in protected() {
        let runs = per_seed(2.0, |s, seed| Some(make(s, seed)));
        let end = runs[0].0.duration;
        let cap = runs[0].0.capacity_rate();
        let goodput = worst_decile(runs.iter().map(|(_, t)| t.goodput(warm, end)).collect());
        let p99 = worst_decile_high(
            runs.iter()
                .map(|(_, t)| t.latency_quantile(0.99, warm, end).as_secs_f64())
                .collect(),
        );
        println!("{name} worst-decile goodput {goodput:.0}/s, p99 {p99:.4}s");
        assert!(
            goodput >= 0.9 * cap,
            "{name} goodput {goodput:.0}/s < 0.9·C/S = {:.0}",
            0.9 * cap
        );
        assert!(p99 <= 3.0 * 0.010, "{name} admitted p99 {p99:.4}s > 3·S");
    }

    // The baseline proves the harness discriminates: unprotected, the service thrashes.
    let bare = per_seed(2.0, |_, _| None);
    let end = bare[0].0.duration;
    let cap = bare[0].0.capacity_rate();
    let best_bare = bare
        .iter()
        .map(|(_, t)| t.goodput(warm, end))
        .fold(0.0f64, f64::max);
    assert!(
        best_bare < 0.5 * cap,
        "unprotected goodput {best_bare:.0}/s should collapse"
    );
}

#[test]
fn busy_service_at_1x_stays_protected() {
    // Not one of the bars: a guard on the failure the half-used growth rule showed here
    // (above). At exactly 1× a Poisson load leaves little to gain: a fixed limit of C keeps ~0.9.
    let warm = Duration::from_secs(1);
    for (name, make) in protected() {
        let runs = per_seed(1.0, |s, seed| Some(make(s, seed)));
        let cap = runs[0].0.capacity_rate();
        let goodput = worst_decile(
            runs.iter()
                .map(|(s, t)| t.goodput(warm, s.duration))
                .collect(),
        );
        println!("{name} worst-decile goodput at 1x {goodput:.0}/s");
        assert!(
            goodput >= 0.85 * cap,
            "{name} goodput {goodput:.0}/s at 1x < 0.85·C/S"
        );
    }
}

#[test]
fn aimd_time_averaged_limit_in_band() {
    for (name, make) in [
        ("aimd", aimd as fn(&Scenario) -> Box<dyn Limit>),
        ("aimd per call", aimd_per_call),
    ] {
        let runs = per_seed(2.0, |s, _| Some(make(s)));
        let means: Vec<f64> = runs
            .iter()
            .map(|(s, t)| t.mean_limit(s.time_for(20 * C), s.duration))
            .collect();
        let low = worst_decile(means.clone());
        let high = worst_decile_high(means);
        println!("{name} worst-decile mean limit {low:.1}..{high:.1}");
        assert!(
            low >= 0.7 * C as f64 && high <= 1.3 * C as f64,
            "{name} mean limit {low:.1}..{high:.1}"
        );
    }
}

#[test]
fn netflix_defaults_measured() {
    // Measured, not the 0.9·C/S bar: with Netflix's settings both ride up to the thrashing cliff
    // at 1.5·C before latency or drops stop them, then back off (AIMD ×0.9 per slow call,
    // Gradient2 at most ×0.5 per window: its long-term average follows the limit up, and its 1.5
    // tolerance is this service's cliff), so they keep 50–70% of capacity. The bound guards that.
    let warm = Duration::from_secs(1);
    for (name, runs) in [
        (
            "aimd per call",
            per_seed(2.0, |s, _| Some(aimd_per_call(s))),
        ),
        (
            "gradient2 defaults",
            per_seed(2.0, |_, _| Some(gradient2_defaults())),
        ),
    ] {
        let cap = runs[0].0.capacity_rate();
        let g = worst_decile(
            runs.iter()
                .map(|(s, t)| t.goodput(warm, s.duration))
                .collect(),
        );
        println!("{name} worst-decile goodput {g:.0}/s");
        assert!(g >= 0.45 * cap, "{name} goodput {g:.0}/s");
        for (_, t) in &runs {
            let (_, high) = t.limit_range_after(20 * C);
            // Each overshoots into the cliff (AIMD up to about 2·C) and comes back: no runaway.
            assert!(high < 3 * C, "{name} limit {high} ran away");
        }
    }
}

#[test]
fn limits_follow_a_capacity_halving() {
    let step = Duration::from_secs(2);
    let (low, high) = (0.8 * (C / 2) as f64, 1.3 * (C / 2) as f64);
    for (name, make) in protected() {
        let mut worst = Duration::ZERO;
        let mut goodputs = Vec::new();
        for seed in 0..SEEDS {
            let s = Scenario {
                capacity_step: Some((step, C / 2)),
                duration: Duration::from_secs(8),
                ..Scenario::new(2.0, seed)
            };
            let t = run(&s, Some(make(&s, seed)));
            let entered = t
                .limits
                .iter()
                .find(|&&(at, l)| at >= step && (low..=high).contains(&(l as f64)))
                .map(|&(at, _)| at - step);
            assert!(
                entered.is_some_and(|d| d <= Duration::from_secs(5)),
                "seed {seed}: {name} did not re-enter [{low}, {high}] within 5 s of the step ({entered:?})"
            );
            worst = worst.max(entered.unwrap());
            let late = t.mean_limit(step + Duration::from_secs(4), s.duration);
            assert!(
                (low..=high).contains(&late),
                "seed {seed}: {name} mean limit {late:.1} after the step"
            );
            goodputs.push(t.goodput(step + Duration::from_secs(4), s.duration));
        }
        println!("{name}: re-entered the halved band within {worst:?} on every seed");
        // A limit inside the band is not yet protection: the work abandoned at the cliff can hold
        // the service in collapse under a limit that looks right. The halved service must deliver.
        let halved_rate = (C / 2) as f64 / Scenario::new(2.0, 0).service.as_secs_f64();
        let goodput = worst_decile(goodputs);
        println!("{name}: worst-decile goodput after the halving {goodput:.0}/s");
        assert!(
            goodput >= 0.9 * halved_rate,
            "{name}: goodput {goodput:.0}/s after the halving < 0.9·C'/S"
        );
    }
}

#[test]
fn light_load_does_not_grow_the_limit_without_bound() {
    let mut makes: Vec<(&str, Make)> = protected().to_vec();
    makes.push(("aimd per call", |s, _| aimd_per_call(s)));
    makes.push(("gradient2 defaults", |_, _| gradient2_defaults()));
    for (name, make) in makes {
        let mut highest = 0;
        for seed in 0..SEEDS {
            let s = Scenario {
                duration: Duration::from_secs(8),
                ..Scenario::new(0.3, seed)
            };
            let t = run(&s, Some(make(&s, seed)));
            let (_, high) = t.limit_range_after(0);
            highest = highest.max(high);
            // At ρ = 0.3 about 15 calls are in flight: the "app-limited" rule stops growth.
            assert!(
                high <= 2 * C,
                "{name} seed {seed}: limit reached {high} at light load"
            );
            assert_eq!(
                t.rejected,
                t.rejected.min(t.offered / 100),
                "{name}: rejections at light load"
            );
        }
        println!("{name}: highest limit at ρ = 0.3 over {SEEDS} seeds: {highest}");
    }
}

#[test]
fn same_seed_same_trace() {
    let s = Scenario::new(2.0, 7);
    for (name, make) in protected() {
        assert_eq!(
            run(&s, Some(make(&s, 7))),
            run(&s, Some(make(&s, 7))),
            "{name}"
        );
    }
    assert_eq!(
        run(&s, Some(aimd_per_call(&s))),
        run(&s, Some(aimd_per_call(&s)))
    );
}
