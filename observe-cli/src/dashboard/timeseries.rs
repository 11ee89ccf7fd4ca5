//! `observe report --timeseries`: the dashboard's figures per bucket, for a terminal.

use super::filter::Filter;

/// The time series' PostgreSQL under `filter`: per bucket, traces, sessions, users, cost
/// (and its computed part), p95 trace latency, and traces with an error.
///
/// ```
/// use observe_cli::dashboard::{timeseries, Filter, TimeRange};
/// let filter = Filter { range: TimeRange::LastDay, bucket: TimeRange::LastDay.bucket(), ..Filter::default() };
/// let sql = timeseries::sql(&filter);
/// assert!(sql.starts_with("SELECT date_trunc('hour', traces.timestamp) AS bucket"));
/// assert!(observe_store::sql::translate(&sql).is_ok());
/// ```
pub fn sql(filter: &Filter) -> String {
    filter.render(
        "\
SELECT date_trunc('{{bucket}}', traces.timestamp) AS bucket,
       COUNT(*) AS traces,
       COUNT(DISTINCT traces.session_id) AS sessions,
       COUNT(DISTINCT traces.user_id) AS users,
       SUM(traces.calculated_total_cost) AS total_cost,
       SUM(traces.computed_cost) AS computed_cost,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY traces.latency_ms) AS p95_latency_ms,
       SUM(CASE WHEN EXISTS (SELECT 1 FROM observations o
                             WHERE o.trace_seq = traces.seq AND o.level = 'ERROR')
                THEN 1 ELSE 0 END) AS errors
FROM traces
WHERE {{filter}}
GROUP BY 1
ORDER BY 1",
    )
}

/// A bar of `value` against `max`, at most `width` characters, in eighths of a block.
///
/// ```
/// use observe_cli::dashboard::timeseries::bar;
/// assert_eq!(bar(10.0, 10.0, 4), "████");
/// assert_eq!(bar(5.0, 10.0, 4), "██");
/// assert_eq!(bar(1.0, 10.0, 4), "▍");
/// assert_eq!(bar(0.0, 10.0, 4), "");
/// assert_eq!(bar(3.0, 0.0, 4), "");
/// assert_eq!(bar(f64::NAN, 10.0, 4), "");
/// ```
pub fn bar(value: f64, max: f64, width: usize) -> String {
    // NaN is no bar either.
    if max.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        || value.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return String::new();
    }
    let eighths = ((value / max).min(1.0) * width as f64 * 8.0).round() as usize;
    let eighths = eighths.max(1);
    let mut out = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        out.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
    }
    out
}
