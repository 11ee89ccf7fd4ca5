//! `observe ui` endpoints served over loopback from a store of 1M observations: the sessions
//! list (100k sessions; the newest holds the big trace), a filtered list, the users page
//! (1,000 users of 100 traces each), and a trace of 5,000 observations. Figures are in BENCHMARKS.md.
//!
//! The store is generated with SQL once and kept at `target/ui-bench/store-1m-v<schema>.db`.
//!
//! ```text
//! cargo bench -p observe-cli --bench ui -- --warm-up-time 1 --measurement-time 3
//! ```

mod store_1m;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "support/ui_store.rs"]
mod ui_store;
use store_1m::{big_trace_id, BIG_TRACE};
use ui_store::serve;

fn endpoints(c: &mut Criterion) {
    let (api, client) = serve();
    let get = |path: &str| {
        let response = client.get(format!("{api}/{path}")).send().unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.bytes().unwrap().len()
    };
    // What each request returns, so a broken endpoint cannot bench fast.
    let users = get("users");
    assert!(users > 1000 * 100, "the users page: {users} bytes");
    let trace = get(&format!("trace/{}", big_trace_id()));
    assert!(
        trace > BIG_TRACE as usize * 100,
        "the big trace: {trace} bytes"
    );

    let mut group = c.benchmark_group("ui_1m_observations");
    group.sample_size(20);
    group.bench_function("sessions_first_page", |b| b.iter(|| get("sessions")));
    group.bench_function("sessions_user_filter", |b| {
        b.iter(|| get("sessions?user=user_7"))
    });
    group.bench_function("sessions_errors_filter", |b| {
        b.iter(|| get("sessions?errors=1"))
    });
    group.bench_function("users", |b| b.iter(|| get("users")));
    let path = format!("trace/{}", big_trace_id());
    group.bench_function("trace_5000_observations", |b| b.iter(|| get(&path)));
    group.finish();
}

criterion_group!(benches, endpoints);
criterion_main!(benches);
