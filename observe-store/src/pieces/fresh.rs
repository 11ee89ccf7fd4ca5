//! Traces a request makes, held in memory until its observations are known and then
//! written with one `INSERT` each, their attributes merged and their totals counted here in
//! Rust. For a trace the store already holds, the same results come from SQL
//! ([`trace::merge_attributes`](super::trace::merge_attributes) and
//! [`trace::refresh`](super::trace::refresh)); a trace that is new cannot have rows to
//! merge with, so nothing needs reading back.

use super::in_place::{InPlace, FRESH_TRACE_PARAMS};
use super::observation::Row;
use crate::raw::Value;
use crate::text::{encode, nanos, write_metadata};
use observe_model::model::{Json, Metadata, Timestamp, TraceAttributes};

/// A trace the request makes: its `seq`, the time it takes while it has no observation,
/// and its attributes as merged so far.
pub(super) struct FreshTrace<'p> {
    /// Its id, as the sender spelled it.
    pub(super) id: &'p str,
    pub(super) seq: i64,
    /// Its time while it has no observation: the first piece's start, or the arrival; a
    /// trace piece that names its time later replaces it.
    pub(super) start: Timestamp,
    attributes: Merged<'p>,
    /// The observation attributes last merged, by address: spans of one request share a
    /// set, and merging it again right after itself changes nothing.
    last_merged: usize,
}

/// Trace attributes merged as [`trace::merge_attributes`](super::trace::merge_attributes)
/// merges them: scalars given replace, metadata by key, tags as a union.
#[derive(Default)]
struct Merged<'p> {
    /// Whether any non-empty set was merged (an untouched row keeps the column defaults).
    any: bool,
    name: Option<&'p str>,
    user_id: Option<&'p str>,
    session_id: Option<&'p str>,
    version: Option<&'p str>,
    release: Option<&'p str>,
    environment: Option<&'p str>,
    public: Option<bool>,
    input: Option<&'p Json>,
    output: Option<&'p Json>,
    metadata: Metadata,
    tags: Vec<&'p str>,
}

impl<'p> FreshTrace<'p> {
    /// A trace `id` numbered `seq`, timed `start` until its observations say otherwise.
    pub(super) fn new(id: &'p str, seq: i64, start: Timestamp) -> Self {
        FreshTrace {
            id,
            seq,
            start,
            attributes: Merged::default(),
            last_merged: 0,
        }
    }

    /// Merges the trace attributes an observation piece carries (skipped when the same set
    /// was the last merged).
    pub(super) fn merge_shared(&mut self, a: &'p std::sync::Arc<TraceAttributes>) {
        let address = std::sync::Arc::as_ptr(a) as usize;
        if std::mem::replace(&mut self.last_merged, address) != address {
            self.merge(a);
        }
    }

    /// Merges `a` over what is merged so far.
    pub(super) fn merge(&mut self, a: &'p TraceAttributes) {
        if *a == TraceAttributes::default() {
            return;
        }
        // A trace piece may come between two observations of the same set.
        self.last_merged = 0;
        let m = &mut self.attributes;
        m.any = true;
        let over = |slot: &mut Option<&'p str>, given: &'p Option<String>| {
            if let Some(given) = given.as_deref() {
                *slot = Some(given);
            }
        };
        over(&mut m.name, &a.name);
        over(&mut m.user_id, &a.user_id);
        over(&mut m.session_id, &a.session_id);
        over(&mut m.version, &a.version);
        over(&mut m.release, &a.release);
        over(&mut m.environment, &a.environment);
        m.public = a.public.or(m.public);
        m.input = a.input.as_ref().or(m.input);
        m.output = a.output.as_ref().or(m.output);
        m.metadata
            .extend(a.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        for tag in &a.tags {
            if !m.tags.contains(&tag.as_str()) {
                m.tags.push(tag);
            }
        }
    }

    /// Inserts the trace's row, stamped with `project`, with the totals of `rows` (its
    /// observations, all new) counted as [`trace::refresh`](super::trace::refresh) counts
    /// them from stored rows.
    pub(super) fn insert(
        &self,
        statements: &mut InPlace<'_>,
        rows: &[&Row<'_>],
        project: Option<&str>,
        arrival: Timestamp,
    ) -> rusqlite::Result<()> {
        let totals = Totals::of(rows);
        let (start, end) = match totals.span {
            Some(span) => span,
            None => (nanos(self.start), nanos(self.start)),
        };
        let text = |ns: i64| Timestamp(ns.max(0) as u64).to_rfc3339();
        let (start_text, end_text, updated) = (text(start), text(end), arrival.to_rfc3339());
        let m = &self.attributes;
        let root = totals.root;
        let mut metadata = String::new();
        let mut tags = Vec::new();
        let (metadata, tags) = match m.any {
            true => (
                write_metadata(&mut metadata, &m.metadata),
                encode(&mut tags, &m.tags).unwrap_or("[]"),
            ),
            false => ("{}", "[]"),
        };
        let values: [Value<'_>; FRESH_TRACE_PARAMS] = [
            self.id.into(),
            m.name
                .or(root.map(|r| r.name).filter(|n| !n.is_empty()))
                .into(),
            m.user_id.into(),
            m.session_id.into(),
            start_text.as_str().into(),
            end_text.as_str().into(),
            start.into(),
            end.into(),
            totals.cost.into(),
            totals.computed.into(),
            totals.count.into(),
            metadata.into(),
            tags.into(),
            m.version.into(),
            m.release.into(),
            m.environment.into(),
            m.public.into(),
            m.input
                .map(Json::as_str)
                .or(root.and_then(|r| r.input))
                .into(),
            m.output
                .map(Json::as_str)
                .or(root.and_then(|r| r.output))
                .into(),
            totals.has_root.into(),
            updated.as_str().into(),
            self.seq.into(),
            project.into(),
        ];
        statements.fresh_trace(&values)
    }
}

/// What a trace's observation rows add up to.
struct Totals<'r> {
    /// Start and end in nanoseconds: the earliest start and latest end the pieces gave, or
    /// of the rows' stand-in times when none gave one; `None` without rows.
    span: Option<(i64, i64)>,
    cost: f64,
    computed: f64,
    count: i64,
    has_root: bool,
    /// The root observation that started first: the trace's name, input and output when
    /// its attributes give none.
    root: Option<&'r Row<'r>>,
}

impl<'r> Totals<'r> {
    fn of(rows: &[&'r Row<'r>]) -> Self {
        let (mut given_start, mut any_start) = (None::<i64>, None::<i64>);
        let (mut given_end, mut any_end) = (None::<i64>, None::<i64>);
        let mut totals = Totals {
            span: None,
            cost: 0.0,
            computed: 0.0,
            count: 0,
            has_root: false,
            root: None,
        };
        for &row in rows {
            let min = |slot: &mut Option<i64>| {
                *slot = Some(slot.map_or(row.start_ns, |s| s.min(row.start_ns)))
            };
            let max = |slot: &mut Option<i64>| {
                *slot = Some(slot.map_or(row.end_ns, |e| e.max(row.end_ns)))
            };
            min(&mut any_start);
            max(&mut any_end);
            if !row.start_text.is_empty() {
                min(&mut given_start);
            }
            if !row.end_text.is_empty() {
                max(&mut given_end);
            }
            totals.cost += row.total;
            if row.computed {
                totals.computed += row.total;
            }
            totals.count += 1;
            if row.parent_id.is_none() {
                totals.has_root = true;
                if totals.root.is_none_or(|r| row.start_ns < r.start_ns) {
                    totals.root = Some(row);
                }
            }
        }
        if let (Some(start), Some(end)) = (given_start.or(any_start), given_end.or(any_end)) {
            totals.span = Some((start, end));
        }
        totals
    }
}
