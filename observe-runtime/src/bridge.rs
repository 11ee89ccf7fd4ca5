//! The `tracing` bridge: `tracing` spans and events inside an observed trace become
//! observations of that trace, and `#[observe]` calls inside a bridged span become its
//! children. One tree, whichever side opened which.
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::{bridge::ObserveLayer, observe, Client};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! #[observe]
//! fn answer() -> u32 {
//!     let _span = tracing::info_span!("llm_call", gen_ai.request.model = "gpt-4o-mini",
//!         gen_ai.usage.input_tokens = 12, gen_ai.usage.output_tokens = 3).entered();
//!     tracing::warn!("slow answer");
//!     42
//! }
//!
//! let (client, memory) = Client::in_memory();
//! let subscriber = tracing_subscriber::registry().with(ObserveLayer::new());
//! tracing::subscriber::with_default(subscriber, || client.in_scope(answer));
//! client.flush(Duration::from_secs(5));
//! let obs = memory.observations();
//! let llm = obs.iter().find(|o| o.name == "llm_call").unwrap();
//! assert_eq!(llm.details().model.as_deref(), Some("gpt-4o-mini"));
//! assert_eq!(llm.details().usage.as_ref().unwrap().get("total"), Some(15));
//! assert!(obs.iter().any(|o| o.name == "slow answer" && o.parent_id == Some(llm.id)));
//! ```
//!
//! Events are recorded at INFO and above ([`ObserveLayer::event_level`]); spans at every
//! level. docs/BRIDGE.md lists what each field means, the `gen_ai.*` spellings of the Rust
//! LLM crates (genai, rig-core) included.
//!
//! Outside an observed trace a span costs the layer one thread-local read on creation (and,
//! while no bridged span is open in the table's shard its id falls in, one load on enter
//! and close); the process's other spans are not recorded unless a rule
//! ([`ObserveLayer::start_traces_for_target`], [`ObserveLayer::start_traces_for_name`]) lets
//! them start a trace. Spans and events of the
//! transport crates (hyper, h2, reqwest, rustls, tower, tokio...) and of observe itself are
//! never recorded, so exporting never traces itself.

mod fields;
mod genai_keys;
mod node;
mod spans;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::client::Client;
use crate::context::{current_ptr, with_current, Frame, RawEntered};
use crate::global;
use crate::model::{Level, ObservationType, SpanId, TraceId};
use crate::pipeline::{Pipeline, TraceState};
use fields::{EventFields, Recorded, Visitor};
use node::{Claimed, Node};

/// Whether spans and events of `target` are never recorded: observe's own, and those of the
/// transport and runtime crates an exporter's HTTP request goes through. One `match` on the
/// target's crate (a jump on its length and a compare or two), as it runs for every span
/// opened inside a trace.
fn never_recorded_target(target: &str) -> bool {
    let krate = match target.bytes().position(|b| b == b':') {
        Some(end) => &target[..end],
        None => target,
    };
    matches!(
        krate,
        "observe_runtime"
            | "h2"
            | "hyper"
            | "hyper_util"
            | "mio"
            | "opentelemetry"
            | "opentelemetry_sdk"
            | "reqwest"
            | "rustls"
            | "tokio"
            | "tokio_util"
            | "tonic"
            | "tower"
            | "want"
    )
}

/// [`never_recorded_target`] of a callsite, remembered per thread for the last few
/// callsites seen (a span opened in a loop asks for the same one each time).
fn never_recorded(meta: &'static tracing::Metadata<'static>) -> bool {
    /// Entries are a callsite's address with the answer in its lowest bit (metadata is
    /// aligned to at least 8).
    const WAYS: usize = 8;
    thread_local! {
        static SEEN: [Cell<usize>; WAYS] = const { [const { Cell::new(0) }; WAYS] };
    }
    let addr = meta as *const tracing::Metadata<'static> as usize;
    let way = (addr >> 6) % WAYS;
    SEEN.try_with(|seen| {
        let entry = seen[way].get();
        if entry & !1 == addr {
            return entry & 1 == 1;
        }
        let never = never_recorded_target(meta.target());
        seen[way].set(addr | usize::from(never));
        never
    })
    .unwrap_or_else(|_| never_recorded_target(meta.target()))
}

/// Events recorded per span by default; the rest are dropped (a loop logging at INFO would
/// otherwise flood the trace).
pub const DEFAULT_MAX_EVENTS_PER_SPAN: u32 = 64;

/// The least severe events recorded by default: INFO and above, so that the DEBUG events of
/// middleware (tower-http logs two per request) do not fill every trace.
pub const DEFAULT_EVENT_LEVEL: tracing::Level = tracing::Level::INFO;

/// Longest event name taken from its message.
const EVENT_NAME_CHARS: usize = 100;

/// A [`tracing_subscriber::Layer`] that records `tracing` spans and events inside observed
/// traces; see the module documentation.
///
/// ```
/// use observe_runtime::bridge::ObserveLayer;
/// let layer = ObserveLayer::new()
///     .start_traces_for_target("my_service::jobs")
///     .start_traces_for_name("handle_request")
///     .max_events_per_span(16)
///     .event_level(tracing::Level::DEBUG);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct ObserveLayer {
    roots: Vec<Root>,
    pipeline: Option<Arc<Pipeline>>,
    max_events: u32,
    event_level: tracing::Level,
    /// Tells this layer's spans from another subscriber's in the [`spans`] table (span ids
    /// are unique within one registry only); drawn anew when the layer joins a subscriber.
    instance: u64,
}

#[derive(Clone, Debug)]
enum Root {
    /// A crate or module path: the target itself or anything under `target::`.
    Target(Box<str>),
    Name(Box<str>),
}

impl std::fmt::Debug for ObserveLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveLayer")
            .field("roots", &self.roots)
            .field("client", &self.pipeline.is_some())
            .field("max_events", &self.max_events)
            .field("event_level", &self.event_level)
            .finish()
    }
}

impl Default for ObserveLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ObserveLayer {
    /// Records spans and events inside observed traces only.
    pub fn new() -> Self {
        ObserveLayer {
            roots: Vec::new(),
            pipeline: None,
            max_events: DEFAULT_MAX_EVENTS_PER_SPAN,
            event_level: DEFAULT_EVENT_LEVEL,
            instance: spans::next_instance(),
        }
    }

    /// Span `id` of this layer's subscriber, in the [`spans`] table.
    #[inline]
    fn key(&self, id: &Id) -> (u64, u64) {
        (self.instance, id.into_u64())
    }

    /// Spans of this target (a crate or module path, and everything under it) start a trace
    /// when they open outside one.
    pub fn start_traces_for_target(mut self, target: impl Into<String>) -> Self {
        self.roots
            .push(Root::Target(target.into().into_boxed_str()));
        self
    }

    /// Spans of this name start a trace when they open outside one.
    pub fn start_traces_for_name(mut self, name: impl Into<String>) -> Self {
        self.roots.push(Root::Name(name.into().into_boxed_str()));
        self
    }

    /// Traces that spans start go to this client (else to the client in scope, else the
    /// global one). Spans inside a trace always go where their trace goes.
    pub fn client(mut self, client: &Client) -> Self {
        self.pipeline = Some(client.pipeline().clone());
        self
    }

    /// At most `n` events recorded per span (default [`DEFAULT_MAX_EVENTS_PER_SPAN`]).
    pub fn max_events_per_span(mut self, n: u32) -> Self {
        self.max_events = n;
        self
    }

    /// Events at `level` and more severe are recorded (default [`DEFAULT_EVENT_LEVEL`],
    /// INFO); `tracing::Level::DEBUG` or `TRACE` records the chattier ones too. Spans are
    /// recorded whatever their level.
    pub fn event_level(mut self, level: tracing::Level) -> Self {
        self.event_level = level;
        self
    }

    fn starts_trace(&self, meta: &tracing::Metadata<'_>) -> bool {
        self.roots.iter().any(|root| match root {
            Root::Target(t) => in_module(meta.target(), t),
            Root::Name(n) => meta.name() == &**n,
        })
    }
}

/// `target` is `module` or lies under it.
fn in_module(target: &str, module: &str) -> bool {
    target
        .strip_prefix(module)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Where a new observation hangs: its trace and parent, or only a client to start one in.
struct Parent {
    trace: Option<Arc<TraceState>>,
    span_id: Option<SpanId>,
    client: Option<Arc<Pipeline>>,
}

impl Parent {
    fn of(frame: &Frame) -> Parent {
        Parent {
            trace: frame.trace.clone(),
            span_id: frame.span_id,
            client: frame.client.clone(),
        }
    }
}

/// One entry per bridged span entered on this thread, innermost last.
struct Slot {
    id: u64,
    node: *const Node,
    /// The frame made current (the node's own, or its carried copy).
    frame: *const Frame,
    /// Whether this slot holds the node's claim ([`Claimed::keep`]).
    claimed: bool,
    entered: RawEntered,
}

thread_local! {
    static ENTERED: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
    /// Events counted under the observation (not a bridged span) they were last recorded
    /// under on this thread, for the per-span cap of `#[observe]` frames.
    static EVENTS_UNDER: std::cell::Cell<(u64, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// Takes the span `id` off this thread's stack, putting back the frame that was current
/// before it; called on exit, and on close in case the registry closed the span first.
fn leave(id: u64) {
    let _ = ENTERED.try_with(|stack| {
        let Ok(mut stack) = stack.try_borrow_mut() else {
            return;
        };
        let Some(at) = stack.iter().rposition(|slot| slot.id == id) else {
            return;
        };
        // Usually the innermost: popped without moving the rest.
        let slot = if at + 1 == stack.len() {
            stack.pop()
        } else {
            Some(stack.remove(at))
        };
        let Some(slot) = slot else { return };
        // SAFETY: a slot is removed before its node can be freed: the table holds the node
        // until `on_close`, which takes the slot off first.
        let node = unsafe { &*slot.node };
        // Given back when this returns, after the guard is dropped or handed on.
        // SAFETY: the slot held the claim `enter` kept (its `claimed` says so), and it is off
        // the stack now: nothing else resumes it.
        let claim = slot.claimed.then(|| unsafe { Claimed::resume(node) });
        if let Some(above) = stack.get_mut(at) {
            // Exited out of order: the span above now restores what this one would have.
            above.entered.set_previous(slot.entered.previous());
            std::mem::forget(slot.entered);
        } else {
            if current_ptr() != slot.frame {
                // Some other guard, entered inside this span, is still open and will put
                // this frame back when it ends (on this thread, where it alone reads it):
                // the observation's fields leave the frame now, for the close to finish.
                if let Some(claim) = &claim {
                    let frame = claim.frame().and_then(Frame::detach_open);
                    if let Some(frame) = frame {
                        *node.detached.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(Box::new(frame));
                    }
                }
                node.stranded.store(true, Ordering::Release);
            }
            drop(slot.entered);
        }
        drop(claim);
    });
}

impl ObserveLayer {
    /// The parent a new span or event hangs under, or `None` when it is not in a trace
    /// (nor allowed to start one).
    fn parent_of(&self, contextual: bool, explicit: Option<&Id>) -> Option<Parent> {
        if contextual {
            return with_current(|f| f.map(Parent::of));
        }
        spans::with(self.key(explicit?), |node| {
            // SAFETY: `with` holds the table's lock, with the node in it.
            let (trace, span_id) = unsafe { node.ids() }?;
            Some(Parent {
                trace: Some(trace.clone()),
                span_id: Some(span_id),
                client: None,
            })
        })
        .flatten()
    }
}

impl<S> tracing_subscriber::Layer<S> for ObserveLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        // A clone of a layer already in use gets its own spans.
        self.instance = spans::next_instance();
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let contextual = attrs.is_contextual();
        if contextual && self.roots.is_empty() && !crate::context::has_current() {
            return;
        }
        if never_recorded(meta) {
            return;
        }
        let parent = self.parent_of(contextual, attrs.parent());
        let (trace, parent_id) = match parent {
            Some(Parent {
                trace: Some(trace),
                span_id,
                ..
            }) => (trace, span_id),
            parent if self.starts_trace(meta) => {
                let pipeline = self
                    .pipeline
                    .clone()
                    .or_else(|| parent.and_then(|p| p.client))
                    .or_else(global::pipeline);
                let Some(pipeline) = pipeline else { return };
                (TraceState::new(pipeline, TraceId::random()), None)
            }
            _ => return,
        };
        if !trace.sampled {
            return;
        }
        let frame = Frame::with_trace(
            trace,
            parent_id,
            Cow::Borrowed(meta.name()),
            ObservationType::Span,
        );
        let mut node = Node::new(frame);
        if !attrs.values().is_empty() {
            // Applied on close with the fields recorded later: counts that arrive in parts
            // (the conventions' input tokens now, the cached share of them on the answer)
            // are turned into Langfuse's usage once, all known.
            let mut recorded = Box::<Recorded>::default();
            attrs.record(&mut Visitor(&mut *recorded));
            *node
                .pending
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner) = Some(recorded);
            *node.recorded.get_mut() = true;
        }
        spans::insert(self.key(id), Arc::new(node));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(node) = spans::get(self.key(id)) {
            let mut pending = node.pending.lock().unwrap_or_else(PoisonError::into_inner);
            values.record(&mut Visitor(
                &mut **pending.get_or_insert_with(Default::default),
            ));
            node.recorded.store(true, Ordering::Release);
        }
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let Some(node) = spans::get_ptr(self.key(id)) else {
            return;
        };
        // SAFETY: the table holds the node until the span's `on_close`, and the span cannot
        // close while being entered (the caller holds a handle to it).
        enter(id.into_u64(), unsafe { &*node });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        leave(id.into_u64());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // `tracing` orders levels by verbosity: DEBUG is greater than INFO.
        if *event.metadata().level() > self.event_level {
            return;
        }
        let contextual = event.is_contextual();
        if contextual && !crate::context::has_current() {
            return;
        }
        let meta = event.metadata();
        if never_recorded(meta) {
            return;
        }
        let Some(Parent {
            trace: Some(trace),
            span_id: Some(parent_id),
            ..
        }) = self.parent_of(contextual, event.parent())
        else {
            return;
        };
        if !trace.sampled || !self.count_event(parent_id, event, &ctx) {
            return;
        }
        let mut fields = EventFields::default();
        event.record(&mut Visitor(&mut fields));
        let name: Cow<'static, str> = match &fields.message {
            Some(message) => message
                .chars()
                .take(EVENT_NAME_CHARS)
                .collect::<String>()
                .into(),
            None => Cow::Borrowed(meta.name()),
        };
        let mut frame = Frame::with_trace(trace, Some(parent_id), name, ObservationType::Event);
        if let Some(open) = frame.open_mut() {
            open.level = match *meta.level() {
                tracing::Level::ERROR => Level::Error,
                tracing::Level::WARN => Level::Warning,
                tracing::Level::INFO => Level::Default,
                _ => Level::Debug,
            };
            let alarming = matches!(open.level, Level::Warning | Level::Error);
            let details = open.details_mut();
            if alarming {
                details.status_message = fields.message;
            }
            fields.metadata.push((
                "target".to_owned(),
                crate::model::Json::string(meta.target()),
            ));
            details.metadata.extend(fields.metadata);
        }
        frame.finish();
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        leave(id.into_u64());
        let Some(node) = spans::remove(self.key(&id)) else {
            return;
        };
        let pending = if node.recorded.load(Ordering::Acquire) {
            node.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        } else {
            None
        };
        // The span is closing: no thread has it entered (entering takes a handle), and no
        // reader under the table's lock remains (the node left the table).
        let frame = if node.stranded.load(Ordering::Acquire) {
            // A guard may still put this node's frame (or its carried one) back as current:
            // the node stays for good (a few hundred bytes, only after an out-of-order exit),
            // and its frame is not written but for its open fields, if the stranding thread
            // left them there (it had the carried frame, so no guard has this one).
            let detached = node
                .detached
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            // SAFETY: as said above.
            let own = unsafe { node.frame() }.and_then(Frame::detach_open);
            std::mem::forget(node);
            detached.map(|frame| *frame).or(own)
        } else {
            // SAFETY: as said above, and no guard points at the frame (not stranded).
            unsafe { &mut *node.frame.get() }.take()
        };
        if let Some(frame) = frame {
            finish(frame, pending);
        }
    }
}

/// Makes span `id`'s frame current on this thread: the node's own frame if no other thread
/// has it entered, else its carried copy.
fn enter(id: u64, node: &Node) {
    let claim = node.claim();
    let own = claim.as_ref().and_then(Claimed::frame);
    let frame = own.or_else(|| {
        node.carried
            // SAFETY: this thread is entering the span.
            .get_or_init(|| unsafe { node.carried() }.map(Box::new))
            .as_deref()
    });
    let Some(frame) = frame else {
        // A node without a frame (none is made so): nothing to enter (the claim, if taken,
        // is given back).
        return;
    };
    // SAFETY: `node` lives while it is in the table, until `on_close`, which takes this
    // slot off the stack (dropping or handing on its guard) first; the frame's address
    // holds until then (the node is in an `Arc`, a stranded frame's node is never freed,
    // and its frame is then written only in its open fields), and only `with_open` and
    // `detach_open` reach those mutably.
    let entered = unsafe { RawEntered::new(frame) };
    let slot = Slot {
        id,
        node,
        frame,
        claimed: claim.is_some(),
        entered,
    };
    let pushed = ENTERED.try_with(|stack| {
        stack
            .try_borrow_mut()
            .map(|mut stack| stack.push(slot))
            .is_ok()
    });
    if let (Ok(true), Some(claim)) = (pushed, claim) {
        // The slot holds it now, until `leave`.
        claim.keep();
    }
    // Otherwise the thread is exiting or re-entered from a drop: the slot (and its guard)
    // is gone, and the claim is given back here.
}

/// Applies the fields recorded since creation and queues the observation.
fn finish(mut frame: Frame, pending: Option<Box<Recorded>>) {
    if let Some(recorded) = pending {
        if let Some(open) = frame.open_mut() {
            recorded.apply_to(open);
        }
    }
    frame.finish();
}

impl ObserveLayer {
    /// Counts an event against its span's cap; false once the cap is reached.
    fn count_event<S>(&self, parent: SpanId, event: &Event<'_>, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let bridged = ctx.event_span(event).and_then(|span| {
            spans::with(self.key(&span.id()), |node| {
                // SAFETY: `with` holds the table's lock, with the node in it.
                let (_, span_id) = unsafe { node.ids() }?;
                (span_id == parent).then(|| node.events.fetch_add(1, Ordering::Relaxed))
            })
            .flatten()
        });
        let seen = bridged.unwrap_or_else(|| {
            EVENTS_UNDER
                .try_with(|under| {
                    let (id, n) = under.get();
                    let n = if id == parent.0 { n } else { 0 };
                    under.set((parent.0, n.saturating_add(1)));
                    n
                })
                .unwrap_or(0)
        });
        seen < self.max_events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Trace;
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt;

    /// The layer's unsafe paths in one small run, for Miri (`scripts/miri.sh`): a span's own
    /// frame claimed on its thread while another thread enters it (the carried frame), a
    /// span made on one thread and entered and closed on another, spans exited out of order,
    /// and a span exited and closed while a guard entered inside it is still open (its frame
    /// stranded). Spans of this crate's own target are never recorded, hence `target:`.
    #[test]
    fn frames_claimed_carried_moved_reordered_and_stranded() {
        let (client, memory) = Client::in_memory();
        let dispatch =
            tracing::Dispatch::new(tracing_subscriber::registry().with(ObserveLayer::new()));
        tracing::dispatcher::with_default(&dispatch, || {
            let root = client.trace(Trace::new("t")).span("root");
            root.in_scope(|| {
                let shared = tracing::info_span!(target: "app", "shared");
                let moved = tracing::info_span!(target: "app", "moved");
                let own = shared.enter();
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let _carried = shared.enter();
                        tracing::dispatcher::with_default(&dispatch, || {
                            drop(tracing::info_span!(target: "app", "under_carried"))
                        });
                    });
                    s.spawn(move || drop(moved.entered()));
                });
                drop(own);
                let a = tracing::info_span!(target: "app", "a").entered();
                let b = tracing::info_span!(target: "app", "b").entered();
                drop(a.exit());
                drop(b);
                let c = tracing::info_span!(target: "app", "c").entered();
                let guard = root.span("guard");
                guard.in_scope(|| drop(c.exit()));
                guard.end();
                drop(tracing::info_span!(target: "app", "after"));
            });
            root.end();
        });
        client.flush(Duration::from_secs(30));
        let names: Vec<_> = memory.observations().into_iter().map(|o| o.name).collect();
        for name in ["shared", "under_carried", "moved", "a", "b", "c", "after"] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
    }
}
