//! A widget's second SQL, over the store's hourly roll-up of traces (`trace_hours`), and
//! when the filter lets it run.
//!
//! Why: a widget over the traces reads every trace of its range (100,000 in the bench's
//! 30 days, 50-300 ms of CPU each); the roll-up holds one row per hour and (environment,
//! name, release, version), so a widget that only counts and adds up reads a few rows per
//! hour. It answers only what those columns can: the filter bar's range, environment and
//! name, a breakdown by name, environment, release or version (and a comparison along it),
//! and buckets of an hour or more. Tags, a user, a metadata filter or another breakdown
//! need each trace, and the widget runs its SQL over the traces.
//!
//! The edges are exact: the range's whole hours come from the roll-up, and the part of an
//! hour at either end (a range ending now starts within an hour) from the traces
//! themselves, one row per trace in the same columns (`UNION ALL`). A range inside one
//! hour reads only traces.

use super::filter::{Breakdown, Filter};
use super::range::{iso, now_seconds, Bucket, TimeRange};

/// A kept roll-up and the same columns computed from one trace, for the range's cut hours.
struct Source {
    table: &'static str,
    columns: &'static str,
    per_trace: &'static str,
}

/// `{{hours}}`: counts and sums per hour and row key.
const HOURS: Source = Source {
    table: "trace_hours",
    columns: "hour_start, environment, name, release, version, traces, cost, computed_cost, \
              latency_sum",
    per_trace: "date_trunc('hour', timestamp) AS hour_start, environment, name, release, \
                version, 1 AS traces, calculated_total_cost AS cost, computed_cost, \
                latency_ms AS latency_sum",
};

/// `{{latencies}}`: traces per hour, row key and latency bucket (the store's
/// `trace_hour_latencies`: the latency in whole microseconds with all digits but the first
/// two zeroed; the cast to `bigint` rounds on both stores, as their triggers do).
const LATENCIES: Source = Source {
    table: "trace_hour_latencies",
    columns: "hour_start, environment, name, release, version, latency_floor_us, traces",
    per_trace: "date_trunc('hour', timestamp) AS hour_start, environment, name, release, \
                version, CASE WHEN CAST(GREATEST(latency_ms, 0) * 1000 AS bigint) < 100 \
                THEN CAST(GREATEST(latency_ms, 0) * 1000 AS bigint) \
                ELSE CAST(substr(CAST(CAST(GREATEST(latency_ms, 0) * 1000 AS bigint) AS text), 1, 2) \
                || substr('000000000000000000', 1, \
                length(CAST(CAST(GREATEST(latency_ms, 0) * 1000 AS bigint) AS text)) - 2) AS bigint) \
                END AS latency_floor_us, 1 AS traces",
};

impl Filter {
    /// Whether a widget's roll-up SQL answers under this filter as its SQL over the traces
    /// would: no tags, user or metadata filter, a breakdown (if any) by name, environment,
    /// release or version, and (when the widget has a time series, `bucketed`) buckets of
    /// an hour or more.
    ///
    /// ```
    /// use observe_cli::dashboard::{Breakdown, Bucket, Filter};
    /// let mut filter = Filter { bucket: Bucket::Day, ..Filter::default() };
    /// assert!(filter.rollup_applies(true));
    /// filter.breakdown = Some(Breakdown::Release);
    /// assert!(filter.rollup_applies(true));
    /// filter.bucket = Bucket::Minute;
    /// assert!(!filter.rollup_applies(true));
    /// assert!(filter.rollup_applies(false));
    /// filter.breakdown = Some(Breakdown::User);
    /// assert!(!filter.rollup_applies(false));
    /// ```
    pub fn rollup_applies(&self, bucketed: bool) -> bool {
        let breakdown_kept = matches!(
            self.breakdown,
            None | Some(
                Breakdown::Name | Breakdown::Environment | Breakdown::Release | Breakdown::Version
            )
        );
        self.tags.is_empty()
            && self.exclude_tags.is_empty()
            && self.user.is_none()
            && self.metadata.is_none()
            && breakdown_kept
            && (!bucketed || self.bucket >= Bucket::Hour)
    }

    /// A widget's roll-up SQL with its placeholders filled, at the present time:
    /// `{{hours}}` with the range's rows (named `traces`, the columns of `trace_hours`),
    /// `{{latencies}}` with its latency buckets (the columns of `trace_hour_latencies`),
    /// `{{filter}}` with the filter's condition on those rows (environment, name and a
    /// comparison), and `{{breakdown}}` and `{{bucket}}` as [`Filter::render`] fills them.
    /// Only meaningful where [`Filter::rollup_applies`].
    ///
    /// ```
    /// use observe_cli::dashboard::{Filter, TimeRange};
    /// let range = TimeRange::parse("custom", Some("2026-12-01T10:30"), Some("2026-12-01T13:00"))
    ///     .unwrap();
    /// let filter = Filter { range, environment: Some("prod".into()), ..Filter::default() };
    /// let sql = filter.render_rollup("SELECT SUM(traces.traces) FROM {{hours}} WHERE {{filter}}");
    /// assert!(sql.contains("hour_start >= '2026-12-01T11:00:00Z'::timestamptz"), "{sql}");
    /// assert!(sql.contains("timestamp < '2026-12-01T11:00:00Z'::timestamptz"), "{sql}");
    /// assert!(sql.ends_with("WHERE (traces.environment = 'prod')"), "{sql}");
    /// assert!(observe_store::sql::translate(&sql).is_ok());
    /// ```
    pub fn render_rollup(&self, sql: &str) -> String {
        self.render_rollup_at(sql, now_seconds())
    }

    fn render_rollup_at(&self, sql: &str, now: i64) -> String {
        let rows = self.row_conditions();
        let condition = if rows.is_empty() {
            "TRUE".to_owned()
        } else {
            rows.join(" AND ")
        };
        self.fill(sql, &condition)
            .replace("{{hours}}", &source_rows(&HOURS, &self.range, now))
            .replace("{{latencies}}", &source_rows(&LATENCIES, &self.range, now))
    }
}

/// The derived table of `source`'s rows over `range`: whole hours from the roll-up, the
/// hours cut by an end from `traces`. A range ending now starts where SQL's `NOW()` says, as
/// the widget's SQL over the traces does; its first whole hour is the one after the second
/// `now` falls in, so that the cut part always reaches it.
fn source_rows(source: &Source, range: &TimeRange, now: i64) -> String {
    const HOUR: i64 = 3_600;
    let (from, to) = range.bounds(now);
    let relative = !matches!(range, TimeRange::Custom { .. });
    let first_whole = from.map(|f| {
        let floor = f.div_euclid(HOUR) * HOUR;
        if floor == f && !relative {
            f
        } else {
            floor + HOUR
        }
    });
    let end_whole = to.map(|t| t.div_euclid(HOUR) * HOUR);
    let at = |column: &str, op: &str, seconds: i64| {
        format!("{column} {op} '{}'::timestamptz", iso(seconds))
    };
    let start = |f: i64| {
        if relative {
            range.condition("timestamp")
        } else {
            at("timestamp", ">=", f)
        }
    };
    let Source {
        table,
        columns,
        per_trace,
    } = source;
    if let (Some(a), Some(b)) = (first_whole, end_whole) {
        if a >= b {
            // No whole hour inside: every row is a trace.
            let mut range = Vec::new();
            range.extend(from.map(start));
            range.extend(to.map(|t| at("timestamp", "<", t)));
            return format!(
                "(SELECT {per_trace} FROM traces WHERE {}) AS traces",
                range.join(" AND ")
            );
        }
    }
    let mut whole = Vec::new();
    whole.extend(first_whole.map(|a| at("hour_start", ">=", a)));
    whole.extend(end_whole.map(|b| at("hour_start", "<", b)));
    let whole = if whole.is_empty() {
        "TRUE".to_owned()
    } else {
        whole.join(" AND ")
    };
    let mut edges = Vec::new();
    if let (Some(f), Some(a)) = (from, first_whole) {
        if f < a {
            edges.push(format!("({} AND {})", start(f), at("timestamp", "<", a)));
        }
    }
    if let (Some(t), Some(b)) = (to, end_whole) {
        if b < t {
            edges.push(format!(
                "({} AND {})",
                at("timestamp", ">=", b),
                at("timestamp", "<", t)
            ));
        }
    }
    let mut sql = format!("(SELECT {columns} FROM {table} WHERE {whole}");
    if !edges.is_empty() {
        sql.push_str(&format!(
            " UNION ALL SELECT {per_trace} FROM traces WHERE {}",
            edges.join(" OR ")
        ));
    }
    sql.push_str(") AS traces");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_ending_now_takes_its_first_part_hour_from_the_traces() {
        let now = 1_767_225_600 + 5 * 3_600 + 120;
        let sql = source_rows(&HOURS, &TimeRange::LastHour, now);
        // 04:02 to now: 05:00 on from the roll-up (the hour now is in is whole there, as
        // far as it has come), from `NOW()` an hour ago to 05:00 from the traces.
        assert!(
            sql.contains("FROM trace_hours WHERE hour_start >= '2026-01-01T05:00:00Z'"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "(timestamp >= NOW() - INTERVAL '1 hour' \
                 AND timestamp < '2026-01-01T05:00:00Z'::timestamptz)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn whole_hours_need_no_traces_and_a_part_hour_needs_no_roll_up() {
        let custom = |from, to| TimeRange::Custom { from, to };
        let whole = source_rows(&HOURS, &custom(Some(3_600), Some(3 * 3_600)), 0);
        assert!(!whole.contains("FROM traces"), "{whole}");
        assert!(!source_rows(&LATENCIES, &custom(None, None), 0).contains("FROM traces"));
        let inside = source_rows(&LATENCIES, &custom(Some(3_700), Some(3_800)), 0);
        assert!(!inside.contains("trace_hours"), "{inside}");
        assert!(
            inside.contains("timestamp >= '1970-01-01T01:01:40Z'"),
            "{inside}"
        );
    }

    #[test]
    fn the_filter_on_roll_up_rows_keeps_environment_name_and_the_comparison() {
        let filter = Filter {
            range: TimeRange::Custom {
                from: None,
                to: None,
            },
            environment: Some("prod".into()),
            name: Some("chat".into()),
            breakdown: Some(Breakdown::Release),
            compare: vec!["1".into(), "2".into()],
            ..Filter::default()
        };
        let sql =
            filter.render_rollup_at("SELECT {{breakdown}} FROM {{hours}} WHERE {{filter}}", 0);
        assert!(
            sql.ends_with(
                "WHERE (traces.environment = 'prod' AND traces.name = 'chat' \
                 AND traces.release IN ('1', '2'))"
            ),
            "{sql}"
        );
        assert!(
            sql.starts_with("SELECT traces.release FROM (SELECT"),
            "{sql}"
        );
        assert!(observe_store::sql::translate(&sql).is_ok(), "{sql}");
    }
}
