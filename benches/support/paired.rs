//! Paired timing: ours and a peer timed in alternating pairs, one full run of each per pair, and
//! the figure is the median of the per-pair ratios.
//!
//! The cross-thread benches are bimodal on a 2-vCPU VM for *every* implementation, ours and the
//! peers alike, and the mode moves over time with nothing in the code changing (whether the
//! consumer chases the producer item by item or works a cache line behind it moves with where
//! the host places the two vCPUs). criterion times every sample of one function before the next
//! starts, so the two sides of a ratio can sample different modes seconds apart. Here each pair
//! times both within ~100 ms (ours first, then the peer; the other way round in the next pair),
//! so both sides see the same machine. [`run`] prints one line per pair and a summary per
//! comparison, and writes the summaries as JSON to `$CRITERION_HOME/<name>.json` (default
//! `target/criterion`), which `scripts/bench-report` reads.

use std::hint::black_box;
use std::time::Instant;

/// One comparison: `ours` against `peer`, each a full run returning a checksum.
pub struct Pairing {
    /// The key in the JSON summary (also printed).
    pub kind: &'static str,
    /// The peer's name, for the printed lines.
    pub peer_name: &'static str,
    pub ours: fn() -> u64,
    pub peer: fn() -> u64,
}

/// `kind`: `ours` against `peer_name`'s `peer`.
pub fn pairing(
    kind: &'static str,
    peer_name: &'static str,
    ours: fn() -> u64,
    peer: fn() -> u64,
) -> Pairing {
    Pairing {
        kind,
        peer_name,
        ours,
        peer,
    }
}

/// What every run of one bench's pairings moves.
pub struct Workload {
    /// Items per run, for the M/s figures.
    pub items: u64,
    /// The checksum every run must return.
    pub expected: u64,
}

/// Whether the paired step should run for this invocation: not in `--test`/`--list`/
/// `--profile-time` mode, and only if criterion's filter (a positional argument), if any,
/// passes `wanted`.
pub fn enabled(wanted: impl Fn(&str) -> bool) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listing = args
        .iter()
        .any(|a| a == "--test" || a == "--list" || a == "--profile-time");
    !listing && positional_filter(&args).map_or(true, wanted)
}

/// How many pairs to time: `var` from the environment, else `default` (0: skip).
pub fn pairs_from_env(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<usize>()
            .unwrap_or_else(|_| panic!("{var}={v:?}: expected a count")),
        _ => default,
    }
}

/// Times every pairing `pairs` times (after one untimed pair each), each run moving `work`, and
/// writes the summaries to `$CRITERION_HOME/<name>.json`.
pub fn run(name: &str, pairs: usize, work: Workload, pairings: &[Pairing]) {
    if pairs == 0 {
        return;
    }
    let mut summaries = Vec::new();
    for p in pairings {
        let kind = p.kind;
        let time = |run: fn() -> u64| {
            let started = Instant::now();
            assert_eq!(black_box(run()), work.expected, "{name}/{kind} lost items");
            started.elapsed().as_secs_f64()
        };
        let rate = |seconds: f64| work.items as f64 / seconds / 1e6;
        // One untimed pair first: thread start-up, page faults, the frequency ramp.
        time(p.ours);
        time(p.peer);
        let mut ratios = Vec::with_capacity(pairs);
        let (mut ours_s, mut peer_s) = (Vec::new(), Vec::new());
        for pair in 0..pairs {
            let (a, b) = if pair % 2 == 0 {
                let a = time(p.ours);
                (a, time(p.peer))
            } else {
                let b = time(p.peer);
                (time(p.ours), b)
            };
            ours_s.push(a);
            peer_s.push(b);
            ratios.push(b / a);
            println!(
                "{name}/{kind} pair {pair:>2}: backflow {:>6.1} M/s  {} {:>6.1} M/s  ratio {:.2}x",
                rate(a),
                p.peer_name,
                rate(b),
                b / a
            );
        }
        let ratio = median(&mut ratios.clone());
        let lower_quartile = quantile(&mut ratios.clone(), 0.25);
        let upper_quartile = quantile(&mut ratios.clone(), 0.75);
        let ahead = ratios.iter().filter(|r| **r >= 1.0).count();
        let (ours_median, peer_median) = (median(&mut ours_s.clone()), median(&mut peer_s));
        let ours_slowest = ours_s.iter().copied().fold(0.0, f64::max);
        println!(
            "{name}/{kind}: median ratio {ratio:.2}x (quartiles {lower_quartile:.2}-{upper_quartile:.2}), \
             ours ahead in {ahead} of {pairs} pairs; medians backflow {:.1} M/s, {} {:.1} M/s; \
             our slowest {:.1} M/s",
            rate(ours_median),
            p.peer_name,
            rate(peer_median),
            rate(ours_slowest)
        );
        summaries.push(format!(
            "\"{kind}\": {{\"pairs\": {pairs}, \"peer\": \"{}\", \"median_ratio\": {ratio}, \
             \"lower_quartile\": {lower_quartile}, \"upper_quartile\": {upper_quartile}, \
             \"ours_ahead\": {ahead}, \"ours_median_s\": {ours_median}, \"peer_median_s\": \
             {peer_median}, \"ours_slowest_s\": {ours_slowest}, \"items\": {}}}",
            p.peer_name, work.items
        ));
    }
    let home = std::env::var("CRITERION_HOME").unwrap_or_else(|_| "target/criterion".into());
    let _ = std::fs::create_dir_all(&home);
    let path = std::path::Path::new(&home).join(format!("{name}.json"));
    std::fs::write(&path, format!("{{{}}}\n", summaries.join(", ")))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// criterion's positional filter among the bench's arguments, if any (the value of an option
/// such as `--warm-up-time 1` is not one).
fn positional_filter(args: &[String]) -> Option<&str> {
    // criterion 0.5's options that take a value.
    const VALUED: [&str; 16] = [
        "--color",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
        "--profile-time",
        "--format",
    ];
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if VALUED.contains(&arg.as_str()) {
            rest.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// The `q` quantile, interpolated linearly between the two nearest ranks (so the median of an even
/// count is the mean of the middle two, not the upper one of them, which read high).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = (values.len() - 1) as f64 * q;
    let (below, above) = (rank.floor() as usize, rank.ceil() as usize);
    values[below] + (values[above] - values[below]) * (rank - below as f64)
}

fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}
