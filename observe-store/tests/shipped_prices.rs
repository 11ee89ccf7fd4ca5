//! The shipped price list (Langfuse's `default-model-prices.json`): every entry loads, its
//! own names find it, its tiers price as Langfuse's server does, and the models the
//! bundled examples use are priced.

use std::path::Path;

use observe_model::model::Usage;
use observe_store::pricing::{AttributeSource, PriceList, PricingAttributes, BUILTIN_SOURCE};
use regex_syntax::hir::{Class, Hir, HirKind};

/// The number of entries in the copied file.
const ENTRIES: usize = 167;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_entry_loads() {
    let text =
        std::fs::read_to_string(manifest_dir().join("prices/langfuse-default-model-prices.json"))
            .unwrap();
    let raw: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(raw.len(), ENTRIES);
    let list = PriceList::from_json(&text).unwrap();
    assert_eq!(list.len(), ENTRIES, "an entry was left out");
    assert_eq!(PriceList::builtin().len(), ENTRIES);
    for (model, json) in list.models().iter().zip(&raw) {
        assert_eq!(model.name(), json["modelName"].as_str().unwrap());
        assert_eq!(model.pattern(), json["matchPattern"].as_str().unwrap());
        let tiers = json["pricingTiers"].as_array().unwrap();
        assert_eq!(model.tiers().len(), tiers.len(), "{}", model.name());
        for (tier, t) in model.tiers().iter().zip(tiers) {
            assert_eq!(
                tier.conditions().len(),
                t["conditions"].as_array().unwrap().len()
            );
            assert_eq!(tier.prices().len(), t["prices"].as_object().unwrap().len());
        }
        assert_eq!(
            model.tiers().iter().filter(|t| t.is_default()).count(),
            1,
            "{}",
            model.name()
        );
    }
}

#[test]
fn the_notice_names_the_copied_file() {
    let notice = std::fs::read_to_string(manifest_dir().join("prices/NOTICE.md")).unwrap();
    for fact in [
        BUILTIN_SOURCE.commit,
        BUILTIN_SOURCE.date,
        BUILTIN_SOURCE.sha256,
        BUILTIN_SOURCE.path,
    ] {
        assert!(notice.contains(fact), "NOTICE.md does not say {fact}");
    }
    assert!(
        notice.contains("Permission is hereby granted, free of charge"),
        "the MIT licence text"
    );
    let file = manifest_dir().join("prices/langfuse-default-model-prices.json");
    let out = std::process::Command::new("sha256sum")
        .arg(&file)
        .output()
        .expect("this test needs `sha256sum` (GNU coreutils: apt-get install coreutils)");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.split_whitespace().next(),
        Some(BUILTIN_SOURCE.sha256),
        "the file changed: update NOTICE.md and BUILTIN_SOURCE"
    );
}

/// Most example strings derived from one regex (alternations multiply).
const MAX_EXAMPLES: usize = 64;

/// Strings the regex matches: each branch of an alternation, each optional part with and
/// without it, one character of each class (a lowercase letter when the class has one).
fn examples(hir: &Hir) -> Vec<String> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => vec![String::new()],
        HirKind::Literal(lit) => vec![String::from_utf8(lit.0.to_vec()).unwrap()],
        HirKind::Class(Class::Unicode(class)) => {
            let chars: Vec<char> = class
                .ranges()
                .iter()
                .flat_map(|r| [r.start(), r.end()])
                .collect();
            let contains = |c: char| {
                class
                    .ranges()
                    .iter()
                    .any(|r| r.start() <= c && c <= r.end())
            };
            let pick = if contains('.') {
                '.'
            } else {
                ('a'..='z')
                    .chain('0'..='9')
                    .find(|c| contains(*c))
                    .unwrap_or(chars[0])
            };
            vec![pick.to_string()]
        }
        HirKind::Class(Class::Bytes(class)) => {
            vec![char::from(class.ranges()[0].start()).to_string()]
        }
        HirKind::Repetition(rep) => {
            let sub = examples(&rep.sub);
            let mut out = Vec::new();
            if rep.min == 0 {
                out.push(String::new());
            }
            if rep.max != Some(0) {
                let times = rep.min.max(1) as usize;
                out.extend(sub.iter().map(|s| s.repeat(times)));
            }
            out.truncate(MAX_EXAMPLES);
            out
        }
        HirKind::Capture(cap) => examples(&cap.sub),
        HirKind::Concat(parts) => parts.iter().fold(vec![String::new()], |acc, part| {
            let next = examples(part);
            let mut out: Vec<String> = acc
                .iter()
                .flat_map(|a| next.iter().map(move |n| format!("{a}{n}")))
                .collect();
            out.truncate(MAX_EXAMPLES);
            out
        }),
        HirKind::Alternation(branches) => {
            let mut out: Vec<String> = branches.iter().flat_map(examples).collect();
            out.truncate(MAX_EXAMPLES);
            out
        }
    }
}

#[test]
fn every_entry_is_found_by_its_own_names() {
    let list = PriceList::builtin();
    let mut checked = 0;
    for (at, model) in list.models().iter().enumerate() {
        let hir = regex_syntax::parse(model.pattern()).unwrap();
        let mut names = examples(&hir);
        assert!(!names.is_empty(), "{}", model.name());
        if model.matches(model.name()) {
            names.push(model.name().to_owned());
        }
        names.push(names[0].to_uppercase());
        // A count of every key the default tier prices (audio models price no `input`).
        let default = model.tiers().iter().find(|t| t.is_default()).unwrap();
        let usage = default
            .prices()
            .keys()
            .fold(Usage::default(), |u, k| u.with(k.as_str(), 1000));
        for name in names {
            assert!(
                model.matches(&name),
                "{name} derived from {} does not match it",
                model.pattern()
            );
            let found = list.find(&name).map(|m| m.name());
            assert_eq!(
                found,
                Some(model.name()),
                "{name} is priced by another entry (entry {at})"
            );
            assert!(
                list.cost(&name, &usage).is_some_and(|c| c.total() > 0.0),
                "{name} has no cost"
            );
            checked += 1;
        }
    }
    assert!(checked > 2 * list.len(), "{checked} names checked");
    assert!(list.find("gpt-4o-turbo-unknown").is_none());
    assert!(list.find("my-own-model").is_none());
}

/// The model names the bundled examples use (string literals that look like one).
fn example_models() -> Vec<String> {
    let pattern =
        regex::Regex::new(r#""((?:gpt|o\d|claude|gemini|text-embedding)[-a-z0-9.]*)""#).unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(manifest_dir().join("../examples")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        names.extend(pattern.captures_iter(&text).map(|c| c[1].to_owned()));
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_models_the_examples_use_are_priced() {
    let names = example_models();
    assert!(
        names.contains(&"gpt-4o".to_owned()) && names.contains(&"gpt-4o-mini".to_owned()),
        "{names:?}"
    );
    let list = PriceList::builtin();
    for name in &names {
        assert!(
            list.cost(name, &Usage::new(1000, 100))
                .is_some_and(|c| c.total() > 0.0),
            "{name} is not priced"
        );
    }
}

fn total(model: &str, usage: &Usage) -> f64 {
    PriceList::builtin().cost(model, usage).unwrap().total()
}

#[test]
fn tiers_with_conditions_price_as_langfuse_does() {
    let list = PriceList::builtin();
    let tier = |model: &str, usage: &Usage| {
        list.find(model)
            .unwrap()
            .tier_for(usage)
            .unwrap()
            .name()
            .to_owned()
    };

    // gemini-2.5-pro, "Large Context" when the counts whose key matches
    // `(input|prompt|cached)` sum to more than 200000.
    // 250000 input, 1000 output: 250000 > 200000, Large Context:
    // 250000 x $2.5e-6 = 0.625, 1000 x $1.5e-5 = 0.015, total 0.64.
    let big = Usage::default()
        .with("input", 250_000)
        .with("output", 1_000);
    assert_eq!(tier("gemini-2.5-pro", &big), "Large Context");
    assert!(close(total("gemini-2.5-pro", &big), 0.64));
    // 150000 input + 60000 cached = 210000 > 200000, Large Context:
    // 150000 x 2.5e-6 = 0.375, 60000 x 2.5e-7 = 0.015, 2000 x 1.5e-5 = 0.03, total 0.42.
    let cached = Usage::default()
        .with("input", 150_000)
        .with("input_cached_tokens", 60_000)
        .with("output", 2_000);
    assert_eq!(tier("gemini-2.5-pro", &cached), "Large Context");
    assert!(close(total("gemini-2.5-pro", &cached), 0.42));
    // Exactly 200000 is not more: Standard, 200000 x 1.25e-6 = 0.25, 1000 x 1e-5 = 0.01.
    // The `total` count (201000, added as the server adds it) is not summed: its key does
    // not match the pattern.
    let edge = Usage::default()
        .with("input", 200_000)
        .with("output", 1_000);
    assert_eq!(tier("google/gemini-2.5-pro", &edge), "Standard");
    assert!(close(total("gemini-2.5-pro", &edge), 0.26));

    // gpt-5.4: tiers on `service_tier` (a model parameter) and on input above 272000.
    let flex =
        || PricingAttributes::new().with(AttributeSource::ModelParameters, "service_tier", "flex");
    let long = Usage::default()
        .with("input", 300_000)
        .with("output", 1_000);
    // No service tier, 300000 > 272000: "Large Context (>272K)",
    // 300000 x 5e-6 = 1.5, 1000 x 2.25e-5 = 0.0225, total 1.5225.
    assert_eq!(tier("gpt-5.4", &long), "Large Context (>272K)");
    assert!(close(
        list.cost_with("gpt-5.4", &long, PricingAttributes::new)
            .unwrap()
            .total(),
        1.5225
    ));
    // Flex and long (priority 1 before Flex alone at 3):
    // 300000 x 2.5e-6 = 0.75, 1000 x 1.125e-5 = 0.01125, total 0.76125.
    assert!(close(
        list.cost_with("gpt-5.4", &long, flex).unwrap().total(),
        0.76125
    ));
    // Flex, short: 100000 x 1.25e-6 = 0.125, 1000 x 7.5e-6 = 0.0075, total 0.1325.
    let short = Usage::default()
        .with("input", 100_000)
        .with("output", 1_000);
    assert!(close(
        list.cost_with("gpt-5.4", &short, flex).unwrap().total(),
        0.1325
    ));

    // text-embedding-3-small prices `total` only; usage without one gets the sum:
    // 1000 x 2e-8 = 0.00002.
    assert!(close(
        total(
            "text-embedding-3-small",
            &Usage::default().with("input", 1_000)
        ),
        0.00002
    ));

    // gpt-4o, default tier, cache reads under Anthropic's spelling priced under their own key:
    // 1000 x 2.5e-6 = 0.0025, 4000 x 1.25e-6 = 0.005, 100 x 1e-5 = 0.001, total 0.0085.
    let usage = Usage::new(1_000, 100).with("cache_read_input_tokens", 4_000);
    let cost = list.cost("gpt-4o", &usage).unwrap();
    assert!(close(cost.0["cache_read_input_tokens"], 0.005));
    assert!(close(cost.total(), 0.0085));
}
