//! Two services, one trace: an API service calls an agent service over HTTP, and the
//! session view shows each request as a single tree spanning both.
//!
//! Both services run in this process on loopback ports, as two axum servers would run in
//! two processes: the API's `#[observe]` handler adds the W3C `traceparent` (and, opted in,
//! the session and user in `baggage`) to its reqwest call; the agent's `PropagationLayer`
//! continues that trace, tower-http's `TraceLayer` spans join it through the `tracing`
//! bridge, and so does the agent's `#[observe]` code. No keys needed: the observations are
//! kept in memory and printed as the session tree.
//!
//! Run: `cargo run --example two_services`

use std::time::Duration;

use observe_runtime::bridge::ObserveLayer;
use observe_runtime::model::{Cost, Usage};
use observe_runtime::propagation::{Propagation, PropagationLayer, RequestBuilderExt};
use observe_runtime::view::{render_session, ViewOptions};
use observe_runtime::{
    observe, update_current_observation, update_current_trace, Client, ObservationUpdate,
    TraceUpdate,
};
use tracing_subscriber::layer::SubscriberExt;

const SESSION: &str = "support_chat_1";

/// What crosses between the services: the trace context, plus session and user in baggage.
/// Without `with_baggage()` only the trace crosses: the agent's observations would carry no
/// session or user, and Langfuse (like the agent's own local store) would leave them out of
/// the session's and the user's totals.
fn propagation(client: &Client) -> Propagation {
    Propagation::new().with_baggage().client(client)
}

// ---------------------------------------------------------------------------------------
// The agent service.

#[observe(as_type = "generation")]
async fn call_llm(question: &str) -> String {
    tokio::time::sleep(Duration::from_millis(30)).await;
    update_current_observation(
        ObservationUpdate::new()
            .model("gpt-4o-mini")
            .usage(Usage::new(120, 24))
            .cost(Cost::new(0.000018, 0.0000144)),
    );
    format!("Here is how to {question}: ...")
}

#[observe(as_type = "agent")]
async fn support_agent(question: String) -> String {
    tracing::info_span!("plan", steps = 2)
        .in_scope(|| tracing::info!("looking up the knowledge base"));
    call_llm(&question).await
}

async fn agent_service(client: &Client) -> std::io::Result<String> {
    let app = axum::Router::new()
        .route(
            "/answer",
            axum::routing::post(|question: String| support_agent(question)),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        // Last, so outermost: the caller's trace is current when TraceLayer opens its span.
        .layer(PropagationLayer::new(propagation(client)));
    serve(app).await
}

/// tower-http's request span with the route, which names the observation `POST /answer`.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned());
    tracing::info_span!(
        "request",
        http.request.method = %request.method(),
        http.route = route.as_deref(),
    )
}

// ---------------------------------------------------------------------------------------
// The API service: the trace starts here, one per user request.

#[observe(name = "api_request")]
async fn api_request(agent_url: String, user: String, question: String) -> Result<String, String> {
    update_current_trace(
        TraceUpdate::new()
            .session_id(SESSION)
            .user_id(user)
            .tags(["two-services"]),
    );
    let response = reqwest::Client::new()
        .post(agent_url)
        .with_propagation(&Propagation::new().with_baggage())
        .body(question)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?;
    response.text().await.map_err(|e| e.to_string())
}

async fn api_service(client: &Client, agent_url: String) -> std::io::Result<String> {
    let client = client.clone();
    let app = axum::Router::new().route(
        "/ask",
        axum::routing::post(move |question: String| {
            let (client, agent_url) = (client.clone(), agent_url.clone());
            async move {
                client
                    .attach(api_request(agent_url, "user_42".into(), question))
                    .await
            }
        }),
    );
    serve(app).await
}

async fn serve(app: axum::Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (client, memory) = Client::in_memory();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(ObserveLayer::new()),
    )?;

    let agent = agent_service(&client).await?;
    let api = api_service(&client, format!("{agent}/answer")).await?;

    let http = reqwest::Client::new();
    for question in ["reset my password", "change my plan"] {
        let answer = http
            .post(format!("{api}/ask"))
            .body(question)
            .send()
            .await?
            .text()
            .await?;
        println!("> {question}\n< {answer}");
    }

    // The agent's request spans end once the response is written; give them a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.flush(Duration::from_secs(10));
    let observations = memory.observations();
    println!();
    print!(
        "{}",
        render_session(SESSION, &observations, &ViewOptions::detailed())
    );
    let traces: std::collections::HashSet<_> = observations.iter().map(|o| o.trace_id).collect();
    println!(
        "\n{} observations from two services in {} traces (one per request).",
        observations.len(),
        traces.len()
    );
    Ok(())
}
