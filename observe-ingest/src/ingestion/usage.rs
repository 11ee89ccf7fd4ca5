//! A generation's counts and costs: the older `usage` object (`input`/`output`/`total`/
//! `unit` with `inputCost`..., or OpenAI's `promptTokens`/`completionTokens`/
//! `totalTokens`), `usageDetails` (any counts by name, or OpenAI's completion or response
//! usage object) and `costDetails`, combined as Langfuse's server combines them: the
//! details win key by key over what `usage` says.

use std::collections::BTreeMap;

use observe_model::model::{Cost, Usage};
use serde_json::{Map, Value};

use super::fields::Fields;
use super::issues::{invalid_type, Issue};

/// Units the `usage` object may name. observe keeps counts only: the unit is checked, then
/// not stored.
const UNITS: [&str; 6] = [
    "CHARACTERS",
    "TOKENS",
    "SECONDS",
    "MILLISECONDS",
    "IMAGES",
    "REQUESTS",
];

const USAGE_COUNTS: [&str; 6] = [
    "input",
    "output",
    "total",
    "promptTokens",
    "completionTokens",
    "totalTokens",
];
const USAGE_COSTS: [&str; 3] = ["inputCost", "outputCost", "totalCost"];

/// The counts and costs a body gives, each `None` when it gives none.
pub(crate) fn usage_and_cost(fields: &mut Fields<'_>) -> (Option<Usage>, Option<Cost>) {
    let legacy = legacy_usage(fields);
    let details = usage_details(fields);
    let cost_details = cost_details(fields);

    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut costs: BTreeMap<String, f64> = BTreeMap::new();
    if let Some(u) = &legacy {
        let details_empty = details.as_ref().is_none_or(|d| d.is_empty());
        // Langfuse: `total || (no details ? (input && output ? input + output : input ?? output))`.
        let total = u.total.filter(|t| *t != 0).or(if details_empty {
            match (u.input, u.output) {
                (Some(i), Some(o)) if i != 0 && o != 0 => Some(i.saturating_add(o)),
                (i, o) => i.or(o),
            }
        } else {
            None
        });
        for (key, value) in [("input", u.input), ("output", u.output), ("total", total)] {
            if let Some(v) = value {
                counts.insert(key.to_owned(), v);
            }
        }
        for (key, value) in [
            ("input", u.input_cost),
            ("output", u.output_cost),
            ("total", u.total_cost),
        ] {
            if let Some(v) = value {
                costs.insert(key.to_owned(), v);
            }
        }
    }
    counts.extend(details.unwrap_or_default());
    costs.extend(cost_details.unwrap_or_default());
    (usage(counts), cost(costs))
}

/// Counts as observe holds them (non-negative); a negative count, which Langfuse would
/// store, is dropped with a warning.
fn usage(counts: BTreeMap<String, i64>) -> Option<Usage> {
    let mut usage = BTreeMap::new();
    for (key, value) in counts {
        match u64::try_from(value) {
            Ok(v) => {
                usage.insert(key, v);
            }
            Err(_) => tracing::warn!("usage count `{key}` dropped: {value} is negative"),
        }
    }
    (!usage.is_empty()).then_some(Usage(usage))
}

/// Costs as observe holds them; a negative `usage.*Cost` is dropped with a warning (the
/// runtime drops such costs too).
fn cost(costs: BTreeMap<String, f64>) -> Option<Cost> {
    let mut kept = BTreeMap::new();
    for (key, value) in costs {
        if value.is_finite() && value >= 0.0 {
            kept.insert(key, value);
        } else {
            tracing::warn!("cost `{key}` dropped: {value} is not a cost");
        }
    }
    (!kept.is_empty()).then_some(Cost(kept))
}

/// The `usage` object, in Langfuse's newer shape.
struct LegacyUsage {
    input: Option<i64>,
    output: Option<i64>,
    total: Option<i64>,
    input_cost: Option<f64>,
    output_cost: Option<f64>,
    total_cost: Option<f64>,
}

fn legacy_usage(fields: &mut Fields<'_>) -> Option<LegacyUsage> {
    let map = fields.object("usage")?;
    let mut u = Fields::new(map, &["body", "usage"]);
    let counts: Vec<Option<i64>> = USAGE_COUNTS.iter().map(|k| u.int(k)).collect();
    u.option("unit", &UNITS);
    let costs: Vec<Option<f64>> = USAGE_COSTS.iter().map(|k| u.number(k)).collect();
    let failed = !u.issues.is_empty();
    fields.issues.append(&mut u.issues);
    if failed || map.is_empty() {
        return None;
    }
    let openai = ["promptTokens", "completionTokens", "totalTokens"]
        .iter()
        .any(|k| map.contains_key(*k));
    Some(if openai {
        // OpenAI's shape carries no cost: Langfuse keeps its three counts only.
        LegacyUsage {
            input: counts[3],
            output: counts[4],
            total: counts[5],
            input_cost: None,
            output_cost: None,
            total_cost: None,
        }
    } else {
        LegacyUsage {
            input: counts[0],
            output: counts[1],
            total: counts[2],
            input_cost: costs[0],
            output_cost: costs[1],
            total_cost: costs[2],
        }
    })
}

/// `usageDetails`: OpenAI's completion usage, OpenAI's response usage, or counts by name
/// (whole non-negative numbers, or text that starts with one; anything else is left out,
/// as Langfuse leaves it out).
fn usage_details(fields: &mut Fields<'_>) -> Option<BTreeMap<String, i64>> {
    let value = fields.value("usageDetails")?;
    let Value::Object(map) = value else {
        let issue = Issue::new(
            "invalid_union",
            fields.path("usageDetails"),
            format!(
                "Invalid input: expected a record of counts, received {}",
                super::issues::received(Some(value))
            ),
        );
        fields.issue(issue);
        return None;
    };
    if let Some(counts) = openai_usage(map, ["prompt_tokens", "completion_tokens", "total_tokens"])
    {
        return Some(counts);
    }
    if let Some(counts) = openai_usage(map, ["input_tokens", "output_tokens", "total_tokens"]) {
        return Some(counts);
    }
    let mut counts = BTreeMap::new();
    for (key, value) in map {
        let count = match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            Value::String(s) => leading_integer(s),
            _ => None,
        };
        match count.filter(|c| *c >= 0) {
            Some(c) => {
                counts.insert(key.clone(), c);
            }
            None if value.is_null() => {}
            None => tracing::warn!("usage detail `{key}` dropped: {value} is not a count"),
        }
    }
    Some(counts)
}

/// OpenAI's usage object (exactly its keys; `names` are its input, output and total
/// fields): input and output less their detail counts, each detail as `input_<name>` or
/// `output_<name>`. `None` when `map` is not one.
fn openai_usage(map: &Map<String, Value>, names: [&str; 3]) -> Option<BTreeMap<String, i64>> {
    let [input_key, output_key, total_key] = names;
    let details_keys = [
        format!("{}_details", input_key),
        format!("{}_details", output_key),
    ];
    let allowed = |k: &str| names.contains(&k) || details_keys.iter().any(|d| d == k);
    if !map.keys().all(|k| allowed(k)) {
        return None;
    }
    let count = |v: Option<&Value>| v.and_then(Value::as_i64).filter(|c| *c >= 0);
    let mut input = count(map.get(input_key))?;
    let mut output = count(map.get(output_key))?;
    let total = count(map.get(total_key))?;
    let mut counts = BTreeMap::new();
    for (prefix, details_key, base) in [
        ("input", &details_keys[0], &mut input),
        ("output", &details_keys[1], &mut output),
    ] {
        match map.get(details_key.as_str()) {
            None | Some(Value::Null) => {}
            Some(Value::Object(details)) => {
                for (name, value) in details {
                    if value.is_null() {
                        continue;
                    }
                    let c = count(Some(value))?;
                    counts.insert(format!("{prefix}_{name}"), c);
                    *base = base.saturating_sub(c).max(0);
                }
            }
            Some(_) => return None,
        }
    }
    counts.insert("input".to_owned(), input);
    counts.insert("output".to_owned(), output);
    counts.insert("total".to_owned(), total);
    Some(counts)
}

/// The whole number a text starts with (after leading white space), as JavaScript's
/// `parseInt` reads it: `"12"`, `" 7 tokens"`.
fn leading_integer(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

/// `costDetails`: numbers by name; entries that are not non-negative numbers are left
/// out, as Langfuse leaves them out.
fn cost_details(fields: &mut Fields<'_>) -> Option<BTreeMap<String, f64>> {
    let value = fields.value("costDetails")?;
    let Value::Object(map) = value else {
        let issue = invalid_type(fields.path("costDetails"), "record", Some(value));
        fields.issue(issue);
        return None;
    };
    let mut costs = BTreeMap::new();
    for (key, value) in map {
        match value.as_f64().filter(|v| *v >= 0.0) {
            Some(v) => {
                costs.insert(key.clone(), v);
            }
            None if value.is_null() => {}
            None => tracing::warn!("cost detail `{key}` dropped: {value} is not a cost"),
        }
    }
    Some(costs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(body: Value) -> (Option<Usage>, Option<Cost>, Vec<Issue>) {
        let map = body.as_object().unwrap();
        let mut f = Fields::new(map, &["body"]);
        let (u, c) = usage_and_cost(&mut f);
        (u, c, f.issues)
    }

    fn counts(u: &Option<Usage>) -> Vec<(&str, u64)> {
        u.as_ref()
            .map(|u| u.0.iter().map(|(k, v)| (k.as_str(), *v)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn openai_shape_of_usage_becomes_input_output_total_without_cost() {
        let (u, c, issues) = read(json!({"usage": {"promptTokens": 50, "completionTokens": 10,
            "totalTokens": 60, "totalCost": 1.0}}));
        assert!(issues.is_empty());
        assert_eq!(counts(&u), [("input", 50), ("output", 10), ("total", 60)]);
        assert_eq!(c, None);
    }

    #[test]
    fn a_missing_total_is_the_sum_and_costs_come_along() {
        let (u, c, _) = read(
            json!({"usage": {"input": 400, "output": 5, "unit": "CHARACTERS",
            "totalCost": 0.006}}),
        );
        assert_eq!(counts(&u), [("input", 400), ("output", 5), ("total", 405)]);
        assert_eq!(c.unwrap().0, BTreeMap::from([("total".to_owned(), 0.006)]));
    }

    #[test]
    fn details_win_over_usage_key_by_key() {
        let (u, c, _) = read(json!({
            "usage": {"input": 1, "output": 2, "total": 3, "inputCost": 0.5},
            "usageDetails": {"input": 10, "cached": "4", "bad": "x", "neg": -1, "frac": 1.5},
            "costDetails": {"input": 0.25, "note": "free", "neg": -2}
        }));
        assert_eq!(
            counts(&u),
            [("cached", 4), ("input", 10), ("output", 2), ("total", 3)]
        );
        assert_eq!(c.unwrap().0, BTreeMap::from([("input".to_owned(), 0.25)]));
    }

    #[test]
    fn openai_usage_details_subtract_their_detail_counts() {
        let (u, _, _) = read(json!({"usageDetails": {"prompt_tokens": 100,
            "completion_tokens": 40, "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": null},
            "completion_tokens_details": {"reasoning_tokens": 15}}}));
        assert_eq!(
            counts(&u),
            [
                ("input", 70),
                ("input_cached_tokens", 30),
                ("output", 25),
                ("output_reasoning_tokens", 15),
                ("total", 140)
            ]
        );
        let (u, _, _) = read(
            json!({"usageDetails": {"input_tokens": 9, "output_tokens": 1,
            "total_tokens": 10}}),
        );
        assert_eq!(counts(&u), [("input", 9), ("output", 1), ("total", 10)]);
    }

    #[test]
    fn wrong_types_are_issues_naming_the_field() {
        let (_, _, issues) = read(json!({"usage": {"input": 1.5, "unit": "WORDS"},
            "usageDetails": [1], "costDetails": "cheap"}));
        let paths: Vec<String> = issues.iter().map(Issue::path_text).collect();
        assert_eq!(
            paths,
            [
                "body.usage.input",
                "body.usage.unit",
                "body.usageDetails",
                "body.costDetails"
            ]
        );
    }
}
