//! Traces across services: two real HTTP services over loopback (an axum server behind
//! `PropagationLayer` and tower-http's `TraceLayer`, a reqwest client with
//! `with_propagation`), one trace; and interop with the OpenTelemetry SDK's propagators.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use observe_runtime::bridge::ObserveLayer;
use observe_runtime::export::memory::InMemory;
use observe_runtime::model::{Observation, ObservationType, SpanId, TraceId};
use observe_runtime::propagation::{Propagation, PropagationLayer, RequestBuilderExt};
use observe_runtime::{
    current_observation_id, current_trace_id, observe, update_current_trace, Client, TraceUpdate,
};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

const FLUSH: Duration = Duration::from_secs(30);

/// One in-memory client for both services (as a shared collector would be), and the bridge
/// installed once for the test binary.
fn client() -> &'static (Client, InMemory) {
    static CLIENT: OnceLock<(Client, InMemory)> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(ObserveLayer::new());
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        Client::in_memory()
    })
}

fn propagation() -> Propagation {
    Propagation::new()
        .baggage_metadata(["tenant"])
        .client(&client().0)
}

#[observe(name = "agent")]
async fn agent(question: String) -> String {
    {
        let _llm = tracing::info_span!(
            "llm",
            gen_ai.request.model = "gpt-4o-mini",
            gen_ai.usage.input_tokens = 20u64,
            gen_ai.usage.output_tokens = 5u64
        )
        .entered();
        // A transport crate's event is never recorded, even inside a trace.
        tracing::info!(target: "hyper::proto::h1::io", "flushed 120 bytes");
    }
    tokio::task::yield_now().await;
    format!("answer to {question}")
}

async fn serve() -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route(
            "/agent",
            axum::routing::get(|| async { agent("why".to_owned()).await }),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(PropagationLayer::new(propagation()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[observe(name = "api")]
async fn api(http: reqwest::Client, url: String) -> String {
    update_current_trace(
        TraceUpdate::new()
            .session_id("chat-7")
            .user_id("user-42")
            .tags(["two-services"])
            .metadata(json!({"tenant": "acme", "secret": "stays home"})),
    );
    text(http.get(url).with_propagation(&propagation())).await
}

async fn text(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// Flushes until the trace has `n` observations: the server ends its request span after the
/// client has read the response.
fn wait_for(memory: &InMemory, trace: TraceId, n: usize) -> Vec<Observation> {
    let deadline = Instant::now() + FLUSH;
    loop {
        client().0.flush(FLUSH);
        let obs = memory.trace(trace);
        if obs.len() >= n || Instant::now() > deadline {
            return obs;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn named<'a>(obs: &'a [Observation], name: &str) -> &'a Observation {
    obs.iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no `{name}` in {:#?}", names(obs)))
}

fn names(obs: &[Observation]) -> Vec<(String, Option<SpanId>, SpanId)> {
    obs.iter()
        .map(|o| (o.name.to_string(), o.parent_id, o.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_between_two_services_is_one_trace_with_the_attributes_on_both_sides() {
    let (client, memory) = client();
    let addr = serve().await;
    let answer = client
        .attach(api(reqwest::Client::new(), format!("http://{addr}/agent")))
        .await;
    assert_eq!(answer, "answer to why");

    client.flush(FLUSH);
    let root = memory
        .roots()
        .into_iter()
        .find(|o| o.name == "api")
        .expect("the caller's root");
    // api, request (tower-http), agent, llm; not tower-http's two DEBUG events.
    let obs = wait_for(memory, root.trace_id, 4);
    let request = named(&obs, "request");
    let handler = named(&obs, "agent");
    let llm = named(&obs, "llm");
    assert_eq!(request.parent_id, Some(root.id), "{:#?}", names(&obs));
    assert_eq!(handler.parent_id, Some(request.id));
    assert_eq!(llm.parent_id, Some(handler.id));
    assert_eq!(llm.kind, ObservationType::Generation);
    assert_eq!(llm.details().model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(llm.details().usage.as_ref().unwrap().get("total"), Some(25));
    assert_eq!(
        request.details().metadata["method"].as_str(),
        "\"GET\"",
        "the request span's fields are metadata"
    );
    assert!(
        obs.iter().all(|o| o.kind != ObservationType::Event),
        "events below INFO are not recorded by default: {:#?}",
        names(&obs)
    );
    assert!(
        obs.iter().all(|o| !o.name.contains("flushed")),
        "transport crates are never recorded"
    );
    for o in &obs {
        assert_eq!(o.trace.session_id.as_deref(), Some("chat-7"), "{}", o.name);
        assert_eq!(o.trace.user_id.as_deref(), Some("user-42"), "{}", o.name);
        assert_eq!(o.trace.tags, ["two-services"], "{}", o.name);
        let tenant = o.trace.metadata.get("tenant").map(|j| j.as_str());
        assert_eq!(tenant, Some("\"acme\""), "{}", o.name);
    }
    assert!(
        !handler.trace.metadata.contains_key("secret"),
        "only chosen metadata crosses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_baggage_only_the_trace_crosses() {
    let (client, memory) = client();
    let addr = serve().await;
    #[observe(name = "plain_caller")]
    async fn plain_caller(url: String) -> String {
        update_current_trace(TraceUpdate::new().user_id("not-sent"));
        text(reqwest::Client::new().get(url).with_trace_context()).await
    }
    client
        .attach(plain_caller(format!("http://{addr}/agent")))
        .await;
    client.flush(FLUSH);
    let root = memory
        .roots()
        .into_iter()
        .find(|o| o.name == "plain_caller")
        .unwrap();
    let obs = wait_for(memory, root.trace_id, 4);
    let handler = named(&obs, "agent");
    assert_eq!(handler.trace_id, root.trace_id);
    assert_eq!(handler.trace.user_id, None);
}

// ----------------------------------------------------------------------------------------
// Interop with the OpenTelemetry SDK.

fn sdk_tracer() -> opentelemetry_sdk::trace::SdkTracer {
    opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .build()
        .tracer("interop")
}

fn to_header_map(map: &HashMap<String, String>) -> http::HeaderMap {
    map.iter()
        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
        .collect()
}

fn to_hash_map(headers: &http::HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

#[observe(name = "continued")]
fn continued() -> (Option<TraceId>, Option<SpanId>) {
    (current_trace_id(), current_observation_id())
}

#[test]
fn a_traceparent_from_the_opentelemetry_sdk_is_continued() {
    let (client, memory) = client();
    let span = sdk_tracer().start("upstream");
    let sdk = span.span_context().clone();
    let cx = opentelemetry::Context::new().with_span(span);
    let mut carrier = HashMap::new();
    opentelemetry_sdk::propagation::TraceContextPropagator::new().inject_context(&cx, &mut carrier);

    let incoming = Propagation::new()
        .client(client)
        .extract(&to_header_map(&carrier));
    let (trace, id) = incoming.run(continued);
    let trace = trace.unwrap();
    assert_eq!(trace.to_bytes(), sdk.trace_id().to_bytes());
    client.flush(FLUSH);
    let obs = memory.trace(trace);
    let ours = obs.iter().find(|o| Some(o.id) == id).unwrap();
    assert_eq!(
        ours.parent_id.map(SpanId::to_bytes),
        Some(sdk.span_id().to_bytes()),
        "the SDK's span is the remote parent"
    );
}

#[test]
fn the_opentelemetry_sdk_continues_a_trace_from_observe() {
    let (client, _) = client();
    #[observe(name = "caller")]
    fn caller() -> (http::HeaderMap, TraceId, SpanId) {
        let p = Propagation::new().with_baggage();
        update_current_trace(TraceUpdate::new().session_id("s 1"));
        (
            p.headers(),
            current_trace_id().unwrap(),
            current_observation_id().unwrap(),
        )
    }
    let (headers, trace, parent) = client.in_scope(caller);
    let carrier = to_hash_map(&headers);

    let cx = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    let remote = cx.span().span_context().clone();
    assert!(remote.is_valid() && remote.is_remote() && remote.is_sampled());
    assert_eq!(remote.trace_id().to_bytes(), trace.to_bytes());
    assert_eq!(remote.span_id().to_bytes(), parent.to_bytes());
    let child = sdk_tracer().start_with_context("downstream", &cx);
    assert_eq!(child.span_context().trace_id().to_bytes(), trace.to_bytes());

    use opentelemetry::baggage::BaggageExt;
    let cx = opentelemetry_sdk::propagation::BaggagePropagator::new().extract(&carrier);
    assert_eq!(
        cx.baggage()
            .get("langfuse_session_id")
            .map(|v| v.as_str().to_owned()),
        Some("s 1".to_owned())
    );
}

#[test]
fn a_malformed_traceparent_starts_a_new_trace() {
    let (client, _) = client();
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", "00-zz-not-a-header-01".parse().unwrap());
    let incoming = Propagation::new().client(client).extract(&headers);
    assert_eq!(incoming.trace_id(), None);
    let (trace, _) = incoming.run(continued);
    assert!(trace.is_some(), "the handler still records, as a new trace");
}

/// A trace continued from elsewhere has a root whose parent is not in this process: the
/// OTLP encoding carries that parent's id, and the local store keeps and shows the trace.
#[test]
fn a_remote_parent_reaches_otlp_and_the_store() {
    use observe_runtime::export::otlp::{encode_batch, Resource};
    use observe_runtime::export::store::{Store, StoreExporter};
    use observe_runtime::export::Batch;
    use prost::Message;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let memory = InMemory::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .exporter(StoreExporter::open(&path).unwrap())
        .build();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            .parse()
            .unwrap(),
    );
    Propagation::new()
        .client(&client)
        .extract(&headers)
        .run(continued);
    client.flush(FLUSH);

    let obs = memory.observations();
    assert_eq!(obs.len(), 1);
    let batch = Batch {
        observations: vec![Box::new(obs[0].clone())],
        scores: vec![],
    };
    let request =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            encode_batch(&batch, &Resource::default()).as_slice(),
        )
        .unwrap();
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.parent_span_id, 0xb7ad6b7169203331u64.to_be_bytes());
    assert_eq!(
        span.trace_id,
        0x0af7651916cd43dd8448eb211c80319cu128.to_be_bytes()
    );

    let store = Store::open(&path).unwrap();
    let stored = store
        .trace_observations("0af7651916cd43dd8448eb211c80319c")
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].parent_id, Some(SpanId(0xb7ad6b7169203331)));
    let view = observe_runtime::view::render_trace(&stored, &Default::default());
    assert!(view.contains("continued"), "{view}");
}

/// What Langfuse sees of a call without baggage, the called service's own store sees too:
/// the trace, with no session or user, so that the session's and the user's totals leave
/// the call out in both. With baggage both count it.
#[test]
fn the_called_services_own_store_takes_the_attributes_it_received() {
    use observe_runtime::export::store::StoreExporter;

    #[observe(name = "ask")]
    fn ask(baggage: bool) -> http::HeaderMap {
        update_current_trace(TraceUpdate::new().session_id("chat-7").user_id("user-42"));
        carrying(baggage).headers()
    }
    fn carrying(baggage: bool) -> Propagation {
        if baggage {
            Propagation::new().with_baggage()
        } else {
            Propagation::new()
        }
    }
    for (baggage, expected) in [(false, None), (true, Some("chat-7"))] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("called.db");
        let called = Client::builder()
            .exporter(StoreExporter::open(&path).unwrap())
            .build();
        let (caller, _) = Client::in_memory();
        let headers = caller.in_scope(|| ask(baggage));
        let (trace, _) = carrying(baggage)
            .client(&called)
            .extract(&headers)
            .run(continued);
        called.flush(FLUSH);
        let db = rusqlite::Connection::open(&path).unwrap();
        let (id, session, user): (String, Option<String>, Option<String>) = db
            .query_row("SELECT id, session_id, user_id FROM traces", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap();
        assert_eq!(id, trace.unwrap().to_string(), "the caller's trace");
        assert_eq!(session.as_deref(), expected, "baggage: {baggage}");
        assert_eq!(
            user.as_deref(),
            expected.map(|_| "user-42"),
            "baggage: {baggage}"
        );
    }
}
