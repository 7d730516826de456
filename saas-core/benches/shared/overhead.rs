//! What one layer costs per request: the same routes served by a baseline router and by a
//! router with the layer, measured in the same run. The layer-overhead benchmarks share it.
//!
//! Each case is measured twice:
//! 1. by criterion, baseline then layer (its reports and `scripts/bench-ratios.py`);
//! 2. in 60 alternating rounds (baseline, layer, layer, baseline, ...) so that both see the same
//!    load on a shared, noisy machine; the median of the per-round ratios is the figure to
//!    judge, since criterion's back-to-back runs can see different loads.

#![allow(dead_code)] // each benchmark uses some of it

use std::path::PathBuf;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use criterion::Criterion;
use http::Request;
use tower::ServiceExt;

/// One request shape to compare the routers on.
pub struct Case<'a> {
    /// The criterion group.
    pub group: &'static str,
    /// The `i`th request of a run.
    pub request: Box<dyn Fn(usize) -> Request<Body> + 'a>,
    /// Requests per alternating round (more for cheap requests, so a round lasts long
    /// enough to time).
    pub per_round: usize,
}

/// The two routers under comparison, with their names in criterion's reports.
pub struct Pair<'a> {
    pub baseline: (&'static str, &'a Router),
    pub measured: (&'static str, &'a Router),
}

/// How many alternating rounds to run.
const ROUNDS: usize = 60;

async fn answer(router: &Router, request: Request<Body>) {
    let response = router.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// Runs every case through criterion and then in alternating rounds, printing the ratios
/// (layer / baseline) of both.
pub fn compare(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    pair: &Pair<'_>,
    cases: &[Case<'_>],
) {
    for case in cases {
        let mut group = c.benchmark_group(case.group);
        for (name, router) in [pair.baseline, pair.measured] {
            let mut n = 0usize;
            group.bench_function(name, |b| {
                b.to_async(rt).iter(|| {
                    n += 1;
                    answer(router, (case.request)(n))
                })
            });
        }
        group.finish();
    }
    for case in cases {
        if let (Some(base), Some(measured)) = (
            criterion_median_ns(case.group, pair.baseline.0),
            criterion_median_ns(case.group, pair.measured.0),
        ) {
            println!(
                "{} (criterion medians): {} {base:.0} ns, {} {measured:.0} ns, ratio {:.3} \
                 (+{:.0} ns per request)",
                case.group,
                pair.baseline.0,
                pair.measured.0,
                measured / base,
                measured - base
            );
        }
    }
    for case in cases {
        let rounds = alternating(rt, pair, case);
        println!(
            "{} (alternating, {ROUNDS} rounds of {}): {} {:.0} ns, {} {:.0} ns, \
             median ratio {:.3}, interquartile {:.3}..{:.3} (+{:.0} ns per request)",
            case.group,
            case.per_round,
            pair.baseline.0,
            rounds.baseline_ns,
            pair.measured.0,
            rounds.measured_ns,
            rounds.ratio,
            rounds.ratio_quartiles.0,
            rounds.ratio_quartiles.1,
            rounds.measured_ns - rounds.baseline_ns
        );
    }
}

/// Medians over the alternating rounds.
pub struct Rounds {
    pub baseline_ns: f64,
    pub measured_ns: f64,
    /// The median of the per-round ratios.
    pub ratio: f64,
    /// Their first and third quartiles: how noisy the rounds were.
    pub ratio_quartiles: (f64, f64),
}

/// Per-request times of both routers in alternating rounds: which one goes first alternates
/// too, so neither always follows the other.
pub fn alternating(rt: &tokio::runtime::Runtime, pair: &Pair<'_>, case: &Case<'_>) -> Rounds {
    let per = case.per_round;
    let run = |router: &Router, offset: usize| {
        let start = Instant::now();
        rt.block_on(async {
            for i in 0..per {
                answer(router, (case.request)(offset + i)).await;
            }
        });
        start.elapsed().as_nanos() as f64 / per as f64
    };
    // Warm both (connections, caches) before timing.
    run(pair.baseline.1, 0);
    run(pair.measured.1, 0);
    let (mut base, mut measured, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let offset = round * per;
        let (b, m) = if round % 2 == 0 {
            let b = run(pair.baseline.1, offset);
            (b, run(pair.measured.1, offset))
        } else {
            let m = run(pair.measured.1, offset);
            (run(pair.baseline.1, offset), m)
        };
        base.push(b);
        measured.push(m);
        ratios.push(m / b);
    }
    Rounds {
        baseline_ns: quantile(&mut base, 0.5),
        measured_ns: quantile(&mut measured, 0.5),
        ratio: quantile(&mut ratios, 0.5),
        ratio_quartiles: (quantile(&mut ratios, 0.25), quantile(&mut ratios, 0.75)),
    }
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// Criterion's median estimate of `group/bench` from the last run, in nanoseconds.
pub fn criterion_median_ns(group: &str, bench: &str) -> Option<f64> {
    // Criterion writes under the target folder of the bench's working directory (its package)
    // unless CARGO_TARGET_DIR says otherwise.
    let mut roots = vec![PathBuf::from("target"), PathBuf::from("../target")];
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        roots.insert(0, PathBuf::from(dir));
    }
    roots.into_iter().find_map(|root| {
        let path = root
            .join("criterion")
            .join(group)
            .join(bench)
            .join("new/estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["median"]["point_estimate"].as_f64()
    })
}
