//! Adaptive concurrency limits against a simulated service, on virtual time (seconds of wall
//! time for minutes of simulated traffic).
//!
//! The service (tests/sim_service): C = 50 workers, S = 10 ms mean service time (Erlang-32),
//! processor sharing past C, thrashing (×10) past 1.5·C, clients that give up after 5·S. It prints
//! goodput against offered load (0.5×–3× capacity) for no protection, a fixed limit of C, and
//! AIMD, Gradient2 and Vegas each with Netflix's defaults and configured for this service, then
//! follows each limit through a capacity halving and draws the configured three against the true
//! capacity in `target/adaptive.svg`.
//!
//! ```sh
//! cargo run --release --example adaptive
//! ```

#[path = "../tests/sim_service/mod.rs"]
mod sim_service;

use std::time::Duration;

use backflow::resilience::limit::{Fixed, Limit};
use plotters::prelude::*;
use sim_service::{limits, run, Scenario, Trace};

type Make = fn(&Scenario) -> Option<Box<dyn Limit>>;

/// `(name, make, drawn in the chart)`. The Netflix-default rows are the algorithms as Netflix
/// ships them; the others are configured for this service the way `tests/sim_service/limits.rs`
/// explains (one step per round trip for AIMD, a smoothed floor and a 10% latency budget for
/// Gradient2, a smoothed floor and draining probes for Vegas, a floor of 1 where Netflix has 20,
/// and growth only when calls reach the limit).
fn strategies() -> Vec<(&'static str, Make, bool)> {
    vec![
        ("unprotected", |_| None, false),
        (
            "fixed(C)",
            |s| Some(Box::new(Fixed::new(s.capacity))),
            false,
        ),
        (
            "AIMD, Netflix defaults",
            |s| Some(limits::aimd_per_call(s)),
            false,
        ),
        ("AIMD per round trip", |s| Some(limits::aimd(s)), true),
        (
            "Gradient2, Netflix defaults",
            |_| Some(limits::gradient2_defaults()),
            false,
        ),
        (
            "Gradient2, floor, tolerance 1.1",
            |_| Some(limits::gradient2()),
            true,
        ),
        (
            "Vegas, Netflix defaults",
            |s| Some(limits::vegas_defaults(s.seed)),
            false,
        ),
        (
            "Vegas, smoothed floor, draining probe",
            |s| Some(limits::vegas(s.seed)),
            true,
        ),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loads = [0.5, 1.0, 1.5, 2.0, 3.0];
    let seeds = 5;
    let warm = Duration::from_secs(1);
    println!(
        "goodput (successful calls/s; capacity C/S = 5000/s), mean of {seeds} seeds, 4 s each"
    );
    print!("| strategy |");
    for load in loads {
        print!(" {load}× |");
    }
    println!(" p99 at 2× |");
    println!("|---|{}---|", "---|".repeat(loads.len()));
    for (name, make, _) in strategies() {
        print!("| {name} |");
        let mut p99 = Duration::ZERO;
        for load in loads {
            let mut goodput = 0.0;
            for seed in 0..seeds {
                let s = Scenario::new(load, seed);
                let t = run(&s, make(&s));
                goodput += t.goodput(warm, s.duration) / seeds as f64;
                if load == 2.0 {
                    p99 = p99.max(t.latency_quantile(0.99, warm, s.duration));
                }
            }
            print!(" {goodput:.0} |");
        }
        println!(" {:.1} ms |", p99.as_secs_f64() * 1e3);
    }

    // A capacity halving at 3 s, at 2× the original offered load.
    let step = Duration::from_secs(3);
    let s = Scenario {
        capacity_step: Some((step, 25)),
        duration: Duration::from_secs(8),
        ..Scenario::new(2.0, 1)
    };
    let traces: Vec<(&str, Trace, bool)> = strategies()
        .into_iter()
        .skip(2)
        .map(|(name, make, drawn)| (name, run(&s, make(&s)), drawn))
        .collect();
    println!(
        "\nlimit through a capacity halving (50 → 25 at 3 s), mean over each second, and the \
         goodput of the last 3 s (capacity after the step: 2500/s):"
    );
    print!("| strategy |");
    for sec in 0..8 {
        print!(" {sec}–{} s |", sec + 1);
    }
    println!(" goodput 5–8 s |");
    println!("|---|{}", "---|".repeat(9));
    for (name, t, _) in &traces {
        print!("| {name} |");
        for sec in 0..8u64 {
            let mean = t.mean_limit(Duration::from_secs(sec), Duration::from_secs(sec + 1));
            print!(" {mean:.0} |");
        }
        let goodput = t.goodput(Duration::from_secs(5), s.duration);
        println!(" {goodput:.0} |");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/adaptive.svg");
    let drawn: Vec<(&str, Trace)> = traces
        .into_iter()
        .filter(|(_, _, drawn)| *drawn)
        .map(|(name, t, _)| (name, t))
        .collect();
    draw(&path, &s, &drawn)?;
    println!("\nchart: {}", path.display());
    Ok(())
}

fn draw(
    path: &std::path::Path,
    s: &Scenario,
    traces: &[(&str, Trace)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let end = s.duration.as_secs_f64();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "concurrency limit vs true capacity (capacity halves at 3 s, offered load 2×)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..end, 0.0..130.0)?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("limit (calls in flight)")
        .draw()?;
    let capacity: Vec<(f64, f64)> = (0..=800)
        .map(|i| {
            let t = i as f64 / 100.0;
            (t, s.capacity_at(Duration::from_secs_f64(t)) as f64)
        })
        .collect();
    chart
        .draw_series(LineSeries::new(capacity, BLACK.stroke_width(2)))?
        .label("true capacity C")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    let colours = [RED, BLUE, GREEN];
    for ((name, t), colour) in traces.iter().zip(colours) {
        // Downsample to one point per 10 ms of virtual time: the SVG stays small.
        let mut points = Vec::new();
        let mut next = 0.0;
        for &(at, limit) in &t.limits {
            let at = at.as_secs_f64();
            if at >= next {
                points.push((at, limit as f64));
                next = at + 0.01;
            }
        }
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(1)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}
