//! The `rig-core` crate through `ObserveLayer`: its `chat` completion spans (target
//! `rig::completions`), sent to a loopback fake of OpenAI's chat API, become generations of
//! the surrounding `#[observe]` workflow, with the response model and usage split as
//! Langfuse counts it (rig's `reasoning_tokens` and cache counts apart). The messages, as
//! JSON text, come from a span of the caller's that rig adopts (`completion_parent_span!`,
//! with `record_model_input`/`record_model_output`): rig 0.44's models record none on
//! their own spans.
//!
//! rig 0.44 records neither the time to first token nor an error on its span: a failed
//! call comes out as a generation without usage, and its ERROR is on the `#[observe]`
//! function that returned the error (docs/BRIDGE.md says so).

mod support;

use futures::StreamExt;
use observe_runtime::model::{Level, Observation, ObservationType};
use observe_runtime::{observe, update_current_trace, TraceUpdate};
use rig_core::completion::CompletionRequest;
use rig_core::message::Message;
use rig_core::providers::openai::OpenAIConfig;
use support::openai_fake;
use support::recorded::{assert_fake_usage, assert_refused, json_text, run_recorded};
use tracing::Instrument;

fn question(text: &str) -> CompletionRequest {
    CompletionRequest::new(text)
        .preamble("Answer in one sentence.")
        .record_content_telemetry(true)
}

/// The provider's refusal, with the call in an observation of its own that ends in error.
#[observe(name = "refused_call")]
async fn refused_call(llm: &rig_core::providers::openai::OpenAI) -> Result<(), String> {
    llm.chat(openai_fake::FAILING_MODEL)
        .call(question("Again?"))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[observe(name = "support_turn")]
async fn support_turn(base_url: String) -> usize {
    update_current_trace(TraceUpdate::new().session_id("session-5").user_id("user-8"));
    let llm = OpenAIConfig::new("sk-test")
        .with_base_url(base_url.trim_end_matches('/'))
        .client();
    // A runtime's own completion span, which rig adopts and fills in. The macro makes the
    // current `tracing` span its parent (explicitly: with none, the span would be a root
    // outside every trace), here a `turn` span inside the workflow.
    let turn = tracing::info_span!("turn");
    let chat = turn.in_scope(|| {
        rig_core::completion_parent_span!(
            target: "support",
            name: "chat",
            operation: "chat",
            system_instructions: Option::<&str>::None,
        )
    });
    rig_core::telemetry::record_model_input(&chat, &[Message::user("Capital of France?")], true);
    let plain = llm
        .chat("gpt-4o-mini")
        .call(question("Capital of France?"))
        .instrument(chat.clone())
        .await
        .expect("plain answer");
    rig_core::telemetry::record_model_output(&chat, &plain.choice, true);
    drop(chat);
    drop(turn);
    let mut stream = llm
        .chat("gpt-4o-mini")
        .stream(question("Tell a story."))
        .expect("stream");
    let mut items = 0;
    while let Some(item) = stream.next().await {
        item.expect("stream item");
        items += 1;
    }
    // rig records the usage when the reply is folded into its response.
    let streamed = stream.finish().await.expect("streamed answer");
    items += streamed.choice.len();
    assert!(refused_call(&llm).await.is_err(), "the fake answers 429");
    plain.choice.len() + items
}

#[test]
fn rig_spans_become_generations_of_the_workflow() {
    let (read, obs) = run_recorded(support_turn);
    assert!(read > 1, "an answer and stream items were read");
    let names: Vec<_> = obs
        .iter()
        .map(|o| format!("{} {:?} {:?} <- {:?}", o.name, o.kind, o.id, o.parent_id))
        .collect();
    let workflow = obs
        .iter()
        .find(|o| o.name == "support_turn")
        .expect("workflow");
    let refused = obs
        .iter()
        .find(|o| o.name == "refused_call")
        .expect("refused call");
    let generations: Vec<&Observation> = obs
        .iter()
        .filter(|o| o.kind == ObservationType::Generation)
        .collect();
    assert_eq!(generations.len(), 3, "{names:?}");
    let turn = obs.iter().find(|o| o.name == "turn").expect("turn span");
    assert_eq!(turn.parent_id, Some(workflow.id));
    let answered: Vec<&Observation> = generations
        .iter()
        .copied()
        .filter(|g| g.parent_id == Some(workflow.id) || g.parent_id == Some(turn.id))
        .collect();
    assert_eq!(answered.len(), 2, "plain and streamed: {names:?}");
    for generation in &generations {
        assert_eq!(generation.trace_id, workflow.trace_id);
        assert_eq!(generation.trace.session_id.as_deref(), Some("session-5"));
        assert_eq!(generation.trace.user_id.as_deref(), Some("user-8"));
    }
    for generation in &answered {
        let details = generation.details();
        assert_eq!(generation.name, "chat", "rig's span name");
        assert_eq!(details.model.as_deref(), Some(openai_fake::RESPONSE_MODEL));
        assert_eq!(generation.level, Level::Default);
        assert_fake_usage(details.usage.as_ref());
    }
    let plain = answered
        .iter()
        .find(|g| g.details().input.is_some())
        .expect("the adopted span, with the messages");
    assert_eq!(
        plain.parent_id,
        Some(turn.id),
        "the adopted span is the generation"
    );
    let streamed = answered.iter().find(|g| g.id != plain.id).unwrap();
    assert_eq!(streamed.parent_id, Some(workflow.id));
    assert_eq!(
        streamed
            .details()
            .model_parameters
            .as_ref()
            .unwrap()
            .as_str(),
        r#"{"stream":true}"#
    );
    let input = json_text(plain.details().input.as_ref());
    assert!(input.contains("Capital of France?"), "{input}");
    assert!(
        input.starts_with('['),
        "messages as JSON, not a string: {input}"
    );
    let output = json_text(plain.details().output.as_ref());
    assert!(output.contains(openai_fake::PLAIN_ANSWER), "{output}");

    let failed = generations
        .iter()
        .find(|g| g.parent_id == Some(refused.id))
        .expect("the refused call's generation");
    assert!(failed.details().usage.is_none());
    assert_refused(refused);
}
