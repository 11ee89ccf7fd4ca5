//! What pricing a generation costs the store's writer: finding a model's entry in the
//! built-in list (Langfuse's, 167 regexes) and computing the cost of its usage.
//!
//! `find_remembered` and `cost_*` are what the writer pays per generation once a name was
//! seen; `scan_*` is a first lookup, every entry's regex tried in order (the unknown name
//! tries all 167), which the list pays once per name.
//!
//! Run: `cargo bench -p observe-benches --bench pricing`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use observe_runtime::model::Usage;
use observe_runtime::pricing::{AttributeSource, PriceList, PricingAttributes};

fn pricing(c: &mut Criterion) {
    let list = PriceList::builtin();
    let chat = Usage::new(1_200, 300)
        .with("input_cached_tokens", 8_000)
        .with("output_reasoning_tokens", 50);
    let long = Usage::new(250_000, 1_000);
    let mut group = c.benchmark_group("pricing");
    group.bench_function("find_remembered", |b| {
        b.iter(|| black_box(list.find(black_box("gpt-4o-mini"))).is_some())
    });
    group.bench_function("cost_gpt-4o-mini", |b| {
        b.iter(|| list.cost(black_box("gpt-4o-mini"), black_box(&chat)))
    });
    group.bench_function("cost_gemini-2.5-pro_long_context", |b| {
        b.iter(|| list.cost(black_box("gemini-2.5-pro"), black_box(&long)))
    });
    group.bench_function("cost_gpt-5.4_flex_attributes", |b| {
        b.iter(|| {
            list.cost_with(black_box("gpt-5.4"), black_box(&chat), || {
                PricingAttributes::new().with(
                    AttributeSource::ModelParameters,
                    "service_tier",
                    "flex",
                )
            })
        })
    });
    for name in ["gpt-4o", "gemini-3.5-flash-lite", "unknown-model"] {
        group.bench_function(format!("scan_{name}"), |b| {
            b.iter(|| {
                list.models()
                    .iter()
                    .position(|m| m.matches(black_box(name)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pricing);
criterion_main!(benches);
