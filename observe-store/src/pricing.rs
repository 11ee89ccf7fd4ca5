//! Cost from usage: model price lists in Langfuse's `default-model-prices.json` format.
//!
//! Langfuse prices a generation on its server when the client sends usage and no cost. The
//! local store cannot ask a server, so it prices such generations itself with a
//! [`PriceList`], and marks the cost as computed (it is never sent to Langfuse, which
//! prices for itself).
//!
//! A list is a JSON array of models, each with a name, a regex its model names match
//! (`(?i)` makes it case-insensitive), and pricing tiers: one default tier, and tiers with
//! conditions on the usage (the sum of the counts whose key matches a regex, compared with
//! a number), tried by ascending `priority` before the default. A tier's prices are USD per
//! unit by usage key:
//!
//! ```json
//! [{
//!   "modelName": "my-model",
//!   "matchPattern": "(?i)^(acme/)?my-model(-\\d{4}-\\d{2}-\\d{2})?$",
//!   "pricingTiers": [
//!     {"name": "Standard", "isDefault": true, "priority": 0, "conditions": [],
//!      "prices": {"input": 1e-6, "output": 4e-6, "input_cached_tokens": 2.5e-7}},
//!     {"name": "Long context", "isDefault": false, "priority": 1,
//!      "conditions": [{"usageDetailPattern": "^input", "operator": "gt", "value": 200000}],
//!      "prices": {"input": 2e-6, "output": 8e-6}}
//!   ]
//! }]
//! ```
//!
//! Langfuse's own file (`worker/src/constants/default-model-prices.json` in langfuse/langfuse)
//! loads as it is; an entry this crate's regex engine cannot compile (look-around) is left
//! out with a warning. An entry without `pricingTiers` but with a top-level `prices` (the
//! older layout) has that as its default tier.
//!
//! The cost follows Langfuse's arithmetic: for each usage key with a price (aliases such as
//! `cache_read_input_tokens` resolved, see [`observe_model::genai::canonical_usage_key`]), count
//! times price; `total` is the priced `total` when the tier prices `total`, else the sum.
//!
//! [`PriceList::builtin`] is a dozen common models written for observe (see
//! `observe-store/prices/SOURCE.md`: list prices, which may be dated).
//! [`PriceList::default_list`] is that list with the file named by `OBSERVE_MODEL_PRICES`
//! on top; entries added in code ([`PriceList::with_model`], [`PriceList::overriding`]) win
//! over both.
//!
//! ```
//! use observe_model::model::Usage;
//! use observe_store::pricing::{ModelPrice, PriceList};
//!
//! let list = PriceList::builtin().overriding(
//!     PriceList::new().with_model(
//!         ModelPrice::new("house-model", "(?i)^house-model$").unwrap()
//!             .price("input", 1e-6)
//!             .price("output", 2e-6),
//!     ),
//! );
//! let cost = list.cost("HOUSE-MODEL", &Usage::new(1000, 500)).unwrap();
//! assert!((cost.total() - 0.002).abs() < 1e-12);
//! assert!(list.cost("gpt-4o-mini", &Usage::new(1000, 0)).is_some());
//! assert!(list.cost("unknown-model", &Usage::new(1000, 0)).is_none());
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde::Deserialize;

use observe_model::genai::canonical_usage_key;
use observe_model::model::{Cost, Usage};

/// The environment variable naming a price list file loaded on top of the built-in one.
pub const MODEL_PRICES_VAR: &str = observe_model::vars::MODEL_PRICES;

/// The built-in list's text (ours, in Langfuse's format; see `prices/SOURCE.md`).
const BUILTIN_JSON: &str = include_str!("../prices/model-prices.json");

/// Why a price list could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    /// The file could not be read.
    #[error("cannot read the model price list {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a JSON array of models in Langfuse's format.
    #[error("the model price list is not a JSON array of models in Langfuse's format: {0}")]
    Format(#[from] serde_json::Error),
    /// A pattern is not a regex this crate can compile.
    #[error("model price pattern `{pattern}` is not a supported regex: {source}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        #[source]
        source: regex::Error,
    },
}

/// How a tier's condition compares the summed usage with its value.
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
    fn holds(self, sum: f64, value: f64) -> bool {
        match self {
            Operator::Gt => sum > value,
            Operator::Gte => sum >= value,
            Operator::Lt => sum < value,
            Operator::Lte => sum <= value,
            Operator::Eq => sum == value,
            Operator::Neq => sum != value,
        }
    }
}

/// A tier's condition: the sum of the usage counts whose key matches `pattern`, compared
/// with `value`.
#[derive(Clone, Debug)]
pub struct Condition {
    pattern: Regex,
    operator: Operator,
    value: f64,
}

impl Condition {
    /// A condition; `pattern` is matched case-insensitively unless `case_sensitive`.
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
            pattern,
            operator,
            value,
        })
    }

    fn holds(&self, usage: &Usage) -> bool {
        let sum: f64 = usage
            .0
            .iter()
            .filter(|(k, _)| self.pattern.is_match(k))
            .map(|(_, v)| *v as f64)
            .sum();
        self.operator.holds(sum, self.value)
    }
}

/// A set of prices (USD per unit, by usage key) and when it applies.
#[derive(Clone, Debug)]
pub struct Tier {
    name: String,
    is_default: bool,
    priority: i64,
    conditions: Vec<Condition>,
    prices: BTreeMap<String, f64>,
}

impl Tier {
    /// The name (`Standard`, `Large context`...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// USD per unit, by usage key.
    pub fn prices(&self) -> &BTreeMap<String, f64> {
        &self.prices
    }

    /// Whether every condition holds; a tier without conditions never matches (only the
    /// default tier goes without, and it is the fallback).
    fn matches(&self, usage: &Usage) -> bool {
        !self.conditions.is_empty() && self.conditions.iter().all(|c| c.holds(usage))
    }
}

/// One model's prices: its name, the regex its model names match, and its tiers.
#[derive(Clone, Debug)]
pub struct ModelPrice {
    name: String,
    pattern: Regex,
    tiers: Vec<Tier>,
}

impl ModelPrice {
    /// A model with an empty default tier; add prices with [`ModelPrice::price`] and more
    /// tiers with [`ModelPrice::tier`].
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

    /// Whether `model` is one of this entry's names.
    pub fn matches(&self, model: &str) -> bool {
        self.pattern.is_match(model)
    }

    /// The tier that applies to `usage`: the first non-default tier (by ascending priority)
    /// whose conditions all hold, else the default tier.
    pub fn tier_for(&self, usage: &Usage) -> Option<&Tier> {
        let mut tiers: Vec<&Tier> = self.tiers.iter().filter(|t| !t.is_default).collect();
        tiers.sort_by_key(|t| t.priority);
        tiers
            .into_iter()
            .find(|t| t.matches(usage))
            .or_else(|| self.tiers.iter().find(|t| t.is_default))
    }

    /// The cost of `usage` at this model's prices; `None` when no usage key has a price.
    pub fn cost(&self, usage: &Usage) -> Option<Cost> {
        let tier = self.tier_for(usage)?;
        let mut cost = BTreeMap::new();
        for (key, count) in &usage.0 {
            let canonical = canonical_usage_key(key);
            let price = tier
                .prices
                .get(key.as_str())
                .or_else(|| tier.prices.get(canonical))
                .or_else(|| {
                    // A price written under another spelling of the key.
                    tier.prices
                        .iter()
                        .find(|(k, _)| canonical_usage_key(k) == canonical)
                        .map(|(_, v)| v)
                });
            if let Some(price) = price {
                *cost.entry(canonical.to_owned()).or_insert(0.0) += *count as f64 * price;
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

fn compile(pattern: &str) -> Result<Regex, PriceError> {
    Regex::new(pattern).map_err(|source| PriceError::Pattern {
        pattern: pattern.to_owned(),
        source,
    })
}

/// Models and their prices; the first model whose pattern matches a name prices it.
///
/// ```
/// use observe_store::pricing::PriceList;
/// let list = PriceList::from_json(r#"[{"modelName": "m", "matchPattern": "(?i)^m$",
///     "pricingTiers": [{"isDefault": true, "priority": 0, "conditions": [],
///                       "prices": {"input": 0.5}}]}]"#).unwrap();
/// assert_eq!(list.len(), 1);
/// assert_eq!(list.find("M").unwrap().name(), "m");
/// ```
#[derive(Clone, Debug, Default)]
pub struct PriceList {
    models: Vec<ModelPrice>,
}

/// One entry of the file, as Langfuse writes it (other fields are ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryJson {
    model_name: String,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConditionJson {
    usage_detail_pattern: String,
    operator: Operator,
    value: f64,
    #[serde(default)]
    case_sensitive: bool,
}

impl EntryJson {
    fn build(self) -> Result<ModelPrice, PriceError> {
        let tiers = match (self.pricing_tiers, self.prices) {
            (Some(tiers), _) => tiers
                .into_iter()
                .map(|t| {
                    let conditions = t
                        .conditions
                        .into_iter()
                        .map(|c| {
                            Condition::new(
                                &c.usage_detail_pattern,
                                c.operator,
                                c.value,
                                c.case_sensitive,
                            )
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Tier {
                        name: t.name.unwrap_or_else(|| "Standard".to_owned()),
                        is_default: t.is_default,
                        priority: t.priority,
                        conditions,
                        prices: t.prices,
                    })
                })
                .collect::<Result<Vec<_>, PriceError>>()?,
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

static BUILTIN: LazyLock<Arc<PriceList>> = LazyLock::new(|| {
    // Written and tested with this crate: a failure here is a bug in the shipped file, so
    // the list is empty rather than the process stopped.
    Arc::new(PriceList::from_json(BUILTIN_JSON).unwrap_or_else(|e| {
        tracing::warn!("observe: the built-in model price list does not load: {e}");
        PriceList::new()
    }))
});

static DEFAULT: LazyLock<Arc<PriceList>> = LazyLock::new(|| {
    let builtin = PriceList::builtin();
    match std::env::var_os(MODEL_PRICES_VAR).filter(|p| !p.is_empty()) {
        None => Arc::new(builtin),
        Some(path) => Arc::new(builtin.overriding_file(Path::new(&path))),
    }
});

impl PriceList {
    /// An empty list.
    pub fn new() -> PriceList {
        PriceList::default()
    }

    /// The built-in list: a dozen common models at their providers' list prices (see
    /// `observe-store/prices/SOURCE.md`; figures may be dated).
    pub fn builtin() -> PriceList {
        PriceList::clone(&BUILTIN)
    }

    /// The list the store prices with: [`PriceList::builtin`], with the file named by
    /// `OBSERVE_MODEL_PRICES` on top (read once per process; a file that cannot be read
    /// is left out with a warning).
    pub fn default_list() -> Arc<PriceList> {
        DEFAULT.clone()
    }

    /// Reads a list in Langfuse's format. An entry whose regex this crate cannot compile
    /// is left out with a warning; text that is not such a list is an error.
    pub fn from_json(text: &str) -> Result<PriceList, PriceError> {
        let entries: Vec<EntryJson> = serde_json::from_str(text)?;
        let mut models = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for entry in entries {
            let name = entry.model_name.clone();
            match entry.build() {
                Ok(model) => models.push(model),
                Err(e) => skipped.push(format!("{name} ({e})")),
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(
                "observe: {} model price entr{} left out: {}",
                skipped.len(),
                if skipped.len() == 1 { "y" } else { "ies" },
                skipped.join("; ")
            );
        }
        Ok(PriceList { models })
    }

    /// Reads a list file in Langfuse's format (e.g. Langfuse's own
    /// `default-model-prices.json`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<PriceList, PriceError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Read {
            path: path.to_owned(),
            source,
        })?;
        PriceList::from_json(&text)
    }

    /// This list with the models of the file at `path` on top; a file that cannot be read
    /// is left out with a warning.
    pub fn overriding_file(self, path: &Path) -> PriceList {
        match PriceList::from_file(path) {
            Ok(file) => self.overriding(file),
            Err(e) => {
                tracing::warn!("observe: {e} ({MODEL_PRICES_VAR}); using the built-in prices");
                self
            }
        }
    }

    /// This list with `other`'s models on top: a name both match is priced by `other`.
    #[must_use]
    pub fn overriding(mut self, other: PriceList) -> PriceList {
        let mut models = other.models;
        models.append(&mut self.models);
        PriceList { models }
    }

    /// This list with `model` on top of the others.
    #[must_use]
    pub fn with_model(mut self, model: ModelPrice) -> PriceList {
        self.models.insert(0, model);
        self
    }

    /// How many models it prices.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// True when it prices nothing.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The first model whose pattern matches `model`.
    pub fn find(&self, model: &str) -> Option<&ModelPrice> {
        self.models.iter().find(|m| m.matches(model))
    }

    /// The cost of `usage` for `model`; `None` when no entry matches or no usage key has a
    /// price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<Cost> {
        self.find(model)?.cost(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn the_builtin_list_loads_whole_and_prices_its_models() {
        let list = PriceList::from_json(BUILTIN_JSON).unwrap();
        assert!(list.len() >= 12, "{}", list.len());
        assert_eq!(list.len(), PriceList::builtin().len());
        for model in [
            "gpt-4o",
            "gpt-4o-2024-08-06",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o3",
            "o4-mini",
            "claude-sonnet-4-20250514",
            "claude-3-5-haiku-20241022",
            "claude-opus-4-1",
            "claude-3-7-sonnet-latest",
            "gemini-2.5-pro",
            "gemini-2.0-flash",
            "gemini-1.5-flash",
            "text-embedding-3-small",
            "text-embedding-3-large",
        ] {
            let cost = list.cost(model, &Usage::new(1000, 100));
            assert!(
                cost.is_some_and(|c| c.total() > 0.0),
                "{model} is not priced"
            );
        }
        // Mini must not be priced as its big sibling.
        assert_ne!(
            list.find("gpt-4o-mini").unwrap().name(),
            list.find("gpt-4o").unwrap().name()
        );
    }

    #[test]
    fn cost_is_count_times_price_and_total_their_sum() {
        let m = ModelPrice::new("m", "^m$")
            .unwrap()
            .price("input", 2e-6)
            .price("output", 8e-6)
            .price("input_cached_tokens", 5e-7);
        let usage = Usage::new(1000, 100).with("cache_read_input_tokens", 4000);
        let c = m.cost(&usage).unwrap();
        assert!(close(c.0["input"], 0.002));
        assert!(close(c.0["output"], 0.0008));
        assert!(close(c.0["input_cached_tokens"], 0.002));
        assert!(close(c.total(), 0.0048));
        // `total` from usage has no price: the sum stands.
        assert!(!c.0.contains_key("unpriced"));
    }

    #[test]
    fn a_priced_total_is_the_total() {
        let m = ModelPrice::new("m", "^m$").unwrap().price("total", 1e-3);
        let c = m.cost(&Usage::new(10, 5)).unwrap();
        assert!(close(c.total(), 0.015));
        assert_eq!(m.cost(&Usage::default().with("images", 3)), None);
    }

    #[test]
    fn tiers_go_by_priority_and_need_all_their_conditions() {
        let list = PriceList::from_json(
            r#"[{"modelName": "t", "matchPattern": "(?i)^t$", "pricingTiers": [
                {"name": "Standard", "isDefault": true, "priority": 0, "conditions": [],
                 "prices": {"input": 1}},
                {"name": "Huge", "isDefault": false, "priority": 2,
                 "conditions": [{"usageDetailPattern": "^input", "operator": "gte", "value": 100}],
                 "prices": {"input": 3}},
                {"name": "Big and cached", "isDefault": false, "priority": 1,
                 "conditions": [
                    {"usageDetailPattern": "^INPUT", "operator": "gte", "value": 100},
                    {"usageDetailPattern": "cached", "operator": "gt", "value": 0}],
                 "prices": {"input": 2}},
                {"name": "Case", "isDefault": false, "priority": 3,
                 "conditions": [{"usageDetailPattern": "^INPUT", "operator": "gte", "value": 1,
                                 "caseSensitive": true}],
                 "prices": {"input": 9}}
            ]}]"#,
        )
        .unwrap();
        let m = list.find("T").unwrap();
        let tier = |usage: Usage| m.tier_for(&usage).unwrap().name().to_owned();
        assert_eq!(tier(Usage::default().with("input", 10)), "Standard");
        // Summed over every key the pattern matches: 60 + 40 cached.
        assert_eq!(
            tier(
                Usage::default()
                    .with("input", 60)
                    .with("input_cached_tokens", 40)
            ),
            "Big and cached"
        );
        assert_eq!(tier(Usage::default().with("input", 150)), "Huge");
        let cost = list
            .cost("t", &Usage::default().with("input", 150))
            .unwrap();
        assert!(close(cost.total(), 450.0));
        for (op, sum, value, holds) in [
            (Operator::Gt, 2.0, 1.0, true),
            (Operator::Gt, 1.0, 1.0, false),
            (Operator::Gte, 1.0, 1.0, true),
            (Operator::Lt, 1.0, 2.0, true),
            (Operator::Lte, 2.0, 2.0, true),
            (Operator::Eq, 2.0, 2.0, true),
            (Operator::Neq, 2.0, 2.0, false),
        ] {
            assert_eq!(op.holds(sum, value), holds, "{op:?} {sum} {value}");
        }
    }

    #[test]
    fn entries_added_later_win_and_bad_entries_are_left_out() {
        let file = PriceList::from_json(
            r#"[{"modelName": "mine", "matchPattern": "(?i)^gpt-4o$",
                 "prices": {"input": 1, "output": 1}, "tokenizerId": "openai"},
                {"modelName": "lookahead", "matchPattern": "^(?!x)y$", "prices": {"input": 1}}]"#,
        )
        .unwrap();
        assert_eq!(file.len(), 1);
        let list = PriceList::builtin().overriding(file);
        assert_eq!(list.find("gpt-4o").unwrap().name(), "mine");
        assert!(close(
            list.cost("gpt-4o", &Usage::new(2, 3)).unwrap().total(),
            5.0
        ));
        assert!(PriceList::from_json("{}").is_err());
        assert!(matches!(
            PriceList::from_file("/no/such/prices.json"),
            Err(PriceError::Read { .. })
        ));
    }
}
