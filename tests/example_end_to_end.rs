//! The bundled example, run as a user runs it: with nothing set it writes the local store and
//! names the command that shows the session again, and that command prints the same tree;
//! with Langfuse keys it exports over OTLP and prints the trace's URL.
//!
//! `cargo test` builds the examples and the workspace's binaries next to the test binaries,
//! so these tests run the real programs.

#[path = "../observe-runtime/tests/export_support/mod.rs"]
mod export_support;

use std::path::PathBuf;
use std::process::{Command, Output};

use export_support::*;

/// `target/<profile>/`, from this test binary's path (`target/<profile>/deps/...`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_owned()
}

fn example() -> Command {
    let path = profile_dir().join("examples").join("content_analysis");
    assert!(
        path.exists(),
        "{} is missing: cargo test builds examples; run through cargo",
        path.display()
    );
    let mut cmd = Command::new(path);
    // The example must not see the developer's own settings.
    for (key, _) in std::env::vars() {
        if key.starts_with("LANGFUSE_") || key.starts_with("OTEL_") || key.starts_with("OBSERVE_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn observe_cli() -> Option<PathBuf> {
    let path = profile_dir().join(format!("observe{}", std::env::consts::EXE_SUFFIX));
    path.exists().then_some(path)
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// The tree: the lines from `Session: ...` to the first blank line or the failed observations.
fn session_tree(text: &str) -> String {
    text.lines()
        .skip_while(|l| !l.starts_with("Session: "))
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Failed observations"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn with_nothing_set_the_example_fills_the_local_store_and_the_command_shows_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(&example().current_dir(dir.path()).output().unwrap());

    let tree = session_tree(&out);
    assert!(tree.starts_with("Session: analysis_"), "{out}");
    for name in [
        "url_fetch",
        "http_get",
        "content_analysis",
        "retrieval",
        "security_audit",
        "tech_comparison",
        "implementation_plan",
        "quality_gate",
        "content_analysis_workflow",
        "llm_call [generation]",
        "fact_checker [agent]",
        "summary_stream [generation]",
    ] {
        assert!(tree.contains(name), "{name} missing from\n{tree}");
    }
    assert!(tree.contains("ERROR: fact_checker"), "{tree}");
    let streamed = tree
        .lines()
        .find(|l| l.contains("summary_stream [generation]"))
        .unwrap();
    assert!(streamed.contains(", ttft "), "{streamed}");
    // the session, 3 traces, their 3 + 5 children by hand, 8 agents, 4 LLM and 3 tool calls,
    // the streamed summary
    assert_eq!(
        tree.lines().count(),
        1 + 3 + 3 + 5 + 8 + 4 + 3 + 1,
        "{tree}"
    );

    let store = dir.path().join(".observe/traces.db");
    assert!(
        store.exists(),
        "the example names a store it did not write:\n{out}"
    );
    let command = out
        .lines()
        .find(|l| l.trim_start().starts_with("cargo run -p observe-cli -- "))
        .unwrap_or_else(|| panic!("no command to see the session again in\n{out}"));
    let args: Vec<&str> = command
        .trim()
        .trim_start_matches("cargo run -p observe-cli -- ")
        .split_whitespace()
        .collect();
    assert_eq!(args[0], "--db");
    assert_eq!(args[2], "session");
    assert!(tree.starts_with(&format!("Session: {} (", args[3])));

    let cli = observe_cli().expect(
        "the observe binary is not built: run the tests with `cargo test --workspace`, which \
         builds it",
    );
    let shown = stdout(
        &Command::new(cli)
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap(),
    );
    assert_eq!(
        session_tree(&shown),
        tree,
        "the command shows other numbers"
    );
    // Below the tree, the command lists the one agent that failed.
    let failed = shown
        .split_once("Failed observations (1):\n")
        .unwrap_or_else(|| panic!("no list of failed observations in\n{shown}"))
        .1;
    assert!(
        failed.trim_start().starts_with("fact_checker (agent,"),
        "{shown}"
    );
}

#[test]
fn with_langfuse_keys_the_example_exports_over_otlp_and_prints_the_trace_url() {
    let server = Server::accepting();
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(
        &example()
            .current_dir(dir.path())
            .env("LANGFUSE_PUBLIC_KEY", "pk-lf-test")
            .env("LANGFUSE_SECRET_KEY", "sk-lf-test")
            .env("LANGFUSE_BASE_URL", &server.base_url)
            .output()
            .unwrap(),
    );
    let url_line = out
        .lines()
        .find(|l| l.starts_with("In Langfuse: "))
        .unwrap_or_else(|| panic!("no trace URL in\n{out}"));
    let prefix = format!("In Langfuse: {}/trace/", server.base_url);
    let trace_id = url_line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url_line} does not start with {prefix}"));
    assert_eq!(trace_id.len(), 32);

    let spans = server.spans();
    let workflow: Vec<_> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == trace_id)
        .collect();
    assert_eq!(
        workflow.len(),
        1 + 8 + 4 + 3 + 1,
        "the workflow's spans reached the server"
    );
    // The streamed summary's time to first token reaches Langfuse.
    let streamed = workflow
        .iter()
        .find(|s| s.name == "summary_stream")
        .expect("the streamed generation reached the server");
    assert!(
        attr_str(streamed, "langfuse.observation.completion_start_time")
            .is_some_and(|at| at.ends_with('Z')),
        "{streamed:?}"
    );
    for span in &workflow {
        assert_eq!(attr_str(span, "user.id").as_deref(), Some("user_demo"));
        assert!(attr_str(span, "session.id")
            .unwrap()
            .starts_with("analysis_"));
    }
    // With keys, no local store; the spool the example writes first holds nothing unsent.
    assert!(!dir.path().join(".observe/traces.db").exists());
    assert!(!out.contains("wait in the spool"), "{out}");
    assert!(!out.contains("Stored in"), "{out}");
}

#[test]
fn sent_to_a_collector_the_example_carries_the_genai_conventions_and_no_usage_on_agents() {
    let server = Server::accepting();
    let dir = tempfile::tempdir().unwrap();
    stdout(
        &example()
            .current_dir(dir.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.base_url)
            .env("OBSERVE_GENAI_CONTENT", "true")
            .output()
            .unwrap(),
    );
    let requests = server.to("/v1/traces");
    assert!(!requests.is_empty());
    for r in &requests {
        let resource = r.otlp().resource_spans[0].resource.clone().unwrap();
        let service = resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.clone()?.value);
        assert_eq!(
            service,
            Some(
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                    "unknown_service:content_analysis".into()
                )
            ),
            "OpenTelemetry's default service name"
        );
    }
    let spans = server.spans();
    let agents: Vec<_> = spans
        .iter()
        .filter(|s| attr_str(s, "gen_ai.operation.name").as_deref() == Some("invoke_agent"))
        .collect();
    assert_eq!(agents.len(), 8, "the example's eight agents");
    for agent in &agents {
        let keys = attrs(agent);
        assert!(
            !keys
                .keys()
                .any(|k| k.contains("usage") || k.contains("cost")),
            "Langfuse drops usage on agents, so none may sit there: {} {keys:?}",
            agent.name
        );
    }
    let generations: Vec<_> = spans
        .iter()
        .filter(|s| attr_str(s, "langfuse.observation.type").as_deref() == Some("generation"))
        .collect();
    assert!(generations.len() >= 5, "{}", generations.len());
    for g in &generations {
        assert_eq!(
            attr_str(g, "gen_ai.operation.name").as_deref(),
            Some("chat"),
            "{}",
            g.name
        );
        assert_eq!(
            attr_str(g, "gen_ai.provider.name").as_deref(),
            Some("openai"),
            "{}: the provider follows from the model",
            g.name
        );
        assert!(
            attrs(g).contains_key("gen_ai.usage.input_tokens"),
            "{}: the usage sits on the model call",
            g.name
        );
        for key in ["gen_ai.input.messages", "gen_ai.output.messages"] {
            let text = attr_str(g, key).unwrap_or_else(|| panic!("{}: no {key}", g.name));
            let messages: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {key} is not JSON: {e}", g.name));
            assert!(
                messages[0]["parts"][0]["type"] == "text",
                "{}: {key} = {text}",
                g.name
            );
        }
    }
}
