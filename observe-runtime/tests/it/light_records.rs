//! The per-thread buffer of light records (sync children with nothing captured, async
//! children likewise): every one reaches the exporters, under the right parent and trace,
//! with the trace's attributes, counted exactly; none waits in a thread's buffer once the
//! scope it was made in is left; anything more than a light record (an error, a panic, an
//! update) still ends as a full record.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures::task::noop_waker_ref;
use observe_runtime::model::{Level, Observation, SpanId, TraceId};
use observe_runtime::{
    observe, update_current_observation, update_current_trace, Client, ObservationUpdate, Trace,
    TraceUpdate,
};

const FLUSH: Duration = Duration::from_secs(30);

#[observe(capture_input = false, capture_output = false)]
fn light_child(i: u64) -> u64 {
    std::hint::black_box(i)
}

/// Flushes from another thread, so that this thread's buffer is not handed over by the
/// flush itself: what arrives was already in the ring.
fn flush_elsewhere(client: &Client) {
    std::thread::scope(|s| {
        s.spawn(|| client.flush(FLUSH));
    });
}

fn named<'a>(obs: &'a [Observation], name: &str) -> Vec<&'a Observation> {
    obs.iter().filter(|o| o.name == name).collect()
}

/// Pending `polls - 1` times; each poll first calls `per_poll` light children.
struct Polls {
    left: u32,
    per_poll: u64,
}

impl Future for Polls {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        for i in 0..self.per_poll {
            light_child(i);
        }
        self.left -= 1;
        if self.left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[observe(capture_input = false, capture_output = false)]
async fn pending_parent(polls: u32, per_poll: u64) {
    update_current_trace(TraceUpdate::new().user_id("u-7"));
    Polls {
        left: polls,
        per_poll,
    }
    .await
}

#[test]
fn children_of_a_parent_that_stays_pending_arrive_after_every_poll() {
    let (client, memory) = Client::in_memory();
    let per_poll = 5;
    let polls = 4;
    let mut parent = Box::pin(client.attach(pending_parent(polls, per_poll)));
    let mut cx = TaskContext::from_waker(noop_waker_ref());
    for poll in 1..=polls {
        let ready = parent.as_mut().poll(&mut cx).is_ready();
        assert_eq!(ready, poll == polls);
        flush_elsewhere(&client);
        let obs = memory.observations();
        let children = named(&obs, "light_child");
        assert_eq!(
            children.len() as u64,
            per_poll * u64::from(poll),
            "after poll {poll}, every child so far was delivered"
        );
        if !ready {
            assert!(
                named(&obs, "pending_parent").is_empty(),
                "parent still open"
            );
        }
    }
    let obs = memory.observations();
    let parent = named(&obs, "pending_parent")[0];
    for child in named(&obs, "light_child") {
        assert_eq!(child.parent_id, Some(parent.id));
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.level, Level::Default);
        assert_eq!(
            child.trace.user_id.as_deref(),
            Some("u-7"),
            "attributes stamped"
        );
    }
    let stats = client.shutdown(FLUSH).stats;
    assert!(stats.destinations[0].balanced());
    assert_eq!(
        stats.destinations[0].exported,
        per_poll * u64::from(polls) + 1
    );
}

#[observe(capture_input = false, capture_output = false)]
fn many_children(n: u64) -> u64 {
    (0..n).map(light_child).sum()
}

#[test]
fn ten_thousand_sync_children_are_all_delivered_and_counted_per_destination() {
    let (client, memory) = Client::in_memory();
    client.in_scope(|| many_children(10_000));
    // Flushed from this thread right after the scope: nothing may wait in its buffer.
    let report = client.flush(FLUSH);
    assert!(!report.timed_out);
    let obs = memory.observations();
    assert_eq!(obs.len(), 10_001);
    let root = named(&obs, "many_children")[0];
    let children = named(&obs, "light_child");
    assert_eq!(children.len(), 10_000);
    assert!(children.iter().all(|c| c.parent_id == Some(root.id)));
    let mut ids: Vec<SpanId> = children.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10_000, "every child has its own id");
    // Children reach the worker before their parent.
    let root_at = obs.iter().position(|o| o.id == root.id).unwrap();
    assert_eq!(root_at, obs.len() - 1);
    let stats = client.stats();
    assert_eq!(stats.queued, 10_001);
    let memory_stats = stats.destination("memory").unwrap();
    assert_eq!(
        (
            memory_stats.accepted,
            memory_stats.exported,
            memory_stats.pending
        ),
        (10_001, 10_001, 0)
    );
    assert!(memory_stats.balanced());
}

#[observe(capture_input = false, capture_output = false)]
fn root_a(client: &Client) -> (TraceId, TraceId) {
    light_child(1);
    let b = client.trace(Trace::new("trace_b"));
    b.in_scope(|| light_child(2));
    let b_id = b.id();
    b.end();
    light_child(3);
    (observe_runtime::current_trace_id().unwrap(), b_id)
}

#[test]
fn a_buffer_of_one_trace_then_a_child_of_another_keeps_both_traces() {
    let (client, memory) = Client::in_memory();
    let (a, b) = client.in_scope(|| root_a(&client));
    assert_ne!(a, b);
    client.flush(FLUSH);
    let obs = memory.observations();
    let root = named(&obs, "root_a")[0];
    let b_root = named(&obs, "trace_b")[0];
    let children = named(&obs, "light_child");
    assert_eq!(children.len(), 3);
    let in_a: Vec<_> = children.iter().filter(|c| c.trace_id == a).collect();
    let in_b: Vec<_> = children.iter().filter(|c| c.trace_id == b).collect();
    assert_eq!((in_a.len(), in_b.len()), (2, 1));
    assert!(in_a.iter().all(|c| c.parent_id == Some(root.id)));
    assert_eq!(in_b[0].parent_id, Some(b_root.id));
    assert_eq!(b_root.trace_id, b);
    assert!(client.stats().destinations[0].balanced());
}

#[observe(capture_input = false, capture_output = false)]
fn fails(i: u64) -> Result<u64, String> {
    Err(format!("no {i}"))
}

#[observe(capture_input = false, capture_output = false)]
fn panics() -> u64 {
    panic!("boom")
}

#[observe(capture_input = false, capture_output = false)]
fn updates() -> u64 {
    update_current_observation(ObservationUpdate::new().model("m-1"));
    7
}

#[observe(capture_input = false, capture_output = false)]
fn mixed() {
    light_child(0);
    let _ = fails(1);
    let caught = std::panic::catch_unwind(panics);
    assert!(caught.is_err());
    updates();
    light_child(4);
}

#[test]
fn errors_panics_and_updates_end_as_full_records_in_order() {
    let (client, memory) = Client::in_memory();
    client.in_scope(mixed);
    client.flush(FLUSH);
    let obs = memory.observations();
    let root = named(&obs, "mixed")[0];
    let failed = named(&obs, "fails")[0];
    assert_eq!(failed.level, Level::Error);
    let details = failed.details.as_ref().unwrap();
    assert_eq!(details.status_message.as_deref(), Some("no 1"));
    let panicked = named(&obs, "panics")[0];
    assert_eq!(panicked.level, Level::Error);
    let message = panicked.details.as_ref().unwrap().status_message.as_deref();
    assert_eq!(message, Some("panicked: boom"));
    let updated = named(&obs, "updates")[0];
    assert_eq!(
        updated.details.as_ref().unwrap().model.as_deref(),
        Some("m-1")
    );
    for o in [failed, panicked, updated] {
        assert_eq!(o.parent_id, Some(root.id));
    }
    // A thread's records reach the worker in the order they ended, light or not.
    let order: Vec<&str> = obs.iter().map(|o| &*o.name).collect();
    assert_eq!(
        order,
        [
            "light_child",
            "fails",
            "panics",
            "updates",
            "light_child",
            "mixed"
        ]
    );
}

#[observe(capture_input = false, capture_output = false)]
async fn async_leaf(i: u64) -> u64 {
    std::hint::black_box(i)
}

#[observe(capture_input = false, capture_output = false)]
async fn async_middle(i: u64) -> u64 {
    async_leaf(i).await + light_child(i)
}

#[tokio::test]
async fn async_children_and_nested_levels_keep_their_parents() {
    let (client, memory) = Client::in_memory();
    client
        .attach(async {
            for i in 0..100 {
                async_middle(i).await;
            }
        })
        .await;
    client.flush(FLUSH);
    let obs = memory.observations();
    assert_eq!(obs.len(), 300);
    let by_id: std::collections::HashMap<_, _> = obs.iter().map(|o| (o.id, o)).collect();
    for leaf in named(&obs, "async_leaf")
        .into_iter()
        .chain(named(&obs, "light_child"))
    {
        let parent = by_id[&leaf.parent_id.unwrap()];
        assert_eq!(parent.name, "async_middle");
        assert_eq!(parent.trace_id, leaf.trace_id);
    }
    // Each middle is a trace of its own, ended after its children.
    for middle in named(&obs, "async_middle") {
        assert_eq!(middle.parent_id, None);
        let at = obs.iter().position(|o| o.id == middle.id).unwrap();
        assert!(
            obs[..at]
                .iter()
                .filter(|o| o.parent_id == Some(middle.id))
                .count()
                == 2
        );
    }
    assert!(client.stats().destinations[0].balanced());
}

#[test]
fn unsampled_traces_record_no_light_children() {
    let client = Client::builder()
        .exporter(observe_runtime::export::memory::InMemory::new())
        .config(&observe_runtime::Config::new().sample_rate(0.0))
        .build();
    client.in_scope(|| many_children(1_000));
    let stats = client.flush(FLUSH).stats;
    assert_eq!(stats.queued, 0);
    assert!(stats.destinations[0].balanced());
}

#[observe(capture_input = false, capture_output = false)]
fn under_a_bridged_span() {
    light_child(1);
    let span = tracing::info_span!("bridged");
    let entered = span.enter();
    // The current frame is the bridged span's (entered by a `RawEntered`): the child takes
    // the full path, and still hangs under it.
    light_child(2);
    drop(entered);
    light_child(3);
}

#[test]
fn sync_children_under_a_bridged_span_take_the_full_path_and_keep_their_parent() {
    use tracing_subscriber::layer::SubscriberExt;
    let (client, memory) = Client::in_memory();
    let subscriber =
        tracing_subscriber::registry().with(observe_runtime::bridge::ObserveLayer::new());
    tracing::subscriber::with_default(subscriber, || client.in_scope(under_a_bridged_span));
    client.flush(FLUSH);
    let obs = memory.observations();
    let root = named(&obs, "under_a_bridged_span")[0];
    let bridged = named(&obs, "bridged")[0];
    assert_eq!(bridged.parent_id, Some(root.id));
    let parents: Vec<_> = named(&obs, "light_child")
        .iter()
        .map(|c| c.parent_id)
        .collect();
    assert_eq!(
        parents,
        [Some(root.id), Some(bridged.id), Some(root.id)],
        "in the order they ended"
    );
    assert!(client.stats().destinations[0].balanced());
}
