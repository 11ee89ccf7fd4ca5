//! Cost from usage: model price lists in Langfuse's `default-model-prices.json` format.
//!
//! Langfuse prices a generation on its server when the client sends usage and no cost. The
//! local store cannot ask a server, so it prices such generations itself with a
//! [`PriceList`], the way the server does, and marks the cost as computed (it is never sent
//! to Langfuse, which prices for itself).
//!
//! A list is a JSON array of models, each with a name, a regex its model names match
//! (`(?i)` makes it case-insensitive), and pricing tiers: one default tier, and tiers with
//! conditions, tried by ascending `priority` before the default. A condition is on the
//! usage (the sum of the counts whose key matches a regex, compared with a number) or on an
//! attribute of the observation (a model parameter or metadata value that is one of a few
//! strings, as Langfuse's "Flex" and "Fast mode" tiers read `service_tier`). A tier's prices
//! are USD per unit by usage key:
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
//!      "prices": {"input": 2e-6, "output": 8e-6}},
//!     {"name": "Flex", "isDefault": false, "priority": 2,
//!      "conditions": [{"source": "model_parameters", "key": "service_tier",
//!                      "operator": "in", "values": ["flex"]}],
//!      "prices": {"input": 5e-7, "output": 2e-6}}
//!   ]
//! }]
//! ```
//!
//! An entry this crate cannot read (a regex with look-around, a condition of an unknown
//! kind) is left out with one warning; the rest of the list loads. An entry without
//! `pricingTiers` but with a top-level `prices` (the older layout) has that as its default
//! tier.
//!
//! The cost follows the server's arithmetic (see [`ModelPrice::cost_with`]): usage without
//! a `total` count gets one (the sum of the others), each count with a price costs count
//! times price, and the total cost is the priced `total` when the tier prices it, else the
//! sum. The first entry whose regex matches the model name prices it.
//!
//! [`PriceList::builtin`] is Langfuse's own list (167 models), shipped unmodified with its
//! source, date and licence (`observe-store/prices/NOTICE.md`, [`BUILTIN_SOURCE`]).
//! [`PriceList::default_list`] is that list with the file named by `OBSERVE_MODEL_PRICES`
//! on top (a newer copy of Langfuse's file, or your own); entries added in code
//! ([`PriceList::with_model`], [`PriceList::overriding`]) win over both.
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
//! // gpt-4o-mini at Langfuse's prices: 1000 x $0.15/M in, 100 x $0.60/M out.
//! let mini = list.cost("gpt-4o-mini", &Usage::new(1000, 100)).unwrap();
//! assert!((mini.total() - 0.00021).abs() < 1e-12);
//! assert!(list.cost("unknown-model", &Usage::new(1000, 0)).is_none());
//! ```

mod attributes;
mod builtin;
mod file_format;
mod memo;
mod model_price;
mod tier;
mod usage_counts;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use observe_model::model::{Cost, Usage};

pub use attributes::{AttributeSource, PricingAttributes};
pub use builtin::{ListSource, BUILTIN_SOURCE};
pub use model_price::ModelPrice;
pub use tier::{Condition, Operator, Tier};

use builtin::{BUILTIN, DEFAULT};
use file_format::EntryJson;
use memo::Memo;

/// The environment variable naming a price list file loaded on top of the built-in one.
pub const MODEL_PRICES_VAR: &str = observe_model::vars::MODEL_PRICES;

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
    found: Memo,
}

impl PriceList {
    /// An empty list.
    pub fn new() -> PriceList {
        PriceList::default()
    }

    /// The built-in list: Langfuse's own price list as of [`BUILTIN_SOURCE`]'s date,
    /// shipped unmodified (see `observe-store/prices/NOTICE.md`).
    ///
    /// ```
    /// use observe_store::pricing::PriceList;
    /// let list = PriceList::builtin();
    /// assert_eq!(list.find("openai/GPT-4o").unwrap().name(), "gpt-4o");
    /// ```
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
        // Entry by entry, so that one entry of a kind this crate does not know leaves
        // out that entry, not the list.
        let entries: Vec<serde_json::Value> = serde_json::from_str(text)?;
        let mut models = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for (i, value) in entries.into_iter().enumerate() {
            let name = value
                .get("modelName")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| format!("entry {i}"), str::to_owned);
            match EntryJson::deserialize(value).map_err(PriceError::Format) {
                Ok(entry) => match entry.build() {
                    Ok(model) => models.push(model),
                    Err(e) => skipped.push(format!("{name} ({e})")),
                },
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
        Ok(PriceList::from_models(models))
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
        PriceList::from_models(models)
    }

    fn from_models(models: Vec<ModelPrice>) -> PriceList {
        PriceList {
            models,
            found: Memo::default(),
        }
    }

    /// This list with `model` on top of the others.
    #[must_use]
    pub fn with_model(mut self, model: ModelPrice) -> PriceList {
        self.models.insert(0, model);
        PriceList::from_models(self.models)
    }

    /// How many models it prices.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// True when it prices nothing.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The first model whose pattern matches `model` (remembered per name, so that a
    /// name's second lookup tries no regex).
    pub fn find(&self, model: &str) -> Option<&ModelPrice> {
        let at = self
            .found
            .get_or(model, || self.models.iter().position(|m| m.matches(model)))?;
        self.models.get(at)
    }

    /// Every model, in the order they are tried.
    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }

    /// The cost of `usage` for `model`; `None` when no entry matches or no usage key has a
    /// price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<Cost> {
        self.find(model)?.cost(usage)
    }

    /// The cost of `usage` for `model`, with the observation's model parameters and
    /// metadata for the tiers that read them ([`ModelPrice::cost_with`]). `attributes` is
    /// only called when the matching entry has such a tier, so a caller pays for building
    /// them only then.
    ///
    /// ```
    /// use observe_model::model::Usage;
    /// use observe_store::pricing::{AttributeSource, PriceList, PricingAttributes};
    /// let list = PriceList::builtin();
    /// let usage = Usage::new(1_000_000, 0);
    /// let flex = || PricingAttributes::new()
    ///     .with(AttributeSource::ModelParameters, "service_tier", "flex");
    /// let standard = list.cost("gpt-5", &usage).unwrap().total();
    /// let cheaper = list.cost_with("gpt-5", &usage, flex).unwrap().total();
    /// assert!(cheaper < standard);
    /// ```
    pub fn cost_with(
        &self,
        model: &str,
        usage: &Usage,
        attributes: impl FnOnce() -> PricingAttributes,
    ) -> Option<Cost> {
        let entry = self.find(model)?;
        if entry.reads_attributes() {
            entry.cost_with(usage, &attributes())
        } else {
            entry.cost(usage)
        }
    }
}

#[cfg(test)]
mod tests;
