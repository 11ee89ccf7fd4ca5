//! A `genai` chat, plain and streamed, inside an `#[observe]` workflow, recorded through
//! `ObserveLayer` and printed as the session tree. It talks to a loopback fake of an
//! OpenAI-compatible API that it starts itself, so it needs no key and no network:
//!
//! ```text
//! cargo run --manifest-path observe-llm-crates/Cargo.toml --example genai_chat
//! ```
//!
//! Against a real provider, drop the resolver: `genai::Client::default()` reads
//! `OPENAI_API_KEY`, and `observe_runtime::init()` sends to Langfuse or a collector.

#[path = "../tests/support/genai_target.rs"]
mod genai_target;
#[path = "../tests/support/openai_fake.rs"]
mod openai_fake;

use std::time::Duration;

use futures::StreamExt;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent};
use observe_runtime::bridge::ObserveLayer;
use observe_runtime::{observe, update_current_trace, Client, TraceUpdate};
use tracing_subscriber::layer::SubscriberExt;

#[observe(name = "chat_turn")]
async fn chat_turn(llm: &genai::Client, question: String) -> Result<String, genai::Error> {
    update_current_trace(
        TraceUpdate::new()
            .session_id("demo-session")
            .user_id("demo-user"),
    );
    let request = ChatRequest::new(vec![ChatMessage::user(question.as_str())])
        .with_system("Answer in one sentence.");
    let plain = llm.exec_chat("gpt-4o-mini", request.clone(), None).await?;
    let options = ChatOptions::default()
        .with_capture_usage(true)
        .with_capture_content(true);
    let mut stream = llm
        .exec_chat_stream("gpt-4o-mini", request, Some(&options))
        .await?
        .stream;
    let mut streamed = String::new();
    while let Some(event) = stream.next().await {
        if let ChatStreamEvent::Chunk(chunk) = event? {
            streamed.push_str(&chunk.content);
        }
    }
    Ok(format!(
        "{} / {streamed}",
        plain.first_text().unwrap_or_default()
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // genai records the messages only when this is set; before any thread starts.
    std::env::set_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(ObserveLayer::new()),
    )?;
    let (client, memory) = Client::in_memory();
    let runtime = tokio::runtime::Runtime::new()?;
    let answer = runtime.block_on(async {
        let fake = openai_fake::FakeOpenAi::start().await;
        // Every model to the fake, as OpenAI (a `ServiceTargetResolver`).
        let llm = genai_target::genai_client(fake.base_url());
        client
            .attach(chat_turn(&llm, "Capital of France?".to_owned()))
            .await
    })?;
    println!("answer: {answer}\n");
    client.flush(Duration::from_secs(10));
    let view = observe_runtime::view::ViewOptions::detailed();
    print!(
        "{}",
        observe_runtime::view::render_all(&memory.observations(), &view)
    );
    for generation in memory
        .observations()
        .iter()
        .filter(|o| o.kind == observe_runtime::model::ObservationType::Generation)
    {
        let d = generation.details();
        println!(
            "{}: model {:?}, usage {:?}, first token {:?}",
            generation.name,
            d.model,
            d.usage.as_ref().map(|u| &u.0),
            d.completion_start_time.map(|t| t.since(generation.start))
        );
    }
    Ok(())
}
