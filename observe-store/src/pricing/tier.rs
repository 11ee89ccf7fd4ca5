//! A model's pricing tiers and the conditions that choose one.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use observe_model::model::Usage;

use super::attributes::{AttributeSource, PricingAttributes};
use super::usage_counts::counts;
use super::PriceError;

/// How a usage condition compares the summed usage with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Operator {
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Equal.
    Eq,
    /// Not equal.
    Neq,
}

impl Operator {
    pub(crate) fn holds(self, sum: f64, value: f64) -> bool {
        match self {
            Operator::Gt => sum > value,
            Operator::Gte => sum >= value,
            Operator::Lt => sum < value,
            Operator::Lte => sum <= value,
            Operator::Eq => sum == value,
            Operator::Neq => sum != value,
        }
    }

    /// The operator as Langfuse's file spells it (`gt`, `lte`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Eq => "eq",
            Operator::Neq => "neq",
        }
    }
}

/// A tier's condition: either on the usage (the sum of the counts whose key matches a
/// regex, compared with a number) or on an attribute (a model parameter or metadata value
/// that is one of a few strings, e.g. `service_tier` in `["flex"]`).
#[derive(Clone, Debug)]
pub struct Condition {
    kind: ConditionKind,
}

#[derive(Clone, Debug)]
enum ConditionKind {
    Usage {
        pattern: Regex,
        operator: Operator,
        value: f64,
    },
    Attribute {
        source: AttributeSource,
        key: String,
        values: Vec<String>,
    },
}

impl Condition {
    /// A usage condition; `pattern` is matched case-insensitively unless `case_sensitive`.
    ///
    /// ```
    /// use observe_store::pricing::{Condition, Operator};
    /// let long = Condition::new("^input", Operator::Gt, 200_000.0, false).unwrap();
    /// assert_eq!(long.to_string(), "usage matching `^input` gt 200000");
    /// ```
    pub fn new(
        pattern: &str,
        operator: Operator,
        value: f64,
        case_sensitive: bool,
    ) -> Result<Condition, PriceError> {
        let pattern = regex::RegexBuilder::new(pattern)
            .case_insensitive(!case_sensitive)
            .build()
            .map_err(|source| PriceError::Pattern {
                pattern: pattern.to_owned(),
                source,
            })?;
        Ok(Condition {
            kind: ConditionKind::Usage {
                pattern,
                operator,
                value,
            },
        })
    }

    /// An attribute condition: holds when the attribute `key` of `source` is present and
    /// its value (as text: `true`, `2`, `flex`) is one of `values`, compared exactly.
    ///
    /// ```
    /// use observe_store::pricing::{AttributeSource, Condition};
    /// let flex = Condition::attribute(AttributeSource::ModelParameters, "service_tier", ["flex"]);
    /// assert_eq!(flex.to_string(), "model_parameters.service_tier in [flex]");
    /// ```
    pub fn attribute<S: Into<String>>(
        source: AttributeSource,
        key: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Condition {
        Condition {
            kind: ConditionKind::Attribute {
                source,
                key: key.into(),
                values: values.into_iter().map(Into::into).collect(),
            },
        }
    }

    /// Whether it reads the observation's attributes rather than its usage.
    pub fn reads_attributes(&self) -> bool {
        matches!(self.kind, ConditionKind::Attribute { .. })
    }

    fn holds(&self, usage: &Usage, attributes: &PricingAttributes) -> bool {
        match &self.kind {
            ConditionKind::Usage {
                pattern,
                operator,
                value,
            } => {
                let sum: f64 = counts(usage)
                    .filter(|(k, _)| pattern.is_match(k))
                    .map(|(_, v)| v as f64)
                    .sum();
                operator.holds(sum, *value)
            }
            ConditionKind::Attribute {
                source,
                key,
                values,
            } => attributes
                .get(*source, key)
                .is_some_and(|v| values.iter().any(|x| x == v)),
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ConditionKind::Usage {
                pattern,
                operator,
                value,
            } => write!(
                f,
                "usage matching `{}` {} {value}",
                pattern.as_str(),
                operator.as_str()
            ),
            ConditionKind::Attribute {
                source,
                key,
                values,
            } => write!(f, "{}.{key} in [{}]", source.as_str(), values.join(", ")),
        }
    }
}

/// A set of prices (USD per unit, by usage key) and when it applies.
#[derive(Clone, Debug)]
pub struct Tier {
    pub(crate) name: String,
    pub(crate) is_default: bool,
    pub(crate) priority: i64,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) prices: BTreeMap<String, f64>,
}

impl Tier {
    /// The name (`Standard`, `Large Context`...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// USD per unit, by usage key.
    pub fn prices(&self) -> &BTreeMap<String, f64> {
        &self.prices
    }

    /// Whether it is the model's default tier (the one used when no other tier's
    /// conditions all hold).
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    /// Its place among the non-default tiers: lower is tried first.
    pub fn priority(&self) -> i64 {
        self.priority
    }

    /// The conditions that must all hold for it to apply.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Whether every condition holds; a tier without conditions never matches (only the
    /// default tier goes without, and it is the fallback), as on Langfuse's server.
    pub(crate) fn matches(&self, usage: &Usage, attributes: &PricingAttributes) -> bool {
        !self.conditions.is_empty() && self.conditions.iter().all(|c| c.holds(usage, attributes))
    }
}
