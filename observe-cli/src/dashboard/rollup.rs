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
use super::range::{iso, now_seconds, Bucket};

/// The columns of a roll-up row, as `{{hours}}` yields them from either source.
const COLUMNS: &str = "hour_start, environment, name, release, version, traces, cost, \
                       computed_cost, latency_sum";

/// The same columns for one trace.
const TRACE_COLUMNS: &str = "date_trunc('hour', timestamp) AS hour_start, environment, name, \
     release, version, 1 AS traces, calculated_total_cost AS cost, computed_cost, \
     latency_ms AS latency_sum";

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
            .replace("{{hours}}", &hours(self.range.bounds(now)))
    }
}

/// The derived table of the rows in `[from, to)`: whole hours from `trace_hours`, the
/// hours cut by an edge from `traces`.
fn hours((from, to): (Option<i64>, Option<i64>)) -> String {
    const HOUR: i64 = 3_600;
    let first_whole =
        from.map(|f| f.div_euclid(HOUR) * HOUR + if f % HOUR == 0 { 0 } else { HOUR });
    let end_whole = to.map(|t| t.div_euclid(HOUR) * HOUR);
    let at = |column: &str, op: &str, seconds: i64| {
        format!("{column} {op} '{}'::timestamptz", iso(seconds))
    };
    if let (Some(a), Some(b)) = (first_whole, end_whole) {
        if a >= b {
            // No whole hour inside: every row is a trace.
            let mut range = Vec::new();
            range.extend(from.map(|f| at("timestamp", ">=", f)));
            range.extend(to.map(|t| at("timestamp", "<", t)));
            return format!(
                "(SELECT {TRACE_COLUMNS} FROM traces WHERE {}) AS traces",
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
            edges.push(format!(
                "({} AND {})",
                at("timestamp", ">=", f),
                at("timestamp", "<", a)
            ));
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
    let mut sql = format!("(SELECT {COLUMNS} FROM trace_hours WHERE {whole}");
    if !edges.is_empty() {
        sql.push_str(&format!(
            " UNION ALL SELECT {TRACE_COLUMNS} FROM traces WHERE {}",
            edges.join(" OR ")
        ));
    }
    sql.push_str(") AS traces");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::TimeRange;

    #[test]
    fn a_range_ending_now_takes_its_first_part_hour_from_the_traces() {
        let now = 1_767_225_600 + 5 * 3_600 + 120;
        let sql = hours(TimeRange::LastHour.bounds(now));
        // 04:02 to now: 05:00 on from the roll-up (the hour now is in is whole there, as
        // far as it has come), 04:02 to 05:00 from the traces.
        assert!(
            sql.contains("FROM trace_hours WHERE hour_start >= '2026-01-01T05:00:00Z'"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "(timestamp >= '2026-01-01T04:02:00Z'::timestamptz \
                 AND timestamp < '2026-01-01T05:00:00Z'::timestamptz)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn whole_hours_need_no_traces_and_a_part_hour_needs_no_roll_up() {
        let whole = hours((Some(3_600), Some(3 * 3_600)));
        assert!(!whole.contains("FROM traces"), "{whole}");
        assert!(!hours((None, None)).contains("FROM traces"));
        let inside = hours((Some(3_700), Some(3_800)));
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
