//! What a user may change on the current trace and the current observation, and how the
//! change merges into what is already there.
//!
//! The rules are Langfuse's (see the wire contract): metadata merges by top-level key,
//! tags are a union in first-seen order, scalars are replaced. A value over Langfuse's limits
//! is dropped with one warning: user id, session id, version, release, trace name and each tag
//! are at most 200 characters, each trace metadata key and value at most 200 characters (the
//! value once JSON-encoded),
//! and the environment matches `^(?!langfuse)[a-z0-9_-]+$` in at most 40 characters.
//!
//! ```
//! use observe_runtime::{ObservationUpdate, TraceUpdate};
//! use observe_runtime::model::{Cost, Level, Usage};
//! use serde_json::json;
//!
//! let trace = TraceUpdate::new()
//!     .session_id("analysis_abc123")
//!     .user_id("user_42")
//!     .tags(["content-analysis", "production"])
//!     .metadata(json!({"content_length": 1200}));
//! let generation = ObservationUpdate::new()
//!     .model("gpt-4o")
//!     .usage(Usage::new(120, 30))
//!     .cost(Cost::new(0.0012, 0.0009))
//!     .level(Level::Default);
//! # let _ = (trace, generation);
//! ```

use serde::Serialize;

mod model_call;

use crate::limits::{bounded_json, MAX_ATTRIBUTE_CHARS, MAX_ENVIRONMENT_CHARS};
use crate::model::{
    Cost, Json, Level, Metadata, ObservationDetails, Timestamp, TraceAttributes, Usage,
};

/// Changes to the current trace; see [`crate::update_current_trace`].
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use = "an update does nothing until it is applied"]
pub struct TraceUpdate {
    pub(crate) name: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Vec<(String, Json)>,
    pub(crate) version: Option<String>,
    pub(crate) release: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) public: Option<bool>,
    pub(crate) input: Option<Json>,
    pub(crate) output: Option<Json>,
}

impl TraceUpdate {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trace name (else Langfuse shows the root observation's name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Session the trace belongs to.
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// End user the trace acts for.
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Tags, added to the trace's tags (a union, first-seen order).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Metadata: a JSON object whose top-level keys merge into the trace's metadata. Any
    /// other value is stored under the key `metadata`.
    pub fn metadata<T: Serialize>(mut self, metadata: T) -> Self {
        self.metadata.extend(split_metadata(&metadata));
        self
    }

    /// Application version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Release identifier.
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// Deployment environment (lowercase letters, digits, `_` and `-`; not starting with
    /// `langfuse`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Whether the trace is publicly viewable.
    pub fn public(mut self, public: bool) -> Self {
        self.public = Some(public);
        self
    }

    /// Trace-level input.
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        self.input = Some(bounded_json(input));
        self
    }

    /// Trace-level output.
    pub fn output<T: Serialize + ?Sized>(mut self, output: &T) -> Self {
        self.output = Some(bounded_json(output));
        self
    }

    /// Merges this update into `attrs`, dropping (with a warning each) values over the limits.
    pub(crate) fn apply_to(self, attrs: &mut TraceAttributes) {
        if let Some(v) = self.name.and_then(|v| checked("trace name", v)) {
            attrs.name = Some(v);
        }
        if let Some(v) = self.session_id.and_then(|v| checked("session id", v)) {
            attrs.session_id = Some(v);
        }
        if let Some(v) = self.user_id.and_then(|v| checked("user id", v)) {
            attrs.user_id = Some(v);
        }
        if let Some(v) = self.version.and_then(|v| checked("version", v)) {
            attrs.version = Some(v);
        }
        if let Some(v) = self.release.and_then(|v| checked("release", v)) {
            attrs.release = Some(v);
        }
        if let Some(v) = self.environment.filter(|v| environment_ok(v)) {
            attrs.environment = Some(v);
        }
        if let Some(v) = self.public {
            attrs.public = Some(v);
        }
        for tag in self.tags {
            if let Some(tag) = checked("tag", tag) {
                if !attrs.tags.contains(&tag) {
                    attrs.tags.push(tag);
                }
            }
        }
        for (key, value) in self.metadata {
            if crate::limits::over_chars(&key, MAX_ATTRIBUTE_CHARS) {
                tracing::warn!(
                    len = key.len(),
                    "observe: trace metadata key over {MAX_ATTRIBUTE_CHARS} characters dropped"
                );
                continue;
            }
            if crate::limits::over_chars(value.as_str(), MAX_ATTRIBUTE_CHARS) {
                tracing::warn!(
                    key,
                    len = value.len(),
                    "observe: trace metadata value over {MAX_ATTRIBUTE_CHARS} characters once \
                     JSON-encoded dropped (Langfuse propagates only short values; put large data \
                     in observation metadata instead)"
                );
                continue;
            }
            attrs.metadata.insert(key, value);
        }
        if self.input.is_some() {
            attrs.input = self.input;
        }
        if self.output.is_some() {
            attrs.output = self.output;
        }
    }
}

/// Checks a propagated string against Langfuse's length limit.
fn checked(field: &'static str, value: String) -> Option<String> {
    if crate::limits::over_chars(&value, MAX_ATTRIBUTE_CHARS) {
        tracing::warn!(
            field,
            len = value.chars().count(),
            "observe: {field} over {MAX_ATTRIBUTE_CHARS} characters dropped (Langfuse rejects it)"
        );
        None
    } else {
        Some(value)
    }
}

/// `^(?!langfuse)[a-z0-9_-]+$`, at most 40 characters.
pub(crate) fn environment_ok(value: &str) -> bool {
    let ok = crate::limits::environment_shape_ok(value);
    if !ok {
        tracing::warn!(
            environment = value,
            "observe: environment dropped: it must match ^(?!langfuse)[a-z0-9_-]+$ and be at most \
             {MAX_ENVIRONMENT_CHARS} characters"
        );
    }
    ok
}

/// Splits a metadata value into top-level entries.
fn split_metadata<T: Serialize + ?Sized>(metadata: &T) -> Vec<(String, Json)> {
    match serde_json::to_value(metadata) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| (k, Json::from_value(&v)))
            .collect(),
        Ok(serde_json::Value::Null) => Vec::new(),
        Ok(other) => vec![("metadata".to_owned(), Json::from_value(&other))],
        Err(e) => {
            tracing::warn!("observe: metadata dropped: it does not serialize to JSON: {e}");
            Vec::new()
        }
    }
}

/// The Langfuse prompt a generation used, for [`ObservationUpdate::prompt`]: a name and a
/// version, or nothing (a fallback prompt, which no Langfuse version stands behind).
///
/// ```
/// use observe_runtime::PromptLink;
/// assert_eq!(PromptLink::from(("summarize", 3)).name(), Some("summarize"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromptLink(Option<(String, i64)>);

impl PromptLink {
    /// The prompt's name, when there is a link.
    pub fn name(&self) -> Option<&str> {
        self.0.as_ref().map(|(name, _)| name.as_str())
    }

    /// The prompt's version, when there is a link.
    pub fn version(&self) -> Option<i64> {
        self.0.as_ref().map(|(_, version)| *version)
    }
}

impl<S: Into<String>> From<(S, i64)> for PromptLink {
    fn from((name, version): (S, i64)) -> Self {
        PromptLink(Some((name.into(), version)))
    }
}

#[cfg(feature = "prompts")]
impl From<&crate::prompts::Prompt> for PromptLink {
    fn from(prompt: &crate::prompts::Prompt) -> Self {
        if prompt.is_fallback {
            PromptLink(None)
        } else {
            PromptLink(Some((prompt.name.clone(), prompt.version)))
        }
    }
}

/// Changes to the current observation; see [`crate::update_current_observation`].
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use = "an update does nothing until it is applied"]
pub struct ObservationUpdate {
    pub(crate) input: Option<Json>,
    pub(crate) output: Option<Json>,
    pub(crate) metadata: Vec<(String, Json)>,
    pub(crate) level: Option<Level>,
    pub(crate) status_message: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) model_parameters: Option<Json>,
    pub(crate) usage: Option<Usage>,
    pub(crate) cost: Option<Cost>,
    pub(crate) completion_start_time: Option<Timestamp>,
    pub(crate) prompt: Option<(String, i64)>,
    pub(crate) version: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) gen_ai: Option<Box<crate::model::GenAiCall>>,
}

impl ObservationUpdate {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the input.
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        self.input = Some(bounded_json(input));
        self
    }

    /// Replaces the output.
    pub fn output<T: Serialize + ?Sized>(mut self, output: &T) -> Self {
        self.output = Some(bounded_json(output));
        self
    }

    /// Metadata merged by top-level key (a non-object is stored under `metadata`).
    pub fn metadata<T: Serialize>(mut self, metadata: T) -> Self {
        self.metadata.extend(split_metadata(&metadata));
        self
    }

    /// Severity.
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// Explanation of the level.
    pub fn status_message(mut self, message: impl Into<String>) -> Self {
        self.status_message = Some(message.into());
        self
    }

    /// Model name.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Model parameters (a JSON object: temperature, max tokens...).
    pub fn model_parameters<T: Serialize>(mut self, parameters: T) -> Self {
        self.model_parameters = Some(Json::from_value(&parameters));
        self
    }

    /// Token counts.
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Cost in USD. A cost with an entry that is not finite or is negative is dropped with
    /// a warning (the observation is kept): NaN sums poison every total they reach.
    ///
    /// ```
    /// use observe_runtime::ObservationUpdate;
    /// use observe_runtime::model::Cost;
    /// let kept = ObservationUpdate::new().cost(Cost::total_only(0.5));
    /// let dropped = ObservationUpdate::new().cost(Cost::total_only(f64::NAN));
    /// assert_ne!(kept, ObservationUpdate::new());
    /// assert_eq!(dropped, ObservationUpdate::new());
    /// ```
    pub fn cost(mut self, cost: Cost) -> Self {
        if let Some((key, value)) = cost.invalid_entry() {
            tracing::warn!(
                key,
                value,
                "observe: cost dropped: `{key}` is {value}, not a finite, non-negative number of \
                 USD (the observation is kept without a cost)"
            );
            return self;
        }
        self.cost = Some(cost);
        self
    }

    /// When the first token arrived.
    pub fn completion_start_time(mut self, at: impl Into<Timestamp>) -> Self {
        self.completion_start_time = Some(at.into());
        self
    }

    /// Links this generation to the Langfuse prompt it used: a fetched
    /// `prompts::Prompt` (`&prompt`; a fallback links nothing), or a name
    /// and version (`("summarize", 3)`). Langfuse shows the generation under that version.
    ///
    /// ```
    /// use observe_runtime::ObservationUpdate;
    /// let update = ObservationUpdate::new().prompt(("summarize", 3));
    /// assert_ne!(update, ObservationUpdate::new());
    /// ```
    pub fn prompt(mut self, prompt: impl Into<PromptLink>) -> Self {
        if let Some(link) = prompt.into().0 {
            self.prompt = Some(link);
        }
        self
    }

    /// Version of the code behind this observation.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Renames the observation.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Merges this update into an open observation's fields.
    pub(crate) fn apply_to(
        self,
        details: &mut ObservationDetails,
        level: &mut Level,
        name: &mut std::borrow::Cow<'static, str>,
    ) {
        if let Some(v) = self.name {
            *name = v.into();
        }
        if let Some(v) = self.level {
            *level = v;
        }
        if self.input.is_some() {
            details.input = self.input;
        }
        if self.output.is_some() {
            details.output = self.output;
        }
        merge_metadata(&mut details.metadata, self.metadata);
        set_if(&mut details.status_message, self.status_message);
        set_if(&mut details.model, self.model);
        set_if(&mut details.model_parameters, self.model_parameters);
        set_if(&mut details.usage, self.usage);
        set_if(&mut details.cost, self.cost);
        set_if(
            &mut details.completion_start_time,
            self.completion_start_time,
        );
        set_if(&mut details.version, self.version);
        if let Some((prompt, version)) = self.prompt {
            details.prompt_name = Some(prompt);
            details.prompt_version = Some(version);
        }
        if let Some(call) = self.gen_ai {
            model_call::merge(&mut details.gen_ai, *call);
        }
    }
}

fn set_if<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

fn merge_metadata(into: &mut Metadata, entries: Vec<(String, Json)>) {
    into.extend(entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trace_updates_merge_metadata_by_key_tags_as_union_scalars_replaced() {
        let mut attrs = TraceAttributes::default();
        TraceUpdate::new()
            .user_id("a")
            .tags(["x", "y"])
            .metadata(json!({"k1": 1, "k2": "two"}))
            .apply_to(&mut attrs);
        TraceUpdate::new()
            .user_id("b")
            .tags(["y", "z"])
            .metadata(json!({"k2": "deux", "k3": [3]}))
            .apply_to(&mut attrs);
        assert_eq!(attrs.user_id.as_deref(), Some("b"));
        assert_eq!(attrs.tags, ["x", "y", "z"]);
        let md: Vec<_> = attrs
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(md, [("k1", "1"), ("k2", "\"deux\""), ("k3", "[3]")]);
    }

    #[test]
    fn values_over_the_limits_are_dropped_and_the_rest_kept() {
        let mut attrs = TraceAttributes::default();
        let long = "x".repeat(201);
        TraceUpdate::new()
            .session_id(long.clone())
            .user_id("u")
            .tags([long.clone(), "ok".to_owned()])
            .metadata(json!({"big": long, "small": 1}))
            .environment("Prod")
            .apply_to(&mut attrs);
        assert_eq!(attrs.session_id, None);
        assert_eq!(attrs.user_id.as_deref(), Some("u"));
        assert_eq!(attrs.tags, ["ok"]);
        assert_eq!(attrs.metadata.keys().collect::<Vec<_>>(), ["small"]);
        assert_eq!(attrs.environment, None);
    }

    #[test]
    fn exactly_200_characters_is_accepted() {
        let mut attrs = TraceAttributes::default();
        let edge = "é".repeat(200);
        TraceUpdate::new()
            .session_id(edge.clone())
            .apply_to(&mut attrs);
        assert_eq!(attrs.session_id, Some(edge));
    }

    #[test]
    fn environment_rules() {
        assert!(environment_ok("production"));
        assert!(environment_ok("staging-2_eu"));
        assert!(!environment_ok("langfuse-prod"));
        assert!(!environment_ok("Prod"));
        assert!(!environment_ok(""));
        assert!(!environment_ok(&"a".repeat(41)));
    }

    #[test]
    fn non_object_metadata_goes_under_one_key() {
        let mut attrs = TraceAttributes::default();
        TraceUpdate::new().metadata([1, 2]).apply_to(&mut attrs);
        assert_eq!(attrs.metadata["metadata"].as_str(), "[1,2]");
    }

    #[test]
    fn observation_updates_replace_scalars_and_merge_metadata() {
        let mut d = ObservationDetails::default();
        let mut level = Level::Default;
        let mut name = std::borrow::Cow::Borrowed("n");
        ObservationUpdate::new()
            .model("m1")
            .metadata(json!({"a": 1}))
            .apply_to(&mut d, &mut level, &mut name);
        ObservationUpdate::new()
            .model("m2")
            .metadata(json!({"b": 2}))
            .level(Level::Warning)
            .usage(Usage::new(1, 2))
            .prompt(("p", 3))
            .apply_to(&mut d, &mut level, &mut name);
        assert_eq!(d.model.as_deref(), Some("m2"));
        assert_eq!(d.metadata.len(), 2);
        assert_eq!(level, Level::Warning);
        assert_eq!(d.usage.unwrap().get("total"), Some(3));
        assert_eq!(d.prompt_name.as_deref(), Some("p"));
        assert_eq!(d.prompt_version, Some(3));
    }
}
