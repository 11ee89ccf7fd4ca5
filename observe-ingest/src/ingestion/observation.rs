//! Observation events (`span-create`, `generation-update`, `agent-create`,
//! `observation-create`...) to [`ObservationPiece`]s, field by field as Langfuse's server
//! reads them.

use std::sync::Arc;

use observe_model::model::{Json, ObservationDetails, ObservationType, Timestamp, TraceAttributes};
use observe_model::piece::ObservationPiece;
use serde_json::Value;

use super::document::BodyDoc;
use super::fields::Fields;
use super::issues::Issue;
use super::usage::usage_and_cost;

/// Which of the API's observation bodies an event carries: what fields it may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// `event-create`: a point in time.
    Event,
    /// `span-create`, `span-update`: adds `endTime`.
    Span,
    /// `generation-create`/`-update` and the typed creates (`agent-create`...): adds the
    /// model, usage, cost, completion start and prompt link.
    Generation,
    /// `observation-create`/`-update` (deprecated): the type in the body, no environment
    /// and no prompt link.
    Legacy,
}

/// What the envelope tells about the event.
pub(crate) struct Event<'a> {
    /// The envelope's id, the observation's id when the body (legacy only) has none.
    pub(crate) id: &'a str,
    /// The envelope's timestamp: the start of a created observation that gives none.
    pub(crate) timestamp: Timestamp,
    /// `*-update` events: they never set the start from the envelope.
    pub(crate) update: bool,
}

/// Legacy bodies name their type; these are the ones they may name.
const LEGACY_TYPES: [&str; 3] = ["GENERATION", "SPAN", "EVENT"];

/// The piece an observation event gives, or the issues that refuse it. `kind` is the type
/// the event type names (`None` for the legacy events, whose body names it).
pub(crate) fn observation(
    body: &BodyDoc<'_>,
    shape: Body,
    kind: Option<ObservationType>,
    event: &Event<'_>,
) -> Result<ObservationPiece, Vec<Issue>> {
    let mut f = Fields::body(body);
    let id = match shape {
        Body::Legacy => Some(f.id("id").unwrap_or(event.id)),
        _ => f.required_id("id"),
    };
    let trace_id = f.id("traceId");
    let kind = match shape {
        Body::Legacy => match f.value("type") {
            None => {
                let issue = super::issues::invalid_type(f.path("type"), "string", None);
                f.issue(issue);
                None
            }
            Some(_) => f
                .option("type", &LEGACY_TYPES)
                .and_then(|t| t.parse::<ObservationType>().ok()),
        },
        _ => kind,
    };
    let environment = match shape {
        Body::Legacy => None,
        _ => f.environment("environment"),
    };
    let name = f.string("name").map(str::to_owned);
    let start = f.time("startTime");
    let end = match shape {
        Body::Event => None,
        _ => f.time("endTime"),
    };
    let level = f.level("level");
    let parent_id = f.non_empty_string("parentObservationId");
    let mut details = ObservationDetails {
        input: f.json("input"),
        output: f.json("output"),
        metadata: f.metadata("metadata"),
        status_message: f.string("statusMessage").map(str::to_owned),
        version: f.string("version").map(str::to_owned),
        ..ObservationDetails::default()
    };
    if matches!(shape, Body::Generation | Body::Legacy) {
        details.completion_start_time = f.time("completionStartTime");
        details.model = f.string("model").map(str::to_owned);
        details.model_parameters = model_parameters(&mut f, shape);
        let (usage, cost) = usage_and_cost(&mut f);
        details.usage = usage;
        details.cost = cost;
    }
    if shape == Body::Generation {
        prompt_link(&mut f, &mut details);
    }
    let (Some(id), Some(kind), true) = (id, kind, f.issues.is_empty()) else {
        return Err(f.issues);
    };
    // A created observation starts when its event says; an update that gives no start
    // leaves the stored one (Langfuse keeps the first start it stored).
    let start = match (start, event.update) {
        (Some(start), _) => Some(start),
        (None, false) => Some(event.timestamp),
        (None, true) => None,
    };
    let end = match shape {
        Body::Event => start,
        _ => end,
    };
    // Without a trace id Langfuse makes up a trace for the observation; its own id keeps
    // every piece of it in the same one.
    let trace_id = trace_id.unwrap_or(id);
    let trace = TraceAttributes {
        environment,
        ..TraceAttributes::default()
    };
    Ok(ObservationPiece {
        parent_id: parent_id.map(Into::into),
        name,
        kind: Some(kind),
        level,
        start,
        end,
        details: (details != ObservationDetails::default()).then(|| Box::new(details)),
        trace: Arc::new(trace),
        ..ObservationPiece::new(trace_id, id)
    })
}

/// `modelParameters`: an object whose values are text, numbers, booleans (or, outside
/// the legacy events, lists of text and objects of text); kept as given.
fn model_parameters(f: &mut Fields<'_>, shape: Body) -> Option<Json> {
    let map = f.object("modelParameters")?;
    let mut bad = Vec::new();
    for (key, value) in map {
        let ok = match value {
            Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
            Value::Array(items) => shape != Body::Legacy && items.iter().all(Value::is_string),
            Value::Object(fields) => shape != Body::Legacy && fields.values().all(Value::is_string),
        };
        if !ok {
            let mut path = f.path("modelParameters");
            path.push(Value::from(key.as_str()));
            bad.push(Issue::new(
                "invalid_union",
                path,
                "Invalid input: expected string, number, boolean, list of strings or record of strings",
            ));
        }
    }
    if !bad.is_empty() {
        f.issues.append(&mut bad);
        return None;
    }
    Some(Json::from_value(map))
}

/// `promptName` and `promptVersion`: both or neither (Langfuse refuses one alone; an
/// empty name or version 0 counts as not given).
fn prompt_link(f: &mut Fields<'_>, details: &mut ObservationDetails) {
    let name = f.string("promptName");
    let version = f.int("promptVersion");
    let named = name.is_some_and(|n| !n.is_empty());
    let versioned = version.is_some_and(|v| v != 0);
    if named != versioned {
        let issue = Issue::new(
            "custom",
            f.own_path(),
            "Invalid input: give promptName and promptVersion together, or neither",
        );
        f.issue(issue);
        return;
    }
    if named {
        details.prompt_name = name.map(str::to_owned);
        details.prompt_version = version;
    }
}
