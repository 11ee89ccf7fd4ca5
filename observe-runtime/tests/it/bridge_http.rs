//! The bridge on an HTTP server: traces started by tower-http's request spans are named
//! after the route and take the input and output the handler sets, and a
//! `PropagationLayer` put inside `TraceLayer` says so. A real axum server and a reqwest
//! client over loopback, on a current-thread runtime, so that the subscriber set for this
//! thread sees every span of both sides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{MatchedPath, Path};
use observe_runtime::bridge::ObserveLayer;
use observe_runtime::model::Observation;
use observe_runtime::propagation::{Propagation, PropagationLayer};
use observe_runtime::{update_current_trace, Client, TraceUpdate};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt;

const FLUSH: Duration = Duration::from_secs(30);

/// The handler as the README shows it: what the turn was asked and answered, on the trace.
async fn chat(Path(id): Path<String>, question: String) -> String {
    update_current_trace(TraceUpdate::new().input(&json!({"question": question})));
    let answer = format!("chat {id}: noted");
    update_current_trace(TraceUpdate::new().output(&json!({"answer": answer})));
    answer
}

/// tower-http's `TraceLayer` with the route on its span, as the README's recipe has it.
fn trace_layer() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&http::Request<axum::body::Body>) -> tracing::Span + Clone,
> {
    tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &http::Request<axum::body::Body>| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map(|path| path.as_str().to_owned());
            tracing::info_span!(
                "request",
                http.request.method = %request.method(),
                http.route = route.as_deref(),
            )
        },
    )
}

/// Serves `app` on loopback, sends `request` to `path`, and returns the answer's text.
async fn serve_and_call(
    app: axum::Router,
    path: &str,
    request: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let response = request(http.post(format!("http://{addr}{path}")))
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

/// Runs `f` on a current-thread runtime with `subscriber` as this thread's default.
fn on_this_thread<T>(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
    f: impl std::future::Future<Output = T>,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || runtime.block_on(f))
}

fn wait_for_root(
    client: &Client,
    memory: &observe_runtime::export::memory::InMemory,
) -> Observation {
    // The server ends its request span after the answer is written, which the client may
    // have read first: flushed until the root is there (bounded by the flushes' deadline).
    for _ in 0..100 {
        client.flush(FLUSH);
        if let Some(root) = memory.roots().into_iter().next() {
            return root;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no root in {:?}", memory.observations());
}

/// The bridge, with tower-http's `request` spans starting traces in `client`.
fn requests_start_traces(client: &Client) -> impl tracing::Subscriber + Send + Sync {
    let layer = ObserveLayer::new()
        .start_traces_for_name("request")
        .client(client);
    tracing_subscriber::registry().with(layer)
}

#[test]
fn a_request_trace_is_named_after_its_route_and_carries_the_handlers_input_and_output() {
    let (client, memory) = Client::in_memory();
    let app = axum::Router::new()
        .route("/chat/{id}", axum::routing::post(chat))
        .layer(trace_layer());
    let answer = on_this_thread(
        requests_start_traces(&client),
        serve_and_call(app, "/chat/42", |r| r.body("where is my parcel?")),
    );
    assert_eq!(answer, "chat 42: noted");
    let root = wait_for_root(&client, &memory);
    assert_eq!(root.name, "POST /chat/{id}", "named `{{method}} {{route}}`");
    assert_eq!(
        root.trace.input.as_ref().map(|j| j.as_str()),
        Some(r#"{"question":"where is my parcel?"}"#)
    );
    assert_eq!(
        root.trace.output.as_ref().map(|j| j.as_str()),
        Some(r#"{"answer":"chat 42: noted"}"#)
    );
    assert_eq!(
        root.details().metadata["http.route"].as_str(),
        r#""/chat/{id}""#
    );
}

#[test]
fn otel_name_wins_over_the_route() {
    let (client, memory) = Client::in_memory();
    let app = axum::Router::new()
        .route("/chat/{id}", axum::routing::post(chat))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |_: &http::Request<axum::body::Body>| {
                    tracing::info_span!(
                        "request",
                        otel.name = "chat turn",
                        http.route = "/chat/{id}"
                    )
                },
            ),
        );
    on_this_thread(
        requests_start_traces(&client),
        serve_and_call(app, "/chat/7", |r| r.body("hi")),
    );
    assert_eq!(wait_for_root(&client, &memory).name, "chat turn");
}

/// Every event's message, as a `fmt` layer would print them.
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Messages {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), message.0));
    }
}

#[test]
fn propagation_inside_the_trace_layer_is_refused_loudly() {
    let (client, _memory) = Client::in_memory();
    let messages = Messages::default();
    let subscriber = tracing_subscriber::registry()
        .with(ObserveLayer::new().client(&client))
        .with(messages.clone());
    // The wrong order: the last `.layer` is outermost, so TraceLayer wraps PropagationLayer.
    let app = axum::Router::new()
        .route("/chat/{id}", axum::routing::post(chat))
        .layer(PropagationLayer::new(Propagation::new().client(&client)))
        .layer(trace_layer());
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = on_this_thread(
        subscriber,
        serve_and_call(app, "/chat/1", |r| {
            r.header("traceparent", traceparent).body("hello")
        }),
    );
    assert_eq!(answer, "chat 1: noted", "the request is still served");
    let messages = messages.0.lock().unwrap();
    assert!(
        messages
            .iter()
            .any(|(level, m)| *level == tracing::Level::ERROR
                && m.contains("PropagationLayer runs inside a layer that opened a span")
                && m.contains("outermost")),
        "{messages:?}"
    );
}
