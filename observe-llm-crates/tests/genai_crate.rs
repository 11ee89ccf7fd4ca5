//! The `genai` crate (feature `otel`) through `ObserveLayer`: its `chat {model}` client
//! spans, sent to a loopback fake of OpenAI's chat API, become generations of the
//! surrounding `#[observe]` workflow, with the response model, usage split as Langfuse
//! counts it (cached and reasoning tokens apart), the messages, time to first token for the
//! stream, and ERROR for the provider's error.
//!
//! One test function: genai reads its content-capture switch from the environment once,
//! and the variable is set here before any other thread of this binary runs.

#[path = "support/genai_target.rs"]
mod genai_target;
mod support;

use futures::StreamExt;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent};
use genai_target::genai_client;
use observe_runtime::model::{Level, Observation, ObservationType};
use observe_runtime::{observe, update_current_trace, TraceUpdate};
use support::openai_fake;
use support::recorded::{assert_fake_usage, assert_refused, json_text, run_recorded};

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

#[test]
fn genai_spans_become_generations_of_the_workflow() {
    // Before any thread reads the environment: this binary has this one test, and the
    // runtime below is built after.
    std::env::set_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");
    let (answer, obs) = run_recorded(support_turn);
    assert_eq!(
        answer,
        format!(
            "{} / {}",
            openai_fake::PLAIN_ANSWER,
            openai_fake::STREAM_CHUNKS.concat()
        )
    );
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
        assert_eq!(generation.level, Level::Default);
        assert_fake_usage(generation.details().usage.as_ref());
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

    assert_refused(refused);
}
