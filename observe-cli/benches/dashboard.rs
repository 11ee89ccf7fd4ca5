//! The default dashboard served over loopback from the `ui` bench's store (1M observations,
//! 100,000 sessions): its full load (the outline, then every widget's request, six at a
//! time as a browser sends them), the full load split by model and by user, and each
//! widget's request alone. The range is a custom 30 days that holds the whole store.
//! Figures are in BENCHMARKS.md.
//!
//! ```text
//! cargo bench -p observe-cli --bench dashboard -- --warm-up-time 1 --measurement-time 3
//! ```

use std::sync::Mutex;

use criterion::{criterion_group, criterion_main, Criterion};
use observe_cli::dashboard::Dashboard;

mod store_1m;
#[path = "support/ui_store.rs"]
mod ui_store;

/// 30 days ending just after the store's last trace.
const RANGE: &str = "range=custom&from=2025-12-03T04:00&to=2026-01-02T04:00";

/// Connections a browser opens to one host at once.
const BROWSER_CONNECTIONS: usize = 6;

fn dashboard(c: &mut Criterion) {
    let (api, client) = ui_store::serve();
    let get = |path: &str| -> serde_json::Value {
        let response = client.get(format!("{api}/{path}")).send().unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        serde_json::from_slice(&response.bytes().unwrap()).unwrap()
    };
    let widgets = Dashboard::builtin().widgets;
    // Every widget answers rows, not an error, so that a broken widget cannot bench fast.
    for (i, w) in widgets.iter().enumerate() {
        let answer = get(&format!("dashboard/widget/{i}?{RANGE}"));
        assert!(
            answer["error"].is_null(),
            "{}: {}",
            w.title,
            answer["error"]
        );
        // The server's own time for each widget, once: a first look before the samples.
        let elapsed = answer["elapsed_ms"].as_f64().unwrap_or(0.0);
        eprintln!("widget {i:2} {elapsed:>9.1} ms  {}", w.title);
    }
    let traces = get(&format!("dashboard/widget/0?{RANGE}"));
    assert_eq!(
        traces["rows"][0][0],
        store_1m::TRACES,
        "the range holds every trace"
    );

    let full_load = |filter: &str| {
        let outline = get(&format!("dashboard?{filter}"));
        let count = outline["widgets"].as_array().unwrap().len();
        let next = Mutex::new(0..count);
        std::thread::scope(|s| {
            for _ in 0..BROWSER_CONNECTIONS {
                s.spawn(|| loop {
                    let Some(i) = next.lock().unwrap().next() else {
                        break;
                    };
                    let answer = get(&format!("dashboard/widget/{i}?{filter}"));
                    assert!(answer["error"].is_null(), "{answer}");
                });
            }
        });
    };

    let mut group = c.benchmark_group("dashboard_1m_observations");
    group.sample_size(10);
    group.bench_function("full_load", |b| b.iter(|| full_load(RANGE)));
    let by_model = format!("{RANGE}&breakdown=model");
    group.bench_function("full_load_by_model", |b| b.iter(|| full_load(&by_model)));
    let by_user = format!("{RANGE}&breakdown=user");
    group.bench_function("full_load_by_user", |b| b.iter(|| full_load(&by_user)));
    for (i, w) in widgets.iter().enumerate() {
        let path = format!("dashboard/widget/{i}?{RANGE}");
        group.bench_function(format!("widget_{i:02}_{}", slug(&w.title)), |b| {
            b.iter(|| get(&path))
        });
    }
    group.finish();
}

/// A title as a benchmark name: lower case, words joined by `_`.
fn slug(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(5)
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_lowercase()
}

criterion_group!(benches, dashboard);
criterion_main!(benches);
