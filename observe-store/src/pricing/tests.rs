//! The price list's arithmetic and tier choice, on small hand-written lists.

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
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
    // Usage without `total` gets one, the sum of its counts, as on Langfuse's server:
    // 3 images and 2 other units make a total of 5, at $0.001.
    let c = m
        .cost(&Usage::default().with("images", 3).with("other", 2))
        .unwrap();
    assert!(close(c.total(), 0.005));
    // Nothing priced: no cost.
    let input_only = ModelPrice::new("i", "^i$").unwrap().price("input", 1.0);
    assert_eq!(input_only.cost(&Usage::default().with("images", 3)), None);
    assert_eq!(input_only.cost(&Usage::default()), None);
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

#[test]
fn an_exact_price_wins_over_an_alias_and_keeps_its_key() {
    let m = ModelPrice::new("m", "^m$")
        .unwrap()
        .price("cache_read_input_tokens", 1.0)
        .price("input_cached_tokens", 2.0);
    let c = m
        .cost(&Usage::default().with("cache_read_input_tokens", 10))
        .unwrap();
    assert!(close(c.0["cache_read_input_tokens"], 10.0));
    assert!(close(c.total(), 10.0));
}

#[test]
fn attribute_tiers_need_the_attribute_and_a_listed_value() {
    let list = PriceList::from_json(
        r#"[{"modelName": "a", "matchPattern": "(?i)^a$", "pricingTiers": [
            {"name": "Standard", "isDefault": true, "priority": 0, "conditions": [],
             "prices": {"input": 4}},
            {"name": "Fast", "isDefault": false, "priority": 1,
             "conditions": [{"source": "model_parameters", "key": "service_tier",
                             "operator": "in", "values": ["fast", "priority"]}],
             "prices": {"input": 8}},
            {"name": "Flex", "isDefault": false, "priority": 2,
             "conditions": [{"source": "metadata", "key": "tier",
                             "operator": "in", "values": ["flex"]}],
             "prices": {"input": 1}}
        ]}]"#,
    )
    .unwrap();
    let usage = Usage::default().with("input", 1);
    let mp = AttributeSource::ModelParameters;
    let total = |attrs: PricingAttributes| list.cost_with("a", &usage, || attrs).unwrap().total();
    assert!(close(total(PricingAttributes::new()), 4.0));
    assert!(close(
        total(PricingAttributes::new().with(mp, "service_tier", "priority")),
        8.0
    ));
    // Compared exactly: another case is another value.
    assert!(close(
        total(PricingAttributes::new().with(mp, "service_tier", "Fast")),
        4.0
    ));
    // The key is read from its own source only.
    assert!(close(
        total(PricingAttributes::new().with(AttributeSource::Metadata, "service_tier", "fast")),
        4.0
    ));
    assert!(close(
        total(PricingAttributes::new().with(AttributeSource::Metadata, "tier", "flex")),
        1.0
    ));
    assert!(list.find("a").unwrap().reads_attributes());
}

#[test]
fn an_entry_of_an_unknown_kind_is_left_out_alone() {
    let list = PriceList::from_json(
        r#"[{"modelName": "odd", "matchPattern": "^odd$", "pricingTiers": [
            {"isDefault": false, "priority": 1,
             "conditions": [{"source": "somewhere", "key": "k", "operator": "in", "values": []}],
             "prices": {"input": 1}}]},
            {"modelName": "fine", "matchPattern": "^fine$", "prices": {"input": 1}}]"#,
    )
    .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list.models()[0].name(), "fine");
}
