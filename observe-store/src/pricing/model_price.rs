//! One model's entry in a price list: its name, the regex its names match, its tiers, and
//! the cost of a usage at its prices.

use std::collections::BTreeMap;

use regex::Regex;

use observe_model::genai::canonical_usage_key;
use observe_model::model::{Cost, Usage};

use super::attributes::PricingAttributes;
use super::tier::{Condition, Tier};
use super::usage_counts::counts;
use super::PriceError;

/// One model's prices: its name, the regex its model names match, and its tiers.
#[derive(Clone, Debug)]
pub struct ModelPrice {
    pub(crate) name: String,
    pub(crate) pattern: Regex,
    pub(crate) tiers: Vec<Tier>,
}

impl ModelPrice {
    /// A model with an empty default tier; add prices with [`ModelPrice::price`] and more
    /// tiers with [`ModelPrice::tier`].
    ///
    /// ```
    /// use observe_store::pricing::ModelPrice;
    /// let m = ModelPrice::new("house-model", "(?i)^house-model$").unwrap();
    /// assert!(m.matches("HOUSE-MODEL"));
    /// assert_eq!(m.pattern(), "(?i)^house-model$");
    /// ```
    pub fn new(name: impl Into<String>, pattern: &str) -> Result<ModelPrice, PriceError> {
        Ok(ModelPrice {
            name: name.into(),
            pattern: compile(pattern)?,
            tiers: vec![Tier {
                name: "Standard".to_owned(),
                is_default: true,
                priority: 0,
                conditions: Vec::new(),
                prices: BTreeMap::new(),
            }],
        })
    }

    /// Sets the default tier's price of `usage_key`, in USD per unit.
    #[must_use]
    pub fn price(mut self, usage_key: impl Into<String>, usd_per_unit: f64) -> ModelPrice {
        if let Some(tier) = self.tiers.iter_mut().find(|t| t.is_default) {
            tier.prices.insert(usage_key.into(), usd_per_unit);
        }
        self
    }

    /// Adds a tier that applies when all `conditions` hold, tried by ascending `priority`
    /// before the default tier.
    ///
    /// ```
    /// use observe_model::model::Usage;
    /// use observe_store::pricing::{Condition, ModelPrice, Operator, PriceList};
    ///
    /// let long = Condition::new("^input", Operator::Gt, 200_000.0, false).unwrap();
    /// let model = ModelPrice::new("m", "^m$").unwrap()
    ///     .price("input", 1.0)
    ///     .tier("Long context", 1, vec![long], [("input", 2.0)]);
    /// let list = PriceList::new().with_model(model);
    /// assert_eq!(list.cost("m", &Usage::default().with("input", 10)).unwrap().total(), 10.0);
    /// assert_eq!(list.cost("m", &Usage::default().with("input", 300_000)).unwrap().total(), 600_000.0);
    /// ```
    #[must_use]
    pub fn tier<'a>(
        mut self,
        name: impl Into<String>,
        priority: i64,
        conditions: Vec<Condition>,
        prices: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> ModelPrice {
        self.tiers.push(Tier {
            name: name.into(),
            is_default: false,
            priority,
            conditions,
            prices: prices.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        });
        self
    }

    /// The model's name in the list.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The regex its model names match, as written in the list.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    /// Its tiers, in the list's order.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// Whether `model` is one of this entry's names.
    pub fn matches(&self, model: &str) -> bool {
        self.pattern.is_match(model)
    }

    /// Whether a tier reads the observation's model parameters or metadata, so that
    /// [`ModelPrice::cost_with`] needs them to choose it.
    pub fn reads_attributes(&self) -> bool {
        self.tiers
            .iter()
            .any(|t| !t.is_default && t.conditions.iter().any(Condition::reads_attributes))
    }

    /// The tier that applies to `usage` when the observation has no attributes a tier
    /// reads; see [`ModelPrice::tier_with`].
    pub fn tier_for(&self, usage: &Usage) -> Option<&Tier> {
        self.tier_with(usage, &PricingAttributes::new())
    }

    /// The tier that applies, as Langfuse's server chooses it: the first non-default tier
    /// (by ascending priority) whose conditions all hold, else the default tier; `None`
    /// when the usage is empty (Langfuse does not price it) or there is no such tier.
    pub fn tier_with(&self, usage: &Usage, attributes: &PricingAttributes) -> Option<&Tier> {
        if usage.0.is_empty() {
            return None;
        }
        let mut tiers: Vec<&Tier> = self.tiers.iter().filter(|t| !t.is_default).collect();
        tiers.sort_by_key(|t| t.priority);
        tiers
            .into_iter()
            .find(|t| t.matches(usage, attributes))
            .or_else(|| self.tiers.iter().find(|t| t.is_default))
    }

    /// The cost of `usage` at this model's prices, without attributes; see
    /// [`ModelPrice::cost_with`].
    pub fn cost(&self, usage: &Usage) -> Option<Cost> {
        self.cost_with(usage, &PricingAttributes::new())
    }

    /// The cost of `usage` at the prices of the tier that applies: for each usage count
    /// with a price, count times price; `total` is the priced `total` when the tier prices
    /// it (the total count being the given one, else the sum of the counts), else the sum
    /// of the other costs. `None` when no count has a price.
    ///
    /// A count is priced under its own key, as Langfuse's server does; when the tier has no
    /// price under that key, under another spelling of it (`cache_read_input_tokens` for
    /// `input_cached_tokens`, see [`observe_model::genai::canonical_usage_key`]), and its
    /// cost is kept under the canonical key.
    ///
    /// ```
    /// use observe_model::model::Usage;
    /// use observe_store::pricing::{AttributeSource, Condition, ModelPrice, PricingAttributes};
    ///
    /// let flex = Condition::attribute(AttributeSource::ModelParameters, "service_tier", ["flex"]);
    /// let m = ModelPrice::new("m", "^m$").unwrap()
    ///     .price("input", 2.0)
    ///     .tier("Flex", 1, vec![flex], [("input", 1.0)]);
    /// let usage = Usage::default().with("input", 10);
    /// assert_eq!(m.cost_with(&usage, &PricingAttributes::new()).unwrap().total(), 20.0);
    /// let attrs = PricingAttributes::new()
    ///     .with(AttributeSource::ModelParameters, "service_tier", "flex");
    /// assert_eq!(m.cost_with(&usage, &attrs).unwrap().total(), 10.0);
    /// ```
    pub fn cost_with(&self, usage: &Usage, attributes: &PricingAttributes) -> Option<Cost> {
        let tier = self.tier_with(usage, attributes)?;
        let mut cost = BTreeMap::new();
        for (key, count) in counts(usage) {
            if let Some(price) = tier.prices.get(key) {
                *cost.entry(key.to_owned()).or_insert(0.0) += count as f64 * price;
                continue;
            }
            let canonical = canonical_usage_key(key);
            let price = tier.prices.get(canonical).or_else(|| {
                tier.prices
                    .iter()
                    .find(|(k, _)| canonical_usage_key(k) == canonical)
                    .map(|(_, v)| v)
            });
            if let Some(price) = price {
                *cost.entry(canonical.to_owned()).or_insert(0.0) += count as f64 * price;
            }
        }
        if cost.is_empty() {
            return None;
        }
        if !cost.contains_key("total") {
            let sum = cost.values().sum();
            cost.insert("total".to_owned(), sum);
        }
        Some(Cost(cost))
    }
}

pub(crate) fn compile(pattern: &str) -> Result<Regex, PriceError> {
    Regex::new(pattern).map_err(|source| PriceError::Pattern {
        pattern: pattern.to_owned(),
        source,
    })
}
