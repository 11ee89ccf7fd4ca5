//! Langfuse prompts against a loopback server speaking the prompts API as Langfuse's
//! OpenAPI spec has it (`GET /api/public/v2/prompts/{promptName}?version=&label=`, a
//! `Prompt` body: `type` text or chat, `name`, `version`, `config`, `labels`, `tags`,
//! `prompt`): fresh and stale cache entries, an unreachable server, a 404, label vs version,
//! chat vs text, compile, and the link from a generation to the prompt it used.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use observe_runtime::model::Level;
use observe_runtime::prompts::{
    ChatMessage, PromptBody, PromptClient, PromptError, PromptQuery, PromptSettings,
};
use observe_runtime::{observe, update_current_observation, Client, ObservationUpdate};
use serde_json::{json, Value};

use crate::export_support::{
    accept_all, attr_str, attrs, refused_url, Received, Reply, Server, FLUSH,
};
use observe_runtime::config::Config;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;

const PUBLIC_KEY: &str = "pk-lf-prompts";
const SECRET_KEY: &str = "sk-lf-prompts";

/// Generous, and only a guard: a test that waits this long has failed anyway.
const GUARD: Duration = Duration::from_secs(30);

/// A held answer: announced on the sender, given once the receiver gets the release.
type Hold = (Sender<()>, Receiver<()>);

/// The prompts a project holds, every version of every prompt, as Langfuse stores them.
#[derive(Clone, Default)]
struct Project {
    versions: Arc<Mutex<Vec<Value>>>,
    /// While set, a request is announced on the first channel and answered only once the
    /// test sends on the second (or drops it).
    hold: Arc<Mutex<Option<Hold>>>,
}

impl Project {
    fn publish(&self, prompt: Value) {
        self.versions.lock().unwrap().push(prompt);
    }

    /// Moves `label` to `version` of prompt `name`, as promoting a version in the UI does.
    fn move_label(&self, name: &str, label: &str, version: i64) {
        for p in self.versions.lock().unwrap().iter_mut() {
            if p["name"] != name {
                continue;
            }
            let promoted = p["version"] == version;
            let labels = p["labels"].as_array_mut().unwrap();
            labels.retain(|l| l != label);
            if promoted {
                labels.push(json!(label));
            }
        }
    }

    /// Holds the next answers until the test releases them: returns (arrived, release).
    fn hold(&self) -> (Receiver<()>, Sender<()>) {
        let (arrived_tx, arrived_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        *self.hold.lock().unwrap() = Some((arrived_tx, release_rx));
        (arrived_rx, release_tx)
    }

    /// Langfuse: the prompts API, and every other endpoint accepting what it is sent.
    fn serve(&self) -> Server {
        let project = self.clone();
        Server::start(move |request, _| {
            if request.path.starts_with("/api/public/v2/prompts/") {
                project.answer(request)
            } else {
                accept_all(request)
            }
        })
    }

    /// What Langfuse answers to `GET /api/public/v2/prompts/{name}`.
    fn answer(&self, request: &Received) -> Reply {
        if let Some((arrived, release)) = self.hold.lock().unwrap().take() {
            let _ = arrived.send(());
            let _ = release.recv_timeout(GUARD);
        }
        if request.basic_auth() != Some((PUBLIC_KEY.into(), SECRET_KEY.into())) {
            return Reply::json(401, json!({"message": "Invalid credentials"}));
        }
        let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
        let Some(name) = path.strip_prefix("/api/public/v2/prompts/") else {
            return Reply::status(404);
        };
        let name = name.replace("%2F", "/");
        let param = |key: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_owned())
        };
        let versions = self.versions.lock().unwrap();
        let found = match param("version") {
            Some(version) => {
                let version: i64 = version.parse().expect("an integer version");
                versions
                    .iter()
                    .find(|p| p["name"] == name && p["version"] == version)
            }
            None => {
                let label = param("label").unwrap_or_else(|| "production".to_owned());
                versions
                    .iter()
                    .filter(|p| p["name"] == name)
                    .filter(|p| p["labels"].as_array().unwrap().contains(&json!(label)))
                    .max_by_key(|p| p["version"].as_i64())
            }
        };
        match found {
            Some(prompt) => Reply::json(200, prompt.clone()),
            None => Reply::json(
                404,
                json!({"error": "LangfuseNotFoundError", "message": "Prompt not found"}),
            ),
        }
    }
}

fn text_prompt(name: &str, version: i64, labels: &[&str], text: &str) -> Value {
    json!({
        "type": "text", "name": name, "version": version, "prompt": text,
        "config": {"model": "gpt-4o-mini", "temperature": 0.2},
        "labels": labels, "tags": ["docs"], "commitMessage": null,
    })
}

fn client(server_url: &str, ttl: Duration) -> PromptClient {
    let mut settings = PromptSettings::new(server_url, PUBLIC_KEY, SECRET_KEY);
    settings.cache_ttl = ttl;
    PromptClient::new(settings).expect("a usable URL and keys")
}

fn text(body: &PromptBody) -> &str {
    match body {
        PromptBody::Text(text) => text,
        PromptBody::Chat(_) => panic!("a text prompt was expected, got {body:?}"),
    }
}

#[test]
fn a_fetched_prompt_is_served_from_the_cache_while_fresh() {
    let project = Project::default();
    project.publish(text_prompt(
        "greeting",
        1,
        &["production", "latest"],
        "Hi {{name}}!",
    ));
    let server = project.serve();
    let prompts = client(&server.base_url, Duration::from_secs(3600));

    let prompt = prompts.get_prompt("greeting").unwrap();
    assert_eq!(prompt.name, "greeting");
    assert_eq!(prompt.version, 1);
    assert_eq!(prompt.labels, ["production", "latest"]);
    assert_eq!(prompt.tags, ["docs"]);
    assert_eq!(
        prompt.config,
        json!({"model": "gpt-4o-mini", "temperature": 0.2})
    );
    assert!(!prompt.is_fallback);
    assert_eq!(text(&prompt.body), "Hi {{name}}!");
    assert_eq!(
        prompt.compile_text(&[("name", "Ada")]).as_deref(),
        Some("Hi Ada!")
    );

    let again = prompts.get_prompt("greeting").unwrap();
    assert_eq!(again, prompt);
    let requests = server.received();
    assert_eq!(
        requests.len(),
        1,
        "the second call is served from the cache"
    );
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].path,
        "/api/public/v2/prompts/greeting?label=production"
    );
    assert_eq!(
        requests[0].header("x-langfuse-sdk-name"),
        Some("rust-observe")
    );
}

#[test]
fn label_and_version_pick_their_own_versions() {
    let project = Project::default();
    project.publish(text_prompt("summarize", 1, &["production"], "v1 {{text}}"));
    project.publish(text_prompt(
        "summarize",
        2,
        &["staging", "latest"],
        "v2 {{text}}",
    ));
    let server = project.serve();
    let prompts = client(&server.base_url, Duration::from_secs(3600));

    let production = prompts.get_prompt("summarize").unwrap();
    let staging = prompts
        .get(PromptQuery::new("summarize").label("staging"))
        .unwrap();
    let first = prompts
        .get(PromptQuery::new("summarize").version(1))
        .unwrap();
    let second = prompts
        .get(PromptQuery::new("summarize").version(2))
        .unwrap();
    assert_eq!(
        [
            production.version,
            staging.version,
            first.version,
            second.version
        ],
        [1, 2, 1, 2]
    );
    assert_eq!(text(&staging.body), "v2 {{text}}");
    let paths: Vec<String> = server.received().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/api/public/v2/prompts/summarize?label=production",
            "/api/public/v2/prompts/summarize?label=staging",
            "/api/public/v2/prompts/summarize?version=1",
            "/api/public/v2/prompts/summarize?version=2",
        ],
        "each label and version is its own cache entry"
    );
}

#[test]
fn a_chat_prompt_compiles_its_messages_and_placeholders() {
    let project = Project::default();
    project.publish(json!({
        "type": "chat", "name": "folder/support", "version": 7, "config": {},
        "labels": ["production"], "tags": [],
        "prompt": [
            {"type": "chatmessage", "role": "system", "content": "You support {{product}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
    }));
    let server = project.serve();
    let prompts = client(&server.base_url, Duration::from_secs(3600));

    let prompt = prompts.get_prompt("folder/support").unwrap();
    assert_eq!(
        server.received()[0].path,
        "/api/public/v2/prompts/folder%2Fsupport?label=production",
        "a folder's `/` is encoded, as the API asks"
    );
    assert_eq!(prompt.version, 7);
    assert_eq!(prompt.variables(), ["product", "question"]);
    let history = vec![
        ChatMessage::new("user", "hello"),
        ChatMessage::new("assistant", "hi"),
    ];
    let messages = prompt
        .compile_chat(
            &[("product", "observe"), ("question", "Why?")],
            &[("history", history)],
        )
        .expect("a chat prompt");
    assert_eq!(
        messages,
        [
            ChatMessage::new("system", "You support observe."),
            ChatMessage::new("user", "hello"),
            ChatMessage::new("assistant", "hi"),
            ChatMessage::new("user", "Why?"),
        ]
    );
    assert_eq!(
        prompt.compile_text(&[("product", "x")]),
        None,
        "not a text prompt"
    );
    // Without the placeholder's messages, the placeholder stays, and so does a variable
    // without a value.
    let PromptBody::Chat(partial) = prompt.compile(&[("product", "observe")]) else {
        panic!("a chat prompt compiles to messages")
    };
    assert_eq!(
        partial[1],
        ChatMessage::Placeholder {
            name: "history".into()
        }
    );
    assert_eq!(partial[2], ChatMessage::new("user", "{{question}}"));
}

#[test]
fn a_stale_prompt_is_served_at_once_while_it_refreshes_in_the_background() {
    let project = Project::default();
    project.publish(text_prompt("answer", 1, &["production"], "first"));
    project.publish(text_prompt("other", 1, &["production"], "other"));
    let server = project.serve();
    // A TTL of zero: every call after the first finds the entry stale.
    let prompts = client(&server.base_url, Duration::ZERO);
    assert_eq!(prompts.get_prompt("answer").unwrap().version, 1);

    project.publish(text_prompt("answer", 2, &[], "second"));
    project.move_label("answer", "production", 2);
    let (arrived, release) = project.hold();
    // Stale: the cached version comes back while the refresh is under way.
    let stale = prompts.get_prompt("answer").unwrap();
    assert_eq!((stale.version, text(&stale.body)), (1, "first"));
    arrived
        .recv_timeout(GUARD)
        .expect("the refresh reaches the server");
    // The server holds the refresh: this call cannot have waited for it.
    assert_eq!(prompts.get_prompt("answer").unwrap().version, 1);
    release.send(()).unwrap();
    // Fetches run in order on one thread: once this first fetch is answered, so is every
    // refresh queued before it.
    assert_eq!(prompts.get_prompt("other").unwrap().version, 1);
    assert_eq!(
        server.to("answer?label=production").len(),
        2,
        "the first fetch and one refresh: a refresh under way is not asked for again"
    );
    let fresh = prompts.get_prompt("answer").unwrap();
    assert_eq!((fresh.version, text(&fresh.body)), (2, "second"));
}

#[test]
fn an_unreachable_service_gives_the_fallback_or_a_clear_error() {
    let prompts = client(&refused_url(), Duration::from_secs(60));
    let fallback = prompts
        .get(PromptQuery::new("summarize").fallback(PromptBody::Text("Summarize: {{text}}".into())))
        .expect("the fallback stands in");
    assert!(fallback.is_fallback);
    assert_eq!(fallback.name, "summarize");
    assert_eq!(fallback.version, 0);
    assert_eq!(
        fallback.compile_text(&[("text", "the story")]).as_deref(),
        Some("Summarize: the story")
    );

    let error = prompts.get_prompt("summarize").unwrap_err();
    assert!(
        matches!(error, PromptError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("`summarize`"), "{error}");
}

#[test]
fn an_unknown_prompt_or_wrong_keys_are_clear_errors() {
    let project = Project::default();
    project.publish(text_prompt("known", 1, &["production"], "x"));
    let server = project.serve();
    let prompts = client(&server.base_url, Duration::from_secs(60));

    let error = prompts
        .get(PromptQuery::new("known").label("staging"))
        .unwrap_err();
    assert_eq!(
        error,
        PromptError::NotFound {
            name: "known".into(),
            selector: "label \"staging\"".into()
        }
    );
    assert!(error.to_string().contains("404"), "{error}");
    let error = prompts
        .get(PromptQuery::new("missing").version(3))
        .unwrap_err();
    assert!(
        error.to_string().contains("`missing` with version 3"),
        "{error}"
    );

    let wrong =
        PromptClient::new(PromptSettings::new(&server.base_url, "pk-lf-x", "sk-lf-x")).unwrap();
    let error = wrong.get_prompt("known").unwrap_err();
    assert_eq!(error, PromptError::Unauthorized { status: 401 });
    assert!(error.to_string().contains("LANGFUSE_PUBLIC_KEY"), "{error}");
}

#[observe(as_type = "generation")]
fn generate(prompt: &observe_runtime::prompts::Prompt) -> String {
    update_current_observation(ObservationUpdate::new().prompt(prompt));
    prompt.compile_text(&[("name", "Ada")]).unwrap_or_default()
}

#[test]
fn a_generation_is_linked_to_the_fetched_prompt_and_not_to_a_fallback() {
    let project = Project::default();
    project.publish(text_prompt("greeting", 4, &["production"], "Hi {{name}}"));
    let server = project.serve();
    let prompts = client(&server.base_url, Duration::from_secs(60));
    let fetched = prompts.get_prompt("greeting").unwrap();
    let fallback = client(&refused_url(), Duration::from_secs(60))
        .get(PromptQuery::new("greeting").fallback(PromptBody::Text("Hello {{name}}".into())))
        .unwrap();

    let (client, memory) = Client::in_memory();
    let texts = client.in_scope(|| (generate(&fetched), generate(&fallback)));
    client.flush(FLUSH);
    assert_eq!(texts, ("Hi Ada".to_owned(), "Hello Ada".to_owned()));
    let observations = memory.observations();
    assert_eq!(observations.len(), 2);
    let links: Vec<(Option<&str>, Option<i64>)> = observations
        .iter()
        .map(|o| {
            (
                o.details().prompt_name.as_deref(),
                o.details().prompt_version,
            )
        })
        .collect();
    assert!(links.contains(&(Some("greeting"), Some(4))), "{links:?}");
    assert!(
        links.contains(&(None, None)),
        "a fallback links nothing: {links:?}"
    );
    assert!(observations.iter().all(|o| o.level == Level::Default));
}

#[tokio::test(flavor = "current_thread")]
async fn get_async_awaits_a_first_fetch_without_blocking_the_executor() {
    let project = Project::default();
    project.publish(text_prompt("greeting", 2, &["production"], "Hi"));
    let server = project.serve();
    let prompts = client(&server.base_url, Duration::from_secs(60));
    let (arrived, release) = project.hold();
    let steps = Mutex::new(Vec::new());

    // One thread runs both: the release can only happen while the fetch is awaited.
    let fetch = async {
        let prompt = prompts.get_async(PromptQuery::new("greeting")).await;
        steps.lock().unwrap().push("fetched");
        prompt
    };
    let release_it = async {
        tokio::task::spawn_blocking(move || arrived.recv_timeout(GUARD))
            .await
            .unwrap()
            .expect("the fetch reaches the server");
        steps.lock().unwrap().push("released");
        release.send(()).unwrap();
    };
    let (prompt, ()) = tokio::join!(fetch, release_it);
    assert_eq!(prompt.unwrap().version, 2);
    assert_eq!(*steps.lock().unwrap(), ["released", "fetched"]);
    // Cached now: the blocking form answers without a request.
    assert_eq!(prompts.get_prompt("greeting").unwrap().version, 2);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn the_prompt_link_reaches_langfuse_over_otlp() {
    let project = Project::default();
    project.publish(text_prompt("greeting", 5, &["production"], "Hi {{name}}"));
    let server = project.serve();
    let fetched = client(&server.base_url, Duration::from_secs(60))
        .get_prompt("greeting")
        .unwrap();
    let client = Config::new()
        .keys(PUBLIC_KEY, SECRET_KEY)
        .base_url(&server.base_url)
        .build_client()
        .expect("valid config")
        .expect("enabled");
    assert_eq!(client.in_scope(|| generate(&fetched)), "Hi Ada");
    client.flush(FLUSH);

    let spans = server.spans();
    let generation = spans
        .iter()
        .find(|s| s.name == "generate")
        .unwrap_or_else(|| panic!("no generation among {spans:#?}"));
    assert_eq!(
        attr_str(generation, "langfuse.observation.type").as_deref(),
        Some("generation")
    );
    assert_eq!(
        attr_str(generation, "langfuse.observation.prompt.name").as_deref(),
        Some("greeting")
    );
    assert_eq!(
        attrs(generation).get("langfuse.observation.prompt.version"),
        Some(&Any::IntValue(5))
    );
}
