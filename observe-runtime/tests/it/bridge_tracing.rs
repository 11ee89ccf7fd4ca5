//! The `tracing` bridge: spans and events inside observed traces become observations, and
//! `#[observe]` calls inside bridged spans become their children.

use std::time::Duration;

use crate::export_support::logs::{at, lines_beside};
use observe_runtime::bridge::ObserveLayer;
use observe_runtime::export::memory::InMemory;
use observe_runtime::model::{Level, Observation, ObservationType};
use observe_runtime::{observe, update_current_observation, Client, FutureExt, ObservationUpdate};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const FLUSH: Duration = Duration::from_secs(30);

fn recorded(
    layer: ObserveLayer,
    client: &Client,
    memory: &InMemory,
    f: impl FnOnce(),
) -> Vec<Observation> {
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    client.flush(FLUSH);
    memory.observations()
}

fn named<'a>(obs: &'a [Observation], name: &str) -> &'a Observation {
    obs.iter().find(|o| o.name == name).unwrap_or_else(|| {
        panic!(
            "no `{name}` in {:?}",
            obs.iter().map(|o| &o.name).collect::<Vec<_>>()
        )
    })
}

#[observe]
async fn inner_step() -> u32 {
    update_current_observation(ObservationUpdate::new().metadata(serde_json::json!({"k": 1})));
    tokio::task::yield_now().await;
    7
}

#[observe]
async fn outer() -> u32 {
    let a = async {
        tokio::task::yield_now().await;
        inner_step().await
    }
    .instrument(tracing::info_span!(
        "retrieve",
        otel.name = "retrieval",
        docs = 3
    ))
    .await;
    // A spawned task instrumented with a span created here stays in the tree.
    let b = tokio::spawn(async { inner_step().await }.instrument(tracing::info_span!("spawned")))
        .await
        .unwrap();
    a + b
}

#[test]
fn one_tree_whichever_side_opened_which() {
    let (client, memory) = Client::in_memory();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let obs = recorded(ObserveLayer::new(), &client, &memory, || {
        assert_eq!(rt.block_on(client.attach(outer())), 14);
    });
    assert_eq!(obs.len(), 5, "{obs:#?}");
    let root = named(&obs, "outer");
    let retrieval = named(&obs, "retrieval");
    let spawned = named(&obs, "spawned");
    assert_eq!(
        retrieval.parent_id,
        Some(root.id),
        "otel.name names the observation"
    );
    assert_eq!(spawned.parent_id, Some(root.id));
    assert_eq!(retrieval.details().metadata["docs"].as_str(), "3");
    let steps: Vec<_> = obs.iter().filter(|o| o.name == "inner_step").collect();
    assert_eq!(steps.len(), 2);
    let parents: Vec<_> = steps.iter().map(|o| o.parent_id).collect();
    assert!(parents.contains(&Some(retrieval.id)) && parents.contains(&Some(spawned.id)));
    assert!(obs.iter().all(|o| o.trace_id == root.trace_id));
}

#[test]
fn spans_and_events_outside_an_observed_trace_are_not_recorded() {
    let (client, memory) = Client::in_memory();
    let obs = recorded(ObserveLayer::new(), &client, &memory, || {
        client.in_scope(|| {
            let _s = tracing::info_span!("not_in_a_trace").entered();
            tracing::error!("nor this");
        });
    });
    assert!(obs.is_empty(), "{obs:#?}");
}

#[test]
fn a_rule_lets_chosen_spans_start_a_trace() {
    let (client, memory) = Client::in_memory();
    let layer = ObserveLayer::new()
        .start_traces_for_name("job")
        .client(&client);
    let obs = recorded(layer, &client, &memory, || {
        {
            let _job = tracing::info_span!("job", id = 9).entered();
            let _step = tracing::info_span!("step").entered();
        }
        drop(tracing::info_span!("elsewhere"));
    });
    let job = named(&obs, "job");
    assert!(job.is_root());
    assert_eq!(named(&obs, "step").parent_id, Some(job.id));
    assert_eq!(
        obs.len(),
        2,
        "a span not under the rule and not in a trace stays out"
    );
}

#[observe]
fn generation_and_levels() {
    let llm = tracing::info_span!(
        "chat gpt-4o",
        gen_ai.operation.name = "chat",
        gen_ai.request.model = "gpt-4o",
        gen_ai.request.temperature = 0.2,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
    );
    // Usage recorded later, from another thread, as a streaming client would.
    std::thread::scope(|s| {
        s.spawn(|| {
            llm.record("gen_ai.usage.input_tokens", 100u64);
            llm.record("gen_ai.usage.output_tokens", 20u64);
        });
    });
    drop(llm);
    drop(tracing::info_span!(
        "failed_call",
        otel.status_code = "ERROR",
        otel.status_message = "timeout"
    ));
    drop(tracing::info_span!("errored", error = "connection reset"));
    tracing::warn!(attempt = 2, "retrying");
    tracing::error!("gave up");
    tracing::debug!("detail");
}

#[test]
fn gen_ai_fields_make_a_generation_and_errors_set_levels() {
    let (client, memory) = Client::in_memory();
    let layer = ObserveLayer::new().event_level(tracing::Level::DEBUG);
    let obs = recorded(layer, &client, &memory, || {
        client.in_scope(generation_and_levels)
    });
    let llm = named(&obs, "chat gpt-4o");
    assert_eq!(llm.kind, ObservationType::Generation);
    let d = llm.details();
    assert_eq!(d.model.as_deref(), Some("gpt-4o"));
    let usage = d.usage.as_ref().unwrap();
    assert_eq!(
        (usage.get("input"), usage.get("output"), usage.get("total")),
        (Some(100), Some(20), Some(120))
    );
    assert_eq!(
        d.model_parameters.as_ref().unwrap().as_str(),
        r#"{"temperature":0.2}"#
    );
    let failed = named(&obs, "failed_call");
    assert_eq!(failed.level, Level::Error);
    assert_eq!(failed.details().status_message.as_deref(), Some("timeout"));
    let errored = named(&obs, "errored");
    assert_eq!(errored.level, Level::Error);
    assert_eq!(
        errored.details().status_message.as_deref(),
        Some("connection reset")
    );
    let retry = named(&obs, "retrying");
    assert_eq!(
        (retry.kind, retry.level),
        (ObservationType::Event, Level::Warning)
    );
    assert_eq!(retry.details().metadata["attempt"].as_str(), "2");
    assert_eq!(named(&obs, "gave up").level, Level::Error);
    assert_eq!(named(&obs, "detail").level, Level::Debug);
    let root = named(&obs, "generation_and_levels");
    assert!(obs
        .iter()
        .filter(|o| o.id != root.id)
        .all(|o| o.parent_id == Some(root.id)));
}

#[observe]
fn model_calls_with_their_call_fields() {
    drop(tracing::info_span!(
        "complete",
        gen_ai.operation.name = "text_completion",
        gen_ai.system = "az.ai.inference",
        gen_ai.provider.name = "azure.ai.openai",
        gen_ai.request.model = "gpt-4o",
        gen_ai.response.id = "chatcmpl-9x",
        gen_ai.response.finish_reasons = ?["length", "stop"],
    ));
    drop(tracing::info_span!(
        "older_conventions",
        gen_ai.system = "anthropic",
        gen_ai.request.model = "claude-sonnet-4",
        gen_ai.response.finish_reasons = "end_turn",
    ));
    // Recorded when the answer is in, as a client does.
    let streamed = tracing::info_span!(
        "streamed",
        gen_ai.operation.name = "chat",
        gen_ai.request.model = "gpt-4o",
        gen_ai.response.id = tracing::field::Empty,
        gen_ai.response.finish_reasons = tracing::field::Empty,
    );
    streamed.record("gen_ai.response.id", "chatcmpl-2");
    streamed.record("gen_ai.response.finish_reasons", r#"["tool_calls"]"#);
    drop(streamed);
    drop(tracing::info_span!(
        "agent",
        gen_ai.operation.name = "invoke_agent"
    ));
    drop(tracing::info_span!(
        "rerank",
        gen_ai.operation.name = "rerank",
        gen_ai.request.model = "rerank-v3",
    ));
}

#[test]
fn provider_response_id_finish_reasons_and_operation_fill_the_model_call() {
    let (client, memory) = Client::in_memory();
    let ((), lines) = lines_beside(ObserveLayer::new(), tracing::Level::WARN, || {
        client.in_scope(model_calls_with_their_call_fields)
    });
    client.flush(FLUSH);
    let obs = memory.observations();
    let call = |name| named(&obs, name).details().gen_ai.as_deref();

    let complete = call("complete").expect("call fields");
    assert_eq!(
        complete.provider.as_deref(),
        Some("azure.ai.openai"),
        "provider.name wins over the older system, given first"
    );
    assert_eq!(complete.operation.as_deref(), Some("text_completion"));
    assert_eq!(complete.response_id.as_deref(), Some("chatcmpl-9x"));
    assert_eq!(complete.finish_reasons, ["length", "stop"]);
    let metadata = &named(&obs, "complete").details().metadata;
    assert!(
        metadata.keys().all(|k| !k.starts_with("gen_ai.")),
        "{metadata:?}"
    );

    let older = call("older_conventions").expect("call fields");
    assert_eq!(older.provider.as_deref(), Some("anthropic"));
    assert_eq!(older.operation, None);
    assert_eq!(older.finish_reasons, ["end_turn"]);

    let streamed = call("streamed").expect("call fields");
    assert_eq!(streamed.operation.as_deref(), Some("chat"));
    assert_eq!(streamed.response_id.as_deref(), Some("chatcmpl-2"));
    assert_eq!(streamed.finish_reasons, ["tool_calls"]);

    assert_eq!(named(&obs, "agent").kind, ObservationType::Agent);
    assert_eq!(call("agent"), None, "an agent's operation is its type's");

    let rerank = named(&obs, "rerank");
    assert_eq!(
        rerank.kind,
        ObservationType::Generation,
        "an unknown operation leaves the type to the model"
    );
    assert_eq!(call("rerank"), None, "the unknown operation is dropped");
    let warnings = at(&lines, "WARN");
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(
        warnings[0].contains("operation dropped") && warnings[0].contains("rerank"),
        "{}",
        warnings[0]
    );
}

#[test]
fn events_below_info_are_left_out_by_default() {
    let (client, memory) = Client::in_memory();
    let obs = recorded(ObserveLayer::new(), &client, &memory, || {
        client.in_scope(generation_and_levels)
    });
    let mut events: Vec<_> = obs
        .iter()
        .filter(|o| o.kind == ObservationType::Event)
        .map(|o| o.name.to_string())
        .collect();
    events.sort();
    assert_eq!(
        events,
        ["gave up", "retrying"],
        "the DEBUG `detail` is not among them"
    );
}

#[test]
fn events_are_capped_per_span() {
    let (client, memory) = Client::in_memory();
    let obs = recorded(
        ObserveLayer::new().max_events_per_span(3),
        &client,
        &memory,
        || {
            client.in_scope(|| {
                #[observe]
                fn chatty() {
                    let _s = tracing::info_span!("loop").entered();
                    for i in 0..10 {
                        tracing::info!(i, "tick");
                    }
                    drop(_s);
                    for i in 0..10 {
                        tracing::info!(i, "tock");
                    }
                }
                chatty()
            })
        },
    );
    assert_eq!(obs.iter().filter(|o| o.name == "tick").count(), 3);
    assert_eq!(obs.iter().filter(|o| o.name == "tock").count(), 3);
}

#[test]
fn a_span_entered_on_two_threads_at_once_keeps_both_children() {
    let (client, memory) = Client::in_memory();
    let obs = recorded(ObserveLayer::new(), &client, &memory, || {
        client.in_scope(|| {
            #[observe]
            fn child(i: usize) -> usize {
                update_current_observation(
                    ObservationUpdate::new().metadata(serde_json::json!({"i": i})),
                );
                i
            }
            #[observe]
            fn fan_out() {
                let span = tracing::info_span!("shared");
                let barrier = std::sync::Barrier::new(2);
                let dispatch = tracing::dispatcher::get_default(Clone::clone);
                std::thread::scope(|s| {
                    for i in 0..2 {
                        let (span, barrier, dispatch) = (&span, &barrier, dispatch.clone());
                        let ctx = observe_runtime::Context::current();
                        s.spawn(move || {
                            tracing::dispatcher::with_default(&dispatch, || {
                                ctx.run(|| {
                                    let _e = span.enter();
                                    barrier.wait();
                                    child(i);
                                    barrier.wait();
                                })
                            })
                        });
                    }
                });
            }
            fan_out()
        })
    });
    let shared = named(&obs, "shared");
    let children: Vec<_> = obs.iter().filter(|o| o.name == "child").collect();
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c.parent_id == Some(shared.id)));
}

#[tokio::test]
async fn in_current_trace_still_works_beside_the_bridge() {
    let (client, memory) = Client::in_memory();
    let subscriber = tracing_subscriber::registry().with(ObserveLayer::new());
    let _guard = tracing::subscriber::set_default(subscriber);
    #[observe]
    async fn parent() -> u32 {
        tokio::spawn(inner_step().in_current_trace()).await.unwrap()
    }
    client.attach(parent()).await;
    client.flush(FLUSH);
    let obs = memory.observations();
    assert_eq!(
        named(&obs, "inner_step").parent_id,
        Some(named(&obs, "parent").id)
    );
}

#[observe]
fn leaf(tag: &str) -> usize {
    tag.len()
}

#[test]
fn spans_exited_out_of_order_keep_the_tree() {
    #[observe]
    fn root() {
        let a = tracing::info_span!("a").entered();
        let b = tracing::info_span!("b").entered();
        // `a` is exited while `b`, entered inside it, is still entered.
        let a = a.exit();
        leaf("in_b");
        drop(b);
        leaf("after_b");
        drop(a);
        leaf("after_a");
    }
    let (client, memory) = Client::in_memory();
    let obs = recorded(ObserveLayer::new(), &client, &memory, || {
        client.in_scope(root)
    });
    let (root, a, b) = (named(&obs, "root"), named(&obs, "a"), named(&obs, "b"));
    assert_eq!(a.parent_id, Some(root.id));
    assert_eq!(b.parent_id, Some(a.id));
    let leaves: Vec<_> = obs.iter().filter(|o| o.name == "leaf").collect();
    assert_eq!(leaves.len(), 3, "{obs:#?}");
    assert_eq!(leaves[0].parent_id, Some(b.id), "inside b");
    assert!(
        leaves[1..].iter().all(|l| l.parent_id == Some(root.id)),
        "once b is exited, what is current is what was before a"
    );
}

#[test]
fn a_span_made_on_one_thread_is_entered_and_closed_on_another() {
    #[observe]
    fn root() {
        let span = tracing::info_span!("moved", step = 2);
        std::thread::spawn(move || {
            // No observe context on this thread: the span brings its trace along.
            let entered = span.entered();
            leaf("there");
            drop(entered);
        })
        .join()
        .unwrap();
    }
    let (client, memory) = Client::in_memory();
    let obs = recorded(ObserveLayer::new(), &client, &memory, || {
        client.in_scope(root)
    });
    assert_eq!(obs.len(), 3, "{obs:#?}");
    let moved = named(&obs, "moved");
    assert_eq!(moved.parent_id, Some(named(&obs, "root").id));
    assert_eq!(moved.details().metadata["step"].as_str(), "2");
    assert_eq!(named(&obs, "leaf").parent_id, Some(moved.id));
}

#[test]
fn two_subscribers_on_one_thread_keep_their_spans_apart() {
    // Fresh registries hand out the same span ids; the same layer, cloned, is in both.
    #[observe]
    fn root() {
        let layer = ObserveLayer::new();
        let first = tracing_subscriber::registry().with(layer.clone());
        let second = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(first, || {
            let a = tracing::info_span!("a");
            tracing::subscriber::with_default(second, || {
                let b = tracing::info_span!("b");
                let _b = b.enter();
                leaf("under_b");
            });
            let _a = a.enter();
            leaf("under_a!");
        });
    }
    let (client, memory) = Client::in_memory();
    client.in_scope(root);
    client.flush(FLUSH);
    let obs = memory.observations();
    assert_eq!(obs.len(), 5, "{obs:#?}");
    let (a, b) = (named(&obs, "a"), named(&obs, "b"));
    let under = |parent: u64| {
        obs.iter()
            .filter(|o| o.name == "leaf" && o.parent_id.map(|p| p.0) == Some(parent))
            .count()
    };
    assert_eq!((under(a.id.0), under(b.id.0)), (1, 1), "{obs:#?}");
}

#[test]
fn many_spans_in_turn_reuse_ids_without_mixing_them_up() {
    #[observe]
    fn root() {
        for i in 0..200u32 {
            let _s = tracing::info_span!("turn", i).entered();
            leaf("x");
        }
    }
    let (client, memory) = Client::in_memory();
    let obs = recorded(ObserveLayer::new(), &client, &memory, || {
        client.in_scope(root)
    });
    let turns: std::collections::HashMap<_, _> = obs
        .iter()
        .filter(|o| o.name == "turn")
        .map(|o| (o.id, o))
        .collect();
    assert_eq!(turns.len(), 200);
    let leaves: Vec<_> = obs.iter().filter(|o| o.name == "leaf").collect();
    assert_eq!(leaves.len(), 200);
    let mut parents: Vec<_> = leaves.iter().map(|l| l.parent_id.unwrap()).collect();
    parents.sort();
    parents.dedup();
    assert_eq!(parents.len(), 200, "one leaf under each turn");
    assert!(parents.iter().all(|p| turns.contains_key(p)));
}
