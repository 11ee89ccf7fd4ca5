//! The observation attributes a pricing tier may read: model parameters and metadata.

use std::collections::BTreeMap;

use serde::Deserialize;

use observe_model::model::{Json, ObservationDetails};

/// Which of an observation's key-value attributes an attribute condition reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttributeSource {
    /// The generation's model parameters (`service_tier`, `speed`...).
    ModelParameters,
    /// The observation's metadata.
    Metadata,
}

impl AttributeSource {
    /// The source as Langfuse's file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeSource::ModelParameters => "model_parameters",
            AttributeSource::Metadata => "metadata",
        }
    }
}

/// An observation's top-level model parameters and metadata as text, the way Langfuse's
/// server compares them with a tier's values: strings as they are, numbers and booleans
/// written out (`2`, `true`); objects, arrays and nulls are left out.
///
/// ```
/// use observe_store::pricing::{AttributeSource, PricingAttributes};
/// let attrs = PricingAttributes::new()
///     .with(AttributeSource::ModelParameters, "service_tier", "flex");
/// assert_eq!(attrs.get(AttributeSource::ModelParameters, "service_tier"), Some("flex"));
/// assert_eq!(attrs.get(AttributeSource::Metadata, "service_tier"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PricingAttributes {
    model_parameters: BTreeMap<String, String>,
    metadata: BTreeMap<String, String>,
}

impl PricingAttributes {
    /// No attributes: only the usage chooses the tier.
    pub fn new() -> PricingAttributes {
        PricingAttributes::default()
    }

    /// These attributes with `key` of `source` set to `value`.
    #[must_use]
    pub fn with(
        mut self,
        source: AttributeSource,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> PricingAttributes {
        self.map_mut(source).insert(key.into(), value.into());
        self
    }

    /// The model parameters and metadata of a generation.
    pub fn from_details(details: &ObservationDetails) -> PricingAttributes {
        let mut attrs = PricingAttributes::new();
        if let Some(serde_json::Value::Object(params)) =
            details.model_parameters.as_ref().map(Json::to_value)
        {
            for (key, value) in params {
                if let Some(text) = scalar_text(&value) {
                    attrs.model_parameters.insert(key, text);
                }
            }
        }
        for (key, value) in &details.metadata {
            if let Some(text) = scalar_text(&value.to_value()) {
                attrs.metadata.insert(key.clone(), text);
            }
        }
        attrs
    }

    /// The value of `key` in `source`, if present.
    pub fn get(&self, source: AttributeSource, key: &str) -> Option<&str> {
        self.map(source).get(key).map(String::as_str)
    }

    fn map(&self, source: AttributeSource) -> &BTreeMap<String, String> {
        match source {
            AttributeSource::ModelParameters => &self.model_parameters,
            AttributeSource::Metadata => &self.metadata,
        }
    }

    fn map_mut(&mut self, source: AttributeSource) -> &mut BTreeMap<String, String> {
        match source {
            AttributeSource::ModelParameters => &mut self.model_parameters,
            AttributeSource::Metadata => &mut self.metadata,
        }
    }
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_become_text_and_the_rest_is_left_out() {
        let details = ObservationDetails {
            model_parameters: Some(Json::from_value(&json!({
                "service_tier": "flex", "max_tokens": 512, "stream": true,
                "stop": ["x"], "tools": {"a": 1}, "seed": null
            }))),
            metadata: [("speed".to_owned(), Json::from_value(&"fast"))].into(),
            ..ObservationDetails::default()
        };
        let attrs = PricingAttributes::from_details(&details);
        let mp = AttributeSource::ModelParameters;
        assert_eq!(attrs.get(mp, "service_tier"), Some("flex"));
        assert_eq!(attrs.get(mp, "max_tokens"), Some("512"));
        assert_eq!(attrs.get(mp, "stream"), Some("true"));
        assert_eq!(attrs.get(mp, "stop"), None);
        assert_eq!(attrs.get(mp, "tools"), None);
        assert_eq!(attrs.get(mp, "seed"), None);
        assert_eq!(attrs.get(AttributeSource::Metadata, "speed"), Some("fast"));
    }
}
