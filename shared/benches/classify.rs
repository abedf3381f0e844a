//! Classification cost per event: parse the raw event into signals and classify them with the
//! default rules — no I/O. Run with `cargo bench -p responder --bench classify` (`make bench`).
//! A plain timing loop (no criterion): it prints the median of several rounds per fixture.

use std::hint::black_box;
use std::time::{Duration, Instant};

use responder::rules::Rules;
use responder::sources::{self, Parsed};
use serde_json::Value;

const ROUNDS: usize = 15;
const TARGET_PER_ROUND: Duration = Duration::from_millis(40);

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/events");
    let rules = match Rules::embedded() {
        Ok(r) => r,
        Err(e) => panic!("embedded rules: {e}"),
    };
    let mut fixtures: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, text)
        })
        .collect();
    fixtures.sort();

    println!("per event, median of {ROUNDS} rounds (no I/O):");
    println!(
        "  {:<45} {:>10} {:>12} {:>10}",
        "fixture", "JSON parse", "+ classify", "total"
    );
    let (mut totals, mut ours) = (Vec::new(), Vec::new());
    for (name, text) in &fixtures {
        // What the Lambda runtime does before our handler runs: the payload into a `Value`.
        let parse =
            measure(|| serde_json::from_str::<Value>(text).map_or(0, |v| v.is_object() as usize));
        let total = measure(|| classify(&rules, text));
        let own = total.saturating_sub(parse);
        totals.push(total);
        ours.push(own);
        println!(
            "  {name:<45} {:>8.2} µs {:>9.2} µs {:>7.2} µs",
            us(parse),
            us(own),
            us(total)
        );
    }
    for list in [&mut totals, &mut ours] {
        list.sort();
    }
    let median = |l: &[Duration]| l.get(l.len() / 2).copied().unwrap_or_default();
    let worst = |l: &[Duration]| l.last().copied().unwrap_or_default();
    println!(
        "  over {} fixtures: classification (sources + rules) median {:.2} µs, worst {:.2} µs; \
         with the JSON parse median {:.2} µs, worst {:.2} µs",
        totals.len(),
        us(median(&ours)),
        us(worst(&ours)),
        us(median(&totals)),
        us(worst(&totals))
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn classify(rules: &Rules, text: &str) -> usize {
    let Ok(event) = serde_json::from_str::<Value>(text) else {
        return 0;
    };
    match sources::parse(&event) {
        Ok(Parsed::Signals(signals)) => signals
            .iter()
            .filter_map(|s| rules.classify(s))
            .map(|c| c.dedupe_key.len())
            .sum(),
        _ => 0,
    }
}

/// Median time of one call, over rounds sized to take about `TARGET_PER_ROUND` each.
fn measure(mut f: impl FnMut() -> usize) -> Duration {
    let start = Instant::now();
    let mut calibration = 0u32;
    while start.elapsed() < Duration::from_millis(10) {
        black_box(f());
        calibration += 1;
    }
    let per_call = start.elapsed() / calibration.max(1);
    let iterations =
        (TARGET_PER_ROUND.as_nanos() / per_call.as_nanos().max(1)).clamp(10, 1_000_000) as u32;
    let mut rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iterations {
                black_box(f());
            }
            t.elapsed() / iterations
        })
        .collect();
    rounds.sort();
    rounds[ROUNDS / 2]
}
