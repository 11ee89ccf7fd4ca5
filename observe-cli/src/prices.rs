//! `observe prices`: which price a model name gets (its entry in the price list, the tiers
//! and their prices), the whole list, or, with `--check`, the models in the store that no
//! price matches.
//!
//! The list is the one the store prices with: Langfuse's, shipped with observe, with the
//! file named by `OBSERVE_MODEL_PRICES` on top.

use std::path::Path;

use anyhow::{bail, Result};
use observe_model::view::escape_control;
use observe_store::pricing::{ModelPrice, PriceList, Tier, BUILTIN_SOURCE, MODEL_PRICES_VAR};
use serde_json::{json, Value};

use crate::cli_args::PricesArgs;
use crate::exit_status::ExitStatus;
use crate::output::{Format, Output};
use crate::store_file;

/// Runs `observe prices`; exits with [`ExitStatus::Partial`] when a model has no price
/// (apart from [`ExitStatus::Failed`], which says the command itself failed).
pub fn run(out: &Output, db: &Path, args: &PricesArgs) -> Result<()> {
    // The store leaves out a file it cannot read with a warning; here, where the list is
    // what is asked about, that is an error.
    if let Some(file) = std::env::var_os(MODEL_PRICES_VAR).filter(|p| !p.is_empty()) {
        if let Err(e) = PriceList::from_file(Path::new(&file)) {
            bail!("{e} (named by {MODEL_PRICES_VAR})");
        }
    }
    let list = PriceList::default_list();
    let priced = if args.check {
        check(out, &list, db)?
    } else if let Some(model) = &args.model {
        one(out, &list, model)?
    } else {
        all(out, &list)?;
        true
    };
    if !priced {
        std::process::exit(ExitStatus::Partial.code().into());
    }
    Ok(())
}

/// Where the list comes from, as one line and as JSON.
fn source() -> (String, Value) {
    let file = std::env::var_os(MODEL_PRICES_VAR).filter(|p| !p.is_empty());
    let mut line = format!(
        "Langfuse's model price list of {} ({} at {})",
        BUILTIN_SOURCE.date,
        BUILTIN_SOURCE.repository,
        &BUILTIN_SOURCE.commit[..10]
    );
    if let Some(file) = &file {
        line.push_str(&format!(
            ", with {} on top ({MODEL_PRICES_VAR})",
            file.to_string_lossy()
        ));
    }
    let value = json!({
        "list_date": BUILTIN_SOURCE.date,
        "source": BUILTIN_SOURCE.url(),
        "commit": BUILTIN_SOURCE.commit,
        "file": file.map(|f| f.to_string_lossy().into_owned()),
    });
    (escape_control(&line).into_owned(), value)
}

/// USD per unit as USD per million units, the way providers publish prices.
fn per_million(usd_per_unit: f64) -> String {
    let per_m = usd_per_unit * 1e6;
    let text = format!("{per_m:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("${text}/1M")
}

fn tier_json(tier: &Tier) -> Value {
    json!({
        "name": tier.name(),
        "default": tier.is_default(),
        "priority": tier.priority(),
        "conditions": tier.conditions().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "prices": tier.prices(),
    })
}

fn model_json(model: &ModelPrice) -> Value {
    json!({
        "model_name": model.name(),
        "match_pattern": model.pattern(),
        "tiers": model.tiers().iter().map(tier_json).collect::<Vec<_>>(),
    })
}

/// The tiers in the order the server tries them: by priority, the default last.
fn tiers_in_order(model: &ModelPrice) -> Vec<&Tier> {
    let mut tiers: Vec<&Tier> = model.tiers().iter().collect();
    tiers.sort_by_key(|t| (t.is_default(), t.priority()));
    tiers
}

/// `observe prices MODEL`: the entry, its tiers and prices; false when none matches.
fn one(out: &Output, list: &PriceList, name: &str) -> Result<bool> {
    let (source_line, source_json) = source();
    let found = list.find(name);
    if out.format != Format::Table {
        out.json_value(&json!({
            "model": name,
            "match": found.map(model_json),
            "list": source_json,
        }))?;
        return Ok(found.is_some());
    }
    let shown = escape_control(name);
    let Some(model) = found else {
        out.text(&format!(
            "no price matches `{shown}`: its cost is not computed\n\
             (add it in a price list file named by {MODEL_PRICES_VAR}, or in code with \
             Config::model_prices)\nlist: {source_line}\n"
        ))?;
        return Ok(false);
    };
    let mut text = format!(
        "`{shown}` matches `{}` (pattern {})\n",
        escape_control(model.name()),
        escape_control(model.pattern())
    );
    for tier in tiers_in_order(model) {
        let when = if tier.is_default() {
            "default: when no other tier applies".to_owned()
        } else {
            let conditions: Vec<String> = tier.conditions().iter().map(|c| c.to_string()).collect();
            format!(
                "priority {}: when {}",
                tier.priority(),
                conditions.join(" and ")
            )
        };
        text.push_str(&format!(
            "  tier {} ({})\n",
            escape_control(tier.name()),
            escape_control(&when)
        ));
        let width = tier.prices().keys().map(String::len).max().unwrap_or(0);
        for (key, price) in tier.prices() {
            text.push_str(&format!(
                "    {:<width$}  {}\n",
                escape_control(key),
                per_million(*price)
            ));
        }
    }
    text.push_str(&format!("list: {source_line}\n"));
    out.text(&text)?;
    Ok(true)
}

/// `observe prices`: every entry with its default input and output prices.
fn all(out: &Output, list: &PriceList) -> Result<()> {
    let (source_line, source_json) = source();
    if out.format != Format::Table {
        return out.json_value(&json!({
            "list": source_json,
            "models": list.models().iter().map(model_json).collect::<Vec<_>>(),
        }));
    }
    let width = list
        .models()
        .iter()
        .map(|m| m.name().len())
        .max()
        .unwrap_or(0);
    let mut text = format!("{source_line}: {} models\n", list.len());
    text.push_str(&format!(
        "{:<width$}  {:>14}  {:>14}  tiers\n",
        "model", "input", "output"
    ));
    for model in list.models() {
        let default = model.tiers().iter().find(|t| t.is_default());
        let price = |key: &str| {
            default
                .and_then(|t| t.prices().get(key))
                .map_or_else(|| "-".to_owned(), |p| per_million(*p))
        };
        text.push_str(&format!(
            "{:<width$}  {:>14}  {:>14}  {}\n",
            escape_control(model.name()),
            price("input"),
            price("output"),
            model.tiers().len()
        ));
    }
    out.text(&text)
}

/// `observe prices --check`: the models in the store no price matches, with their
/// observation counts; false when there is one.
fn check(out: &Output, list: &PriceList, db: &Path) -> Result<bool> {
    let store = store_file::open(db)?;
    let models = store.model_counts()?;
    let missing: Vec<_> = models
        .iter()
        .filter(|m| list.find(&m.model).is_none())
        .collect();
    let (source_line, source_json) = source();
    if out.format != Format::Table {
        out.json_value(&json!({
            "models_seen": models.len(),
            "unpriced": missing.iter().map(|m| json!({
                "model": m.model, "observations": m.observations,
            })).collect::<Vec<_>>(),
            "list": source_json,
        }))?;
        return Ok(missing.is_empty());
    }
    let mut text = if missing.is_empty() {
        let n = models.len();
        let s = if n == 1 { "" } else { "s" };
        format!("every model in the store has a price ({n} model{s})\n")
    } else {
        let width = missing
            .iter()
            .map(|m| m.model.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut text = format!(
            "{} of {} models in the store have no price; their costs are not computed:\n",
            missing.len(),
            models.len()
        );
        text.push_str(&format!("{:<width$}  observations\n", "model"));
        for m in &missing {
            text.push_str(&format!(
                "{:<width$}  {}\n",
                escape_control(&m.model),
                m.observations
            ));
        }
        text.push_str(&format!(
            "(add them in a price list file named by {MODEL_PRICES_VAR}, or in code with \
             Config::model_prices)\n"
        ));
        text
    };
    text.push_str(&format!("list: {source_line}\n"));
    out.text(&text)?;
    Ok(missing.is_empty())
}
