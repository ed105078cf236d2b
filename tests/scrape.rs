//! The demo's live scrape: `producer_consumer --serve 127.0.0.1:0` serves `/metrics` while its
//! strategies run. This starts the example binary, scrapes it twice over HTTP, checks that the
//! counters grew and that the text passes `promtool check metrics`.
//!
//! The example is built with `cargo build --example producer_consumer` (a no-op when `cargo test`
//! has built it already), bounded in time; the child is killed when the test ends, pass or fail.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Bounds for "does not hang" only; nothing here asserts speed.
const BUILD_LIMIT: Duration = Duration::from_secs(900);
const START_LIMIT: Duration = Duration::from_secs(120);

/// Kills and reaps the child however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` at most `limit`; kills it past that.
fn wait_bounded(child: Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let mut child = Killed(child);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} took longer than {limit:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The example binary of this test's profile, built if needed.
fn example_binary() -> PathBuf {
    // target/<profile>/deps/scrape-<hash> → target/<profile>/examples/producer_consumer
    let profile_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_path_buf();
    let release = profile_dir
        .file_name()
        .is_some_and(|name| name == "release");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--example", "producer_consumer", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "CARGO_TARGET_DIR",
            profile_dir.parent().expect("the target directory"),
        );
    if release {
        build.arg("--release");
    }
    // The features this test was built with: the example `cargo test` built is then up to date,
    // and the build below is a no-op instead of a rebuild of the crate with other features.
    let features: Vec<&str> = [
        ("tokio", cfg!(feature = "tokio")),
        ("metrics", cfg!(feature = "metrics")),
        ("tck", cfg!(feature = "tck")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    if !features.is_empty() {
        build.args(["--features", &features.join(",")]);
    }
    let status = wait_bounded(
        build.spawn().expect("cargo runs"),
        BUILD_LIMIT,
        "building the example",
    );
    assert!(
        status.success(),
        "cargo build --example producer_consumer failed"
    );
    let binary = profile_dir
        .join("examples")
        .join(format!("producer_consumer{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "{} not built", binary.display());
    binary
}

fn scrape(address: &str) -> String {
    let response = ureq::get(&format!("http://{address}/metrics"))
        .timeout(Duration::from_secs(10))
        .call()
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.content_type().starts_with("text/plain"),
        "{}",
        response.content_type()
    );
    response.into_string().expect("a text body")
}

/// Every counter sample (`*_total`), by its whole series name and labels.
fn counters(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            series
                .split('{')
                .next()
                .is_some_and(|n| n.ends_with("_total"))
        })
        .map(|(series, value)| (series.to_string(), value.parse().expect("a number")))
        .collect()
}

fn total(counters: &HashMap<String, f64>, metric: &str) -> f64 {
    counters
        .iter()
        .filter(|(series, _)| series.starts_with(&format!("{metric}{{")))
        .map(|(_, v)| v)
        .sum()
}

/// promtool, or `None` after saying loudly why that check is skipped; panics when it is missing
/// but `REQUIRE_PROMTOOL=1`.
fn promtool() -> Option<PathBuf> {
    let candidate = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("promtool"));
    let found = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        return Some(candidate);
    }
    if std::env::var("REQUIRE_PROMTOOL").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_PROMTOOL=1 but promtool was not found (install Debian's `prometheus`)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!`.
    if let Ok(mut stderr) = std::fs::OpenOptions::new().write(true).open("/dev/stderr") {
        let _ = stderr.write_all(
            b"\n!!! SKIPPED promtool check metrics in scrape: promtool not found (apt-get install \
              prometheus); set REQUIRE_PROMTOOL=1 to make this a failure !!!\n",
        );
    }
    None
}

#[test]
fn the_demo_serves_growing_metrics_that_promtool_accepts() {
    let binary = example_binary();
    let mut child = Killed(
        Command::new(binary)
            .args(["--serve", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example starts"),
    );
    // The first line names the bound address; the rest is drained so the demo never blocks.
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(rest) = line.strip_prefix("serving http://") {
                    let _ = tx.send(rest.trim_end_matches("/metrics").to_string());
                    sent = true;
                }
            }
        }
    });
    let address = rx
        .recv_timeout(START_LIMIT)
        .expect("the demo printed its address");

    // Wait until a strategy with metrics has run a while (the first has none).
    let deadline = Instant::now() + START_LIMIT;
    let first = loop {
        let text = scrape(&address);
        let seen = counters(&text);
        if total(&seen, "backflow_received_total") > 0.0 {
            break seen;
        }
        assert!(Instant::now() < deadline, "no traffic counted:\n{text}");
        thread::sleep(Duration::from_millis(200));
    };
    thread::sleep(Duration::from_millis(1500));
    let text = scrape(&address);
    let second = counters(&text);

    // Counters never go back, and the traffic ones grew.
    for (series, before) in &first {
        let after = second.get(series).copied().unwrap_or(f64::NAN);
        assert!(after >= *before, "{series}: {before} then {after}");
    }
    for metric in ["backflow_received_total", "backflow_emitted_total"] {
        assert!(
            total(&second, metric) > total(&first, metric),
            "{metric} did not grow: {} then {}",
            total(&first, metric),
            total(&second, metric)
        );
    }
    assert!(text.contains("# TYPE backflow_buffered gauge"));

    if let Some(promtool) = promtool() {
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool runs");
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics:\n{}{}\n--- the text ---\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
