//! The session tree: a workflow's traces and their observations as a human reads them.
//!
//! ```text
//! Session: analysis_abc123 (15.2s, $0.23)
//! ├── content_analysis_workflow (15.2s, $0.23)
//! │   ├── url_fetch (1.0s, $0.02)
//! │   └── summarize [generation] (2.1s, $0.21)
//! └── follow_up (0.4s)
//! ```
//!
//! A generation whose first token time is known also shows its time to first token:
//! `chat [generation] (2.1s, $0.01, ttft 180ms)`.
//!
//! A node's latency is its measured duration; a trace's runs from the earliest start to the
//! latest end of its observations, and so does the session's. A node's cost is its own total
//! cost plus its descendants'; a trace's and a session's are the sums of all their
//! observations. Children are ordered by start time.
//!
//! Costs follow [`crate::money`]: a node without a cost shows none (`follow_up (0.4s)`), and
//! small costs keep three significant digits (`$0.0056`). A cost observe computed from usage
//! and a model price list (see `observe_store::pricing`) is shown like a given one;
//! [`TraceTree::cost_computed`] says which.
//!
//! The functions here are pure: they take finished [`Observation`]s (from the in-memory
//! exporter, or read back from the local store with
//! `observe_store::Store`) and return text. [`print()`] writes that text to
//! stderr.
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::{Client, ObservationUpdate, Trace};
//! use observe_model::model::Cost;
//! use observe_model::view::{render_session, ViewOptions};
//!
//! let (client, memory) = Client::in_memory();
//! let trace = client.trace(Trace::new("url_fetch").session_id("analysis_abc123"));
//! let mut llm = trace.generation("summarize");
//! llm.update(ObservationUpdate::new().cost(Cost::total_only(0.02)));
//! llm.end();
//! trace.end();
//! client.flush(Duration::from_secs(5));
//!
//! let text = render_session("analysis_abc123", &memory.observations(), &ViewOptions::default());
//! assert!(text.starts_with("Session: analysis_abc123 ("));
//! assert!(text.contains("└── url_fetch ("));
//! assert!(text.contains("    └── summarize (") && text.contains("$0.02)"));
//! ```

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use crate::model::{Level, Observation, ObservationType, SpanId, Timestamp, TraceId};
use crate::money::format_usd;

/// What the tree shows besides names, latencies and costs.
///
/// ```
/// use observe_model::view::ViewOptions;
/// let detailed = ViewOptions::detailed();
/// assert!(detailed.types && detailed.levels && !detailed.io);
/// assert!(!ViewOptions::default().types);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewOptions {
    /// Appends the observation type, e.g. `[generation]` (spans stay unmarked).
    pub types: bool,
    /// Appends the level when it is not `DEFAULT` (`ERROR: timeout`, `WARNING: cancelled`).
    pub levels: bool,
    /// Shows input and output under each observation.
    pub io: bool,
    /// Longest input or output text shown, in characters, before it is cut with `…`.
    pub io_width: usize,
    /// Shows latencies (`1.5s`); off in [`ViewOptions::snapshot`], where text must be the
    /// same on every run.
    pub timings: bool,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            types: false,
            levels: false,
            io: false,
            io_width: 120,
            timings: true,
        }
    }
}

impl ViewOptions {
    /// Types and levels shown, input and output left out: what `observe trace` prints.
    pub fn detailed() -> Self {
        ViewOptions {
            types: true,
            levels: true,
            ..ViewOptions::default()
        }
    }

    /// Types and levels, no latencies: text that is the same on every run, for snapshot
    /// tests (see [`snapshot`]).
    ///
    /// ```
    /// use observe_model::view::ViewOptions;
    /// let options = ViewOptions::snapshot();
    /// assert!(options.types && options.levels && !options.timings);
    /// ```
    pub fn snapshot() -> Self {
        ViewOptions {
            timings: false,
            ..ViewOptions::detailed()
        }
    }

    /// Also shows input and output.
    #[must_use]
    pub fn with_io(mut self, io: bool) -> Self {
        self.io = io;
        self
    }
}

/// One observation and the observations nested in it.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    /// The observation itself.
    pub observation: &'a Observation,
    /// Its children, by start time.
    pub children: Vec<Node<'a>>,
    /// Its own total cost plus its descendants', in USD.
    pub cost: f64,
    /// Whether part of `cost` was computed from usage rather than given.
    pub cost_computed: bool,
}

impl Node<'_> {
    /// The measured duration: end minus start.
    pub fn latency(&self) -> Duration {
        self.observation.duration()
    }
}

/// One trace: its observations arranged as a tree.
#[derive(Clone, Debug)]
pub struct TraceTree<'a> {
    /// The trace's id.
    pub id: TraceId,
    /// The trace's name, else its root observation's name.
    pub name: String,
    /// The session it belongs to, if any.
    pub session_id: Option<String>,
    /// Earliest start of its observations.
    pub start: Timestamp,
    /// Latest end of its observations.
    pub end: Timestamp,
    /// Sum of its observations' total cost, in USD.
    pub cost: f64,
    /// Whether part of `cost` was computed from usage rather than given.
    pub cost_computed: bool,
    /// Top-level nodes: the root observation, plus any observation whose parent is missing.
    pub roots: Vec<Node<'a>>,
}

impl<'a> TraceTree<'a> {
    /// Arranges the observations of every trace found in `observations`, ordered by start.
    ///
    /// ```
    /// use observe_model::view::TraceTree;
    /// assert!(TraceTree::build_all(&[]).is_empty());
    /// ```
    pub fn build_all(observations: &'a [Observation]) -> Vec<TraceTree<'a>> {
        let mut by_trace: HashMap<TraceId, Vec<&'a Observation>> = HashMap::new();
        for o in observations {
            by_trace.entry(o.trace_id).or_default().push(o);
        }
        let mut traces: Vec<TraceTree<'a>> = by_trace
            .into_iter()
            .map(|(id, obs)| TraceTree::from_group(id, obs))
            .collect();
        traces.sort_by_key(|t| (t.start, t.end, t.id));
        traces
    }

    fn from_group(id: TraceId, mut obs: Vec<&'a Observation>) -> TraceTree<'a> {
        sort_by_start(&mut obs);
        // The root ends last and carries the final attributes; without a root, the
        // observation that ended last has the newest snapshot.
        let authority = obs
            .iter()
            .copied()
            .find(|o| o.is_root())
            .or_else(|| obs.iter().copied().max_by_key(|o| o.end));
        let start = obs.iter().map(|o| o.start).min().unwrap_or_default();
        let end = obs.iter().map(|o| o.end).max().unwrap_or_default();
        let cost = obs.iter().map(|o| o.total_cost()).sum();
        let cost_computed = obs.iter().any(|o| o.cost_is_computed());
        let name = authority
            .and_then(|o| o.trace.name.clone())
            .or_else(|| authority.map(|o| o.name.to_string()))
            .unwrap_or_default();
        let session_id = authority.and_then(|o| o.trace.session_id.clone());

        let present: HashSet<SpanId> = obs.iter().map(|o| o.id).collect();
        let mut children: HashMap<SpanId, Vec<&'a Observation>> = HashMap::new();
        let mut tops = Vec::new();
        for o in &obs {
            match o.parent_id {
                Some(p) if present.contains(&p) && p != o.id => {
                    children.entry(p).or_default().push(o)
                }
                _ => tops.push(*o),
            }
        }
        let mut visited = HashSet::new();
        let roots = tops
            .into_iter()
            .filter_map(|o| build_node(o, &children, &mut visited))
            .collect();
        TraceTree {
            id,
            name,
            session_id,
            start,
            end,
            cost,
            cost_computed,
            roots,
        }
    }

    /// Earliest start to latest end.
    pub fn latency(&self) -> Duration {
        self.end.since(self.start)
    }

    /// The trace as text: its name line, then its observations.
    ///
    /// A trace with one root observation is shown as that observation (its children hang
    /// under the trace's line); otherwise every top-level observation is a child.
    pub fn render(&self, options: &ViewOptions) -> String {
        let mut out = String::new();
        self.write(&mut out, "", options);
        out
    }

    /// Writes the trace's line (already prefixed by the caller) and its subtree;
    /// `indent` is the prefix of the lines below it.
    fn write(&self, out: &mut String, indent: &str, options: &ViewOptions) {
        match self.roots.as_slice() {
            [root] => {
                write_label(
                    out,
                    &self.name,
                    root.observation,
                    self.latency(),
                    self.cost,
                    options,
                );
                write_io(out, indent, !root.children.is_empty(), root, options);
                write_children(out, indent, &root.children, options);
            }
            roots => {
                let _ = writeln!(
                    out,
                    "{}{}",
                    escape_control(&self.name),
                    figures(self.latency(), self.cost, options)
                );
                write_children(out, indent, roots, options);
            }
        }
    }
}

fn build_node<'a>(
    o: &'a Observation,
    children: &HashMap<SpanId, Vec<&'a Observation>>,
    visited: &mut HashSet<SpanId>,
) -> Option<Node<'a>> {
    // A cycle of parent ids cannot come from the runtime, but rows from a file can say
    // anything: each observation is placed once.
    if !visited.insert(o.id) {
        return None;
    }
    let kids: Vec<Node<'a>> = children
        .get(&o.id)
        .map(|v| {
            v.iter()
                .filter_map(|c| build_node(c, children, visited))
                .collect()
        })
        .unwrap_or_default();
    let cost = o.total_cost() + kids.iter().map(|k| k.cost).sum::<f64>();
    let cost_computed = o.cost_is_computed() || kids.iter().any(|k| k.cost_computed);
    Some(Node {
        observation: o,
        children: kids,
        cost,
        cost_computed,
    })
}

fn sort_by_start(obs: &mut [&Observation]) {
    obs.sort_by_key(|o| (o.start, o.end, o.id));
}

/// A session: its traces, by start time.
#[derive(Clone, Debug)]
pub struct SessionTree<'a> {
    /// The session id.
    pub id: String,
    /// Its traces, by start time.
    pub traces: Vec<TraceTree<'a>>,
}

impl<'a> SessionTree<'a> {
    /// The session `id` made of the traces in `observations` whose session id is `id`
    /// (observations of other sessions are left out).
    ///
    /// ```
    /// use observe_model::view::SessionTree;
    /// let empty = SessionTree::build("s1", &[]);
    /// assert_eq!(empty.traces.len(), 0);
    /// assert_eq!(empty.render(&Default::default()), "Session: s1 (0ms)\n");
    /// ```
    pub fn build(id: &str, observations: &'a [Observation]) -> SessionTree<'a> {
        let traces = TraceTree::build_all(observations)
            .into_iter()
            .filter(|t| t.session_id.as_deref() == Some(id))
            .collect();
        SessionTree {
            id: id.to_owned(),
            traces,
        }
    }

    /// Every session found in `observations`, ordered by start; traces without a session
    /// are left out.
    pub fn build_all(observations: &'a [Observation]) -> Vec<SessionTree<'a>> {
        let mut sessions: Vec<SessionTree<'a>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for trace in TraceTree::build_all(observations) {
            let Some(id) = trace.session_id.clone() else {
                continue;
            };
            let i = *index.entry(id.clone()).or_insert_with(|| {
                sessions.push(SessionTree {
                    id,
                    traces: Vec::new(),
                });
                sessions.len() - 1
            });
            sessions[i].traces.push(trace);
        }
        sessions
    }

    /// First observation's start.
    pub fn start(&self) -> Timestamp {
        self.traces
            .iter()
            .map(|t| t.start)
            .min()
            .unwrap_or_default()
    }

    /// Last observation's end.
    pub fn end(&self) -> Timestamp {
        self.traces.iter().map(|t| t.end).max().unwrap_or_default()
    }

    /// First start to last end.
    pub fn duration(&self) -> Duration {
        self.end().since(self.start())
    }

    /// Sum of the total cost of all its observations, in USD.
    pub fn cost(&self) -> f64 {
        self.traces.iter().map(|t| t.cost).sum()
    }

    /// Whether part of [`SessionTree::cost`] was computed from usage rather than given.
    pub fn cost_computed(&self) -> bool {
        self.traces.iter().any(|t| t.cost_computed)
    }

    /// The session as text: `Session: id (duration, $cost)`, then its traces.
    pub fn render(&self, options: &ViewOptions) -> String {
        let mut out = format!(
            "Session: {}{}\n",
            escape_control(&self.id),
            figures(self.duration(), self.cost(), options)
        );
        let n = self.traces.len();
        for (i, trace) in self.traces.iter().enumerate() {
            let last = i + 1 == n;
            out.push_str(if last { "└── " } else { "├── " });
            trace.write(&mut out, if last { "    " } else { "│   " }, options);
        }
        out
    }
}

fn write_children(out: &mut String, indent: &str, children: &[Node<'_>], options: &ViewOptions) {
    let n = children.len();
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == n;
        out.push_str(indent);
        out.push_str(if last { "└── " } else { "├── " });
        let child_indent = format!("{indent}{}", if last { "    " } else { "│   " });
        write_label(
            out,
            &child.observation.name,
            child.observation,
            child.latency(),
            child.cost,
            options,
        );
        write_io(
            out,
            &child_indent,
            !child.children.is_empty(),
            child,
            options,
        );
        write_children(out, &child_indent, &child.children, options);
    }
}

/// A generation's time to first token, in whole microseconds: the precision the store keeps,
/// so a tree drawn from memory and one drawn from the store show the same.
fn time_to_first_token(o: &Observation) -> Option<Duration> {
    let first = o.details().completion_start_time?;
    let micros = (first.as_nanos() / 1000).saturating_sub(o.start.as_nanos() / 1000);
    Some(Duration::from_micros(micros))
}

/// ` (1.5s, $0.02)`, ` (1.5s)` without a cost, ` ($0.02)` without timings, and nothing
/// without either: a node that cost nothing shows no `$0.00` (see [`crate::money`]).
fn figures(latency: Duration, cost: f64, options: &ViewOptions) -> String {
    let cost = format_usd(cost);
    match (options.timings, cost) {
        (true, Some(cost)) => format!(" ({}, {cost})", format_duration(latency)),
        (true, None) => format!(" ({})", format_duration(latency)),
        (false, Some(cost)) => format!(" ({cost})"),
        (false, None) => String::new(),
    }
}

fn write_label(
    out: &mut String,
    name: &str,
    o: &Observation,
    latency: Duration,
    cost: f64,
    options: &ViewOptions,
) {
    out.push_str(&escape_control(name));
    if options.types && o.kind != ObservationType::Span {
        let _ = write!(out, " [{}]", o.kind);
    }
    out.push_str(&figures(latency, cost, options));
    if let (true, Some(ttft)) = (options.timings, time_to_first_token(o)) {
        out.pop(); // the closing parenthesis, reopened for the ttft
        let _ = write!(out, ", ttft {})", format_duration(ttft));
    }
    if options.levels && o.level != Level::Default {
        let _ = write!(out, " {}", o.level);
        if let Some(message) = &o.details().status_message {
            let _ = write!(out, ": {}", one_line(message, options.io_width));
        }
    }
    out.push('\n');
}

fn write_io(
    out: &mut String,
    indent: &str,
    has_children: bool,
    node: &Node<'_>,
    options: &ViewOptions,
) {
    if !options.io {
        return;
    }
    let details = node.observation.details();
    let bar = if has_children { "│ " } else { "  " };
    for (label, value) in [("input", &details.input), ("output", &details.output)] {
        if let Some(value) = value {
            let text = value.to_attribute_text();
            let _ = writeln!(
                out,
                "{indent}{bar}{label}: {}",
                one_line(&text, options.io_width)
            );
        }
    }
}

/// Newlines flattened, cut at `width` characters with `…`, other control characters
/// escaped.
fn one_line(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let cut = if flat.chars().count() <= width {
        flat
    } else {
        let mut cut: String = flat.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    };
    escape_control(&cut).into_owned()
}

/// Text made safe for a terminal: control characters (C0 such as ESC, newline and tab, DEL,
/// and C1) and the bidirectional overrides and isolates are written as escapes (`\u{1b}`,
/// `\n`), so a recorded name, tag or message cannot move the cursor, recolour the screen,
/// set the window title or reorder what is printed around it. Every human-readable output
/// of observe (the trees here, the console exporter, the `observe` command's tables) goes
/// through this one function; JSON output is escaped by its serializer instead.
///
/// ```
/// use observe_model::view::escape_control;
/// assert_eq!(escape_control("plain text, ünïcode"), "plain text, ünïcode");
/// assert_eq!(escape_control("tag\u{1b}]0;owned\u{7}"), "tag\\u{1b}]0;owned\\u{7}");
/// assert_eq!(escape_control("two\nlines"), "two\\nlines");
/// assert_eq!(escape_control("abc\u{202e}fed"), "abc\\u{202e}fed");
/// ```
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Control characters, and the bidirectional formatting characters that reorder text
/// (embeddings, overrides, isolates, marks).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}'
        )
}

/// Renders the session `session_id` from these observations (others are left out).
///
/// ```
/// use observe_model::view::{render_session, ViewOptions};
/// assert_eq!(render_session("s", &[], &ViewOptions::default()), "Session: s (0ms)\n");
/// ```
pub fn render_session(
    session_id: &str,
    observations: &[Observation],
    options: &ViewOptions,
) -> String {
    SessionTree::build(session_id, observations).render(options)
}

/// Renders every session found in these observations, one after the other; traces without
/// a session follow, each as its own tree.
///
/// ```
/// use observe_model::view::{render_all, ViewOptions};
/// assert_eq!(render_all(&[], &ViewOptions::default()), "");
/// ```
pub fn render_all(observations: &[Observation], options: &ViewOptions) -> String {
    let mut out = String::new();
    for session in SessionTree::build_all(observations) {
        out.push_str(&session.render(options));
    }
    for trace in TraceTree::build_all(observations) {
        if trace.session_id.is_none() {
            out.push_str(&trace.render(options));
        }
    }
    out
}

/// Renders each trace found in these observations: its name line, then its observation tree.
///
/// ```
/// use observe_model::view::{render_trace, ViewOptions};
/// assert_eq!(render_trace(&[], &ViewOptions::detailed()), "");
/// ```
pub fn render_trace(observations: &[Observation], options: &ViewOptions) -> String {
    TraceTree::build_all(observations)
        .iter()
        .map(|t| t.render(options))
        .collect()
}

/// What an application recorded, as text for a snapshot test: every session's tree, then
/// each trace without a session, with types, levels and costs but no latencies (they
/// change from run to run). Record into the in-memory destination, flush, and compare:
///
/// ```
/// use std::time::Duration;
/// use observe_runtime::{Client, ObservationUpdate, Trace};
/// use observe_model::model::{Cost, Level};
///
/// let (client, memory) = Client::in_memory();
/// let trace = client.trace(Trace::new("support_request").session_id("chat-42"));
/// let mut llm = trace.generation("answer");
/// llm.update(ObservationUpdate::new().cost(Cost::total_only(0.02)));
/// llm.end();
/// let mut lookup = trace.span("lookup");
/// lookup.update(ObservationUpdate::new().level(Level::Error).status_message("no such order"));
/// lookup.end();
/// trace.end();
/// client.flush(Duration::from_secs(5));
///
/// assert_eq!(
///     observe_model::view::snapshot(&memory.observations()),
///     "Session: chat-42 ($0.02)\n\
///      └── support_request ($0.02)\n\
///      \x20   ├── answer [generation] ($0.02)\n\
///      \x20   └── lookup ERROR: no such order\n"
/// );
/// ```
pub fn snapshot(observations: &[Observation]) -> String {
    render_all(observations, &ViewOptions::snapshot())
}

/// Writes rendered text to stderr; a closed stderr is ignored, never a panic.
///
/// ```
/// observe_model::view::print("Session: s (0ms)\n");
/// ```
pub fn print(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// A duration as the tree shows it: `340ms` under a second, `1.0s` up to a minute,
/// `2m05s` beyond.
///
/// ```
/// use std::time::Duration;
/// use observe_model::view::format_duration;
/// assert_eq!(format_duration(Duration::from_millis(340)), "340ms");
/// assert_eq!(format_duration(Duration::from_millis(15_240)), "15.2s");
/// assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
/// ```
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{}ms", ms.round() as u64)
    } else if ms < 60_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}
