//! The Dashboard page's endpoints: the dashboard's widgets, and one widget run under the
//! filter bar's filter with the Query page's guard and limits ([`query::run`]), drawn as
//! SVG. A widget whose SQL fails answers its error in place of rows; the others are
//! separate requests and run regardless.

use observe_store::sql::{value_to_json, SqlError, Value as SqlValue};
use observe_store::Reader;
use serde_json::{json, Value};

use super::query::{self, QueryLimits};
use crate::dashboard::{chart_svg, Breakdown, Dashboard, Filter, TimeRange, Widget};

/// Tags a breakdown by tag shows at most.
const TOP_TAGS: usize = 8;

/// A request's filter that could not be read (a 400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct BadFilter(String);

/// The filter bar's parameters: `range` (`1h`, `24h`, `7d` (default), `30d`, `custom` with
/// `from`, `to`), `bucket`, `tag` and `exclude_tag` (repeated), `environment`, `user`,
/// `name`, `meta_key` with `meta_value`, `breakdown` (with `breakdown_key` for metadata),
/// `compare` (repeated: the breakdown's values kept).
pub(super) fn filter_from(query: &str) -> Result<Filter, BadFilter> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .map(|(k, v)| (k, v.trim().to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let one = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let all = |key: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let bad = |e: &dyn std::fmt::Display| BadFilter(e.to_string());
    let range = TimeRange::parse(
        one("range").as_deref().unwrap_or("7d"),
        one("from").as_deref(),
        one("to").as_deref(),
    )
    .map_err(|e| bad(&e))?;
    let bucket = match one("bucket") {
        Some(b) => b.parse().map_err(|e| bad(&e))?,
        None => range.bucket(),
    };
    let breakdown = one("breakdown")
        .map(|b| Breakdown::parse(&b, one("breakdown_key").as_deref()))
        .transpose()
        .map_err(|e| bad(&e))?;
    let metadata = match (one("meta_key"), one("meta_value")) {
        (Some(k), Some(v)) => Some((k, v)),
        (None, None) => None,
        _ => {
            return Err(BadFilter(
                "a metadata filter needs both `meta_key` and `meta_value`".into(),
            ))
        }
    };
    Ok(Filter {
        range,
        bucket,
        tags: all("tag"),
        exclude_tags: all("exclude_tag"),
        environment: one("environment"),
        user: one("user"),
        name: one("name"),
        metadata,
        breakdown,
        compare: all("compare"),
    })
}

/// The dashboard's title and widgets (without running them) and the filter as read.
pub(super) fn outline(dashboard: &Dashboard, filter: &Filter) -> Value {
    let widgets: Vec<Value> = dashboard
        .widgets
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"index": i, "title": w.title, "chart": w.chart.as_str()}))
        .collect();
    json!({
        "title": dashboard.title,
        "widgets": widgets,
        "range": filter.range.name(),
        "bucket": filter.bucket.unit(),
        "condition": filter.condition(),
    })
}

/// Runs widget `index` under `filter`; `None` when there is no such widget. A widget
/// whose SQL fails answers `{error, sql, ...}` (without `sql` when the breakdown's tags
/// could not be read).
pub(super) fn run_widget(
    store: &mut Reader,
    dashboard: &Dashboard,
    index: usize,
    filter: &Filter,
    limits: QueryLimits,
) -> Option<Value> {
    let widget = dashboard.widgets.get(index)?;
    let started = std::time::Instant::now();
    let mut answer = json!({
        "index": index,
        "title": widget.title,
        "chart": widget.chart.as_str(),
        "x": widget.x,
        "y": widget.y(),
        "series": widget.series,
    });
    let ran = with_top_tags(store, filter, limits).and_then(|filter| {
        let sql = widget_sql(store, widget, &filter);
        answer["sql"] = sql.as_str().into();
        query::run(store, &sql, limits)
    });
    match ran {
        Ok(result) => {
            let rows: Vec<Value> = result
                .rows
                .iter()
                .map(|row| Value::Array(row.iter().map(value_to_json).collect()))
                .collect();
            answer["svg"] = chart_svg(widget, &result.columns, &result.rows).into();
            answer["columns"] = result.columns.into();
            answer["rows"] = rows.into();
            answer["truncated"] = result.truncated.into();
        }
        Err(e) => answer["error"] = e.to_string().into(),
    }
    answer["elapsed_ms"] = (started.elapsed().as_secs_f64() * 1000.0).into();
    Some(answer)
}

/// The SQL widget runs under `filter`: its roll-up SQL where the store keeps the roll-up
/// and the filter lets it answer, else its SQL over the traces.
fn widget_sql(store: &Reader, widget: &Widget, filter: &Filter) -> String {
    match &widget.rollup_sql {
        Some(rollup)
            if store.has_trace_hours()
                && filter.rollup_applies(widget.sql.contains("{{bucket}}")) =>
        {
            filter.render_rollup(rollup)
        }
        _ => filter.render(&widget.sql),
    }
}

/// A breakdown by tag splits by the range's most used tags: they are found first, under
/// the same filter.
fn with_top_tags(
    store: &mut Reader,
    filter: &Filter,
    limits: QueryLimits,
) -> Result<Filter, SqlError> {
    let mut filter = filter.clone();
    if filter.breakdown != Some(Breakdown::Tag(Vec::new())) {
        return Ok(filter);
    }
    let unsplit = Filter {
        breakdown: None,
        ..filter.clone()
    };
    let sql = unsplit.render(
        "SELECT tags::jsonb AS tags, COUNT(*) AS traces FROM traces WHERE {{filter}} \
         GROUP BY 1 ORDER BY 2 DESC",
    );
    let mut counts: std::collections::HashMap<String, i64> = Default::default();
    for row in query::run(store, &sql, limits)?.rows {
        let [SqlValue::Text(tags), SqlValue::Integer(n)] = row.as_slice() else {
            continue;
        };
        // `tags::jsonb` is a JSON array of strings.
        let tags: Vec<String> = serde_json::from_str(tags).unwrap_or_default();
        for tag in tags {
            *counts.entry(tag).or_default() += n;
        }
    }
    let mut top: Vec<(String, i64)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    filter.breakdown = Some(Breakdown::Tag(
        top.into_iter().take(TOP_TAGS).map(|t| t.0).collect(),
    ));
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_bar_reads_repeated_tags_and_a_comparison() {
        let f = filter_from(
            "range=24h&tag=a&tag=b%20c&exclude_tag=x&environment=prod&breakdown=environment\
             &compare=production&compare=staging&user=&meta_key=k&meta_value=v",
        )
        .unwrap();
        assert_eq!(f.range, TimeRange::LastDay);
        assert_eq!(f.tags, ["a", "b c"]);
        assert_eq!(f.exclude_tags, ["x"]);
        assert_eq!(f.environment.as_deref(), Some("prod"));
        // An empty parameter is no filter.
        assert_eq!(f.user, None);
        assert_eq!(f.metadata, Some(("k".into(), "v".into())));
        assert_eq!(f.compare, ["production", "staging"]);
        assert_eq!(filter_from("").unwrap(), Filter::default());
        for bad in [
            "range=2w",
            "bucket=year",
            "breakdown=metadata",
            "meta_key=k",
            "range=custom&from=x",
        ] {
            assert!(filter_from(bad).is_err(), "{bad}");
        }
    }
}
