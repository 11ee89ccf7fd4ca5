//! The usage counts a price list reads: the counts given, and `total` when none was given.

use observe_model::model::Usage;

/// The counts of `usage`, with `total` (the sum of the others) added when it has counts but
/// no `total`: Langfuse's server adds that total before it chooses a tier and prices the
/// usage, so a model priced by `total` (embeddings) is priced from `input` alone too.
pub(crate) fn counts(usage: &Usage) -> impl Iterator<Item = (&str, u64)> {
    let given = usage.0.iter().map(|(k, v)| (k.as_str(), *v));
    let added_total = (!usage.0.is_empty() && !usage.0.contains_key("total")).then(|| {
        (
            "total",
            usage.0.values().copied().fold(0u64, u64::saturating_add),
        )
    });
    given.chain(added_total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_is_added_only_when_missing() {
        let given = Usage::default().with("input", 3).with("output", 4);
        let all: Vec<_> = counts(&given).collect();
        assert_eq!(all, [("input", 3), ("output", 4), ("total", 7)]);
        let with_total = given.with("total", 5);
        assert_eq!(
            counts(&with_total).filter(|(k, _)| *k == "total").count(),
            1
        );
        assert_eq!(counts(&with_total).last(), Some(("total", 5)));
        assert_eq!(counts(&Usage::default()).count(), 0);
    }
}
