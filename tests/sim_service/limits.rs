//! The limit configurations the test (`tests/resilience_adaptive.rs`) holds to the bars and
//! the example (`examples/adaptive.rs`) tabulates: one definition, so the two never drift apart.
//! Each is configured for this service the way a user would configure it for theirs; the choices
//! say why. The `*_defaults` / `aimd_per_call` ones are Netflix's settings, for comparison.
#![allow(dead_code)]

use backflow::resilience::limit::{Aimd, Gradient2, Limit, Vegas, Windowed};

use super::Scenario;

// All three configured algorithms grow only when calls reach the limit (`app_limited_ratio(1)`,
// TCP's rule), not once half of it is used (Netflix's): at 1× load the service is busy but shows
// no queue, so under the half-used rule the limit climbs to twice the ~50 calls in flight, past
// the cliff at 75, and the next Poisson burst breaks the service (Vegas with an accurate floor
// kept 15% of capacity there on the worst seeds). See `busy_service_at_1x_stays_protected`.

/// AIMD as TCP runs it: one step per round trip of the limit (+1, or one ×0.9 however many calls
/// of the round trip were slow), where per call a single slow round trip backs off dozens of times
/// and crashes to the floor. It hears latency only through its timeout, set between the healthy
/// and the overloaded RTT. Floor 1, not Netflix's 20: after the capacity halves, the work the
/// clients abandoned at the cliff keeps the service thrashing while `2 × limit > 1.5 × C'`, so a
/// floor of 20 (0.8·C') would hold the service in that collapse.
pub fn aimd(s: &Scenario) -> Box<dyn Limit> {
    Box::new(
        Windowed::new(
            Aimd::new(20)
                .min_limit(1)
                .app_limited_ratio(1.0)
                .timeout(s.service.mul_f64(1.2)),
            10,
        )
        .per_round_trip(),
    )
}

/// Netflix's AIMD, per call: the time-averaged bar holds, goodput does not.
pub fn aimd_per_call(s: &Scenario) -> Box<dyn Limit> {
    Box::new(Aimd::new(20).timeout(s.service.mul_f64(1.2)))
}

/// One averaged sample per round trip of the limit, as TCP Vegas measures; the no-load RTT from
/// the minimum of an average of about 20 windows (`2 / 0.1`): the minimum of single windows sits a
/// few of their standard deviations (2.5% each here) under the true floor, which Vegas reads as a
/// queue and answers by holding the limit under C; and probes that drain the queue they measure,
/// where Netflix's probe takes a queued window for the floor and ratchets the limit toward the
/// cliff (after the capacity halves, where the cliff is 12 calls above C', that cost up to 2/3
/// of the goodput on some seeds).
pub fn vegas(seed: u64) -> Box<dyn Limit> {
    Box::new(
        Windowed::new(
            Vegas::new(20)
                .seed(seed)
                .noload_smoothing(0.1)
                .drain_probe(true)
                .app_limited_ratio(1.0),
            10,
        )
        .per_round_trip(),
    )
}

/// Gradient2 against a floor, not its long-term average (which follows the limit up into the
/// cliff), with a tolerance this service can bear: its latency reaches 1.5× only at the cliff, so
/// Netflix's 1.5 would never see trouble before it. With a floor the limit settles near
/// `tolerance × C + queue_size` = 59, inside [0.8·C, 1.3·C] for any tolerance in [1, 1.22]; 1.1
/// is a 10% latency budget. Floor 1 for the reason given at [`aimd`].
pub fn gradient2() -> Box<dyn Limit> {
    Box::new(
        Windowed::new(
            Gradient2::new(20)
                .min_limit(1)
                .baseline_min(0.1)
                .tolerance(1.1)
                .app_limited_ratio(1.0),
            10,
        )
        .per_round_trip(),
    )
}

/// Netflix's Gradient2 defaults, windowed per round trip as above.
pub fn gradient2_defaults() -> Box<dyn Limit> {
    Box::new(Windowed::new(Gradient2::new(20), 10).per_round_trip())
}

/// Netflix's Vegas defaults, windowed per round trip.
pub fn vegas_defaults(seed: u64) -> Box<dyn Limit> {
    Box::new(Windowed::new(Vegas::new(20).seed(seed), 10).per_round_trip())
}
