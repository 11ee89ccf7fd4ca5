//! The `genai` crate (feature `otel`) through `ObserveLayer`: its `chat {model}` client
//! spans, sent to a loopback fake of OpenAI's chat API, become generations of the
//! surrounding `#[observe]` workflow, with the response model, usage split as Langfuse
//! counts it (cached and reasoning tokens apart), the messages, time to first token for the
//! stream, and ERROR for the provider's error.
//!
//! One test function: genai reads its content-capture switch from the environment once,
//! and the variable is set here before any other thread of this binary runs.

mod support;

use std::time::Duration;

use futures::StreamExt;
use genai::adapter::AdapterKind;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent};
use genai::resolver::{AuthData, Endpoint, ServiceTargetResolver};
use genai::{ModelIden, ServiceTarget};
use observe_runtime::bridge::ObserveLayer;
use observe_runtime::genai::usage_keys;
use observe_runtime::model::{Level, Observation, ObservationType};
use observe_runtime::{observe, update_current_trace, Client, TraceUpdate};
use support::openai_fake::{self, FakeOpenAi};
use tracing_subscriber::layer::SubscriberExt;

/// A genai client that sends every model to the fake, as OpenAI.
fn genai_client(base_url: String) -> genai::Client {
    let resolver = ServiceTargetResolver::from_resolver_fn(
        move |target: ServiceTarget| -> Result<ServiceTarget, genai::resolver::Error> {
            Ok(ServiceTarget {
                endpoint: Endpoint::from_owned(base_url.clone()),
                auth: AuthData::from_single("sk-test"),
                model: ModelIden::new(AdapterKind::OpenAI, target.model.model_name),
            })
        },
    );
    genai::Client::builder()
        .with_service_target_resolver(resolver)
        .build()
        .expect("genai client")
}

fn question(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user(text)]).with_system("Answer in one sentence.")
}

/// The workflow: a plain call, a streamed one, and one the provider refuses.
#[observe(name = "support_turn")]
async fn support_turn(base_url: String) -> String {
    update_current_trace(TraceUpdate::new().session_id("session-9").user_id("user-3"));
    let llm = genai_client(base_url);
    let options = ChatOptions::default()
        .with_capture_usage(true)
        .with_capture_content(true);
    let plain = llm
        .exec_chat("gpt-4o-mini", question("Capital of France?"), None)
        .await
        .expect("plain answer");
    let mut streamed = String::new();
    let mut stream = llm
        .exec_chat_stream("gpt-4o-mini", question("Tell a story."), Some(&options))
        .await
        .expect("stream")
        .stream;
    while let Some(event) = stream.next().await {
        if let ChatStreamEvent::Chunk(chunk) = event.expect("chunk") {
            streamed.push_str(&chunk.content);
        }
    }
    drop(stream);
    let refused = llm
        .exec_chat(openai_fake::FAILING_MODEL, question("Again?"), None)
        .await;
    assert!(refused.is_err(), "the fake answers 429");
    format!("{} / {streamed}", plain.first_text().unwrap_or_default())
}

fn named<'a>(obs: &'a [Observation], name: &str) -> &'a Observation {
    obs.iter().find(|o| o.name == name).unwrap_or_else(|| {
        let names: Vec<_> = obs.iter().map(|o| o.name.to_string()).collect();
        panic!("no `{name}` among {names:?}")
    })
}

fn json_text(value: Option<&observe_runtime::model::Json>) -> &str {
    value.map(|j| j.as_str()).unwrap_or_default()
}

#[test]
fn genai_spans_become_generations_of_the_workflow() {
    // Before any thread reads the environment: this binary has this one test, and the
    // runtime below is built after.
    std::env::set_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");
    let subscriber = tracing_subscriber::registry().with(ObserveLayer::new());
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    let (client, memory) = Client::in_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(async {
        let fake = FakeOpenAi::start().await;
        client.attach(support_turn(fake.base_url())).await
    });
    assert_eq!(
        answer,
        format!(
            "{} / {}",
            openai_fake::PLAIN_ANSWER,
            openai_fake::STREAM_CHUNKS.concat()
        )
    );
    client.flush(Duration::from_secs(30));
    let obs = memory.observations();
    let workflow = named(&obs, "support_turn");
    let plain = obs
        .iter()
        .find(|o| o.name == "chat gpt-4o-mini" && o.details().completion_start_time.is_none())
        .expect("the plain call");
    let streamed = obs
        .iter()
        .find(|o| o.name == "chat gpt-4o-mini" && o.details().completion_start_time.is_some())
        .expect("the streamed call, with its time to first token");
    let refused = named(&obs, &format!("chat {}", openai_fake::FAILING_MODEL));

    for generation in [plain, streamed, refused] {
        assert_eq!(
            generation.kind,
            ObservationType::Generation,
            "{}",
            generation.name
        );
        assert_eq!(
            generation.parent_id,
            Some(workflow.id),
            "{}",
            generation.name
        );
        assert_eq!(generation.trace_id, workflow.trace_id);
        assert_eq!(generation.trace.session_id.as_deref(), Some("session-9"));
        assert_eq!(generation.trace.user_id.as_deref(), Some("user-3"));
    }
    assert_eq!(
        plain.details().model.as_deref(),
        Some(openai_fake::RESPONSE_MODEL),
        "the model that answered wins over the one asked for"
    );
    // genai records no response model on a stream's span: the model asked for stays.
    assert_eq!(streamed.details().model.as_deref(), Some("gpt-4o-mini"));
    for generation in [plain, streamed] {
        let details = generation.details();
        assert_eq!(generation.level, Level::Default);
        let usage = details.usage.as_ref().expect("usage");
        assert_eq!(
            usage.get("input"),
            Some(20),
            "120 prompt tokens, 100 of them cached"
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
    assert!(json_text(plain.details().input.as_ref()).contains("Capital of France?"));
    assert!(json_text(plain.details().output.as_ref()).contains(openai_fake::PLAIN_ANSWER));
    assert!(json_text(streamed.details().input.as_ref()).contains("Tell a story."));
    assert!(json_text(streamed.details().output.as_ref()).contains("a time."));
    let first_token = streamed.details().completion_start_time.unwrap();
    assert!(
        streamed.start <= first_token && first_token <= streamed.end,
        "first token at {first_token:?}, outside {:?}..{:?}",
        streamed.start,
        streamed.end
    );

    assert_eq!(refused.level, Level::Error);
    assert!(
        refused
            .details()
            .status_message
            .as_deref()
            .is_some_and(|m| m.contains("429")),
        "{:?}",
        refused.details().status_message
    );
}
