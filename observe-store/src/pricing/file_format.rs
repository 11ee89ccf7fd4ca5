//! Langfuse's `default-model-prices.json` format, read into [`ModelPrice`]s.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::attributes::AttributeSource;
use super::model_price::{compile, ModelPrice};
use super::tier::{Condition, Operator, Tier};
use super::PriceError;

/// One entry of the file, as Langfuse writes it (other fields are ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryJson {
    pub(crate) model_name: String,
    match_pattern: String,
    #[serde(default)]
    pricing_tiers: Option<Vec<TierJson>>,
    #[serde(default)]
    prices: Option<BTreeMap<String, f64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TierJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    conditions: Vec<ConditionJson>,
    #[serde(default)]
    prices: BTreeMap<String, f64>,
}

/// A condition on an attribute carries `source`; one on the usage, `usageDetailPattern`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ConditionJson {
    Attribute(AttributeConditionJson),
    Usage(UsageConditionJson),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AttributeConditionJson {
    source: AttributeSource,
    key: String,
    operator: InOperator,
    values: Vec<String>,
}

/// Attribute conditions have one operator: the value is one of the listed ones.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum InOperator {
    In,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageConditionJson {
    usage_detail_pattern: String,
    operator: Operator,
    value: f64,
    #[serde(default)]
    case_sensitive: bool,
}

impl ConditionJson {
    fn build(self) -> Result<Condition, PriceError> {
        match self {
            ConditionJson::Attribute(c) => {
                let InOperator::In = c.operator;
                Ok(Condition::attribute(c.source, c.key, c.values))
            }
            ConditionJson::Usage(c) => Condition::new(
                &c.usage_detail_pattern,
                c.operator,
                c.value,
                c.case_sensitive,
            ),
        }
    }
}

impl TierJson {
    fn build(self) -> Result<Tier, PriceError> {
        Ok(Tier {
            name: self.name.unwrap_or_else(|| "Standard".to_owned()),
            is_default: self.is_default,
            priority: self.priority,
            conditions: self
                .conditions
                .into_iter()
                .map(ConditionJson::build)
                .collect::<Result<_, _>>()?,
            prices: self.prices,
        })
    }
}

impl EntryJson {
    /// The entry as a [`ModelPrice`]; an entry without `pricingTiers` but with a top-level
    /// `prices` (the older layout) has that as its default tier.
    pub(crate) fn build(self) -> Result<ModelPrice, PriceError> {
        let tiers = match (self.pricing_tiers, self.prices) {
            (Some(tiers), _) => tiers
                .into_iter()
                .map(TierJson::build)
                .collect::<Result<Vec<_>, _>>()?,
            (None, Some(prices)) => vec![Tier {
                name: "Standard".to_owned(),
                is_default: true,
                priority: 0,
                conditions: Vec::new(),
                prices,
            }],
            (None, None) => Vec::new(),
        };
        Ok(ModelPrice {
            name: self.model_name,
            pattern: compile(&self.match_pattern)?,
            tiers,
        })
    }
}
