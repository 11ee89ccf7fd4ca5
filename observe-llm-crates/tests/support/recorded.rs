//! A workflow run against the fake provider with `ObserveLayer` installed, and what it
//! recorded; the checks both crates' tests make of it.

use std::future::Future;
use std::time::Duration;

use observe_runtime::bridge::ObserveLayer;
use observe_runtime::genai::usage_keys;
use observe_runtime::model::{Json, Level, Observation, Usage};
use observe_runtime::Client;
use tracing_subscriber::layer::SubscriberExt;

use super::openai_fake::FakeOpenAi;

/// Installs the bridge as the process's subscriber (once per test binary: call it from the
/// binary's one test), starts the fake, runs `workflow(base_url)` in an in-memory client's
/// scope on a two-thread runtime, and returns its output with every observation recorded.
pub fn run_recorded<F: Future>(
    workflow: impl FnOnce(String) -> F,
) -> (F::Output, Vec<Observation>) {
    let subscriber = tracing_subscriber::registry().with(ObserveLayer::new());
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    let (client, memory) = Client::in_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let output = runtime.block_on(async {
        let fake = FakeOpenAi::start().await;
        client.attach(workflow(fake.base_url())).await
    });
    client.flush(Duration::from_secs(30));
    (output, memory.observations())
}

/// The fake's usage ([`super::openai_fake::usage`]) as Langfuse counts it: the cached and
/// reasoning tokens apart from input and output.
pub fn assert_fake_usage(usage: Option<&Usage>) {
    let usage = usage.expect("usage");
    assert_eq!(
        usage.get("input"),
        Some(20),
        "120 prompt tokens, 100 cached"
    );
    assert_eq!(usage.get(usage_keys::INPUT_CACHED), Some(100));
    assert_eq!(
        usage.get("output"),
        Some(15),
        "40 completion tokens, 25 reasoning"
    );
    assert_eq!(usage.get(usage_keys::OUTPUT_REASONING), Some(25));
    assert_eq!(usage.get("total"), Some(160));
}

/// The observation of the call the fake refused: level ERROR, with the HTTP status in its
/// status message.
pub fn assert_refused(refused: &Observation) {
    assert_eq!(refused.level, Level::Error, "{}", refused.name);
    let message = refused.details().status_message.as_deref();
    assert!(message.is_some_and(|m| m.contains("429")), "{message:?}");
}

/// A JSON field's text, empty when absent.
pub fn json_text(value: Option<&Json>) -> &str {
    value.map(|j| j.as_str()).unwrap_or_default()
}
