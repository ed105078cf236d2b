//! The shipped alert rules (`deploy/prometheus/alerts.yml`) pass `promtool check rules`, and their
//! unit tests (`deploy/prometheus/alerts_test.yml`) pass `promtool test rules`.
//!
//! promtool comes with Debian's `prometheus` package (`.ci/run` installs it and sets
//! `REQUIRE_PROMTOOL=1`). Without promtool these tests skip, loudly on stderr; with
//! `REQUIRE_PROMTOOL=1` a missing promtool fails them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// promtool, or `None` after saying loudly why the test is skipped. Panics when it is missing but
/// required.
fn promtool(test: &str) -> Option<PathBuf> {
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
    let message = format!(
        "\n!!! SKIPPED {test}: promtool not found (apt-get install prometheus, or set PROMTOOL); \
         set REQUIRE_PROMTOOL=1 to make this a failure !!!\n"
    );
    if let Ok(mut stderr) = std::fs::OpenOptions::new().write(true).open("/dev/stderr") {
        let _ = stderr.write_all(message.as_bytes());
    }
    None
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus")
}

fn run(promtool: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(deploy())
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_check_rules() {
    let Some(promtool) = promtool("alert_rules_pass_promtool_check_rules") else {
        return;
    };
    let text = run(&promtool, &["check", "rules", "alerts.yml"]);
    assert!(text.contains("SUCCESS: 4 rules found"), "{text}");
}

#[test]
fn alert_rules_pass_their_promtool_unit_tests() {
    let Some(promtool) = promtool("alert_rules_pass_their_promtool_unit_tests") else {
        return;
    };
    let text = run(&promtool, &["test", "rules", "alerts_test.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_rules_name_the_seed_alerts_and_backflow_metrics() {
    let rules = std::fs::read_to_string(deploy().join("alerts.yml")).unwrap();
    for alert in [
        "HighRejectionRate",
        "QueueNearCapacity",
        "HighDropRate",
        "StagePausedTooLong",
    ] {
        assert!(rules.contains(&format!("- alert: {alert}")), "{alert}");
    }
    // Every metric the rules read is one backflow exports (the built-in exposition's families).
    let registry = backflow::metrics::Registry::new();
    registry.stage("s", 1);
    let exposition = registry.prometheus();
    for metric in [
        "backflow_rejected_total",
        "backflow_received_total",
        "backflow_dropped_total",
        "backflow_buffered",
        "backflow_capacity",
        "backflow_paused",
    ] {
        assert!(rules.contains(metric), "{metric} unused");
        assert!(
            exposition.contains(&format!("# TYPE {metric} ")),
            "{metric} is not exported"
        );
    }
}
