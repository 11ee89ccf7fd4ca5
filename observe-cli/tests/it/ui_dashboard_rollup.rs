//! Each default widget that has a roll-up SQL answers from the hourly roll-up
//! (`trace_hours`) what its SQL over the traces answers, on a real store file, under every
//! filter the roll-up serves: ranges ending now (their first hour cut), custom ranges cut
//! at both ends or inside one hour, open ranges, environment and name filters, breakdowns
//! by environment, release, name and version, a comparison, and hourly, daily and weekly
//! buckets. Percentiles from the latency buckets are checked against their definition
//! worked out here from each trace's latency: the lower end of the bucket (two significant
//! digits of whole microseconds) of the trace at rank floor(q * (n - 1)), never above
//! `percentile_cont`'s value by more than the half microsecond the rounding adds.

use observe_cli::dashboard::{Breakdown, Bucket, Dashboard, Filter, TimeRange};
use observe_store::sql::{self, Table, Value};
use observe_store::Store;

use crate::ui_dashboard::write_dashboard_store;

/// A value as compared: numbers as `f64` (a count may come back as an integer from one
/// form and as a real from the other), text and NULL as they are.
#[derive(Debug, PartialEq, PartialOrd)]
enum Cell {
    Null,
    Number(f64),
    Text(String),
}

fn cells(table: &Table) -> Vec<Vec<Cell>> {
    let mut rows: Vec<Vec<Cell>> = table
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    Value::Null => Cell::Null,
                    Value::Integer(i) => Cell::Number(*i as f64),
                    Value::Real(r) => Cell::Number(*r),
                    Value::Text(t) => Cell::Text(t.clone()),
                    Value::Blob(b) => Cell::Text(format!("{b:?}")),
                })
                .collect()
        })
        .collect();
    // Rows in one bucket may come in either order.
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows
}

fn same(a: &[Vec<Cell>], b: &[Vec<Cell>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|pair| match pair {
                    (Cell::Number(p), Cell::Number(q)) => {
                        (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0)
                    }
                    (p, q) => p == q,
                })
        })
}

fn seconds_ago(seconds: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now - seconds
}

/// A latency's bucket: whole microseconds (rounded), all digits but the first two zeroed.
fn floor_us(latency_ms: f64) -> i64 {
    let us = (latency_ms.max(0.0) * 1000.0).round() as i64;
    if us < 100 {
        return us;
    }
    let digits = us.to_string().len() as u32;
    let unit = 10_i64.pow(digits - 2);
    us / unit * unit
}

/// Checks a percentile widget's roll-up rows (`time, p50, p90, p95, p99`) against the traces'
/// latencies per bucket; returns the rows compared.
fn check_percentiles(store: &Store, filter: &Filter, raw: &Table, rolled: &Table) -> usize {
    let sql = filter.render(
        "SELECT date_trunc('{{bucket}}', timestamp) AS time, latency_ms FROM traces \
         WHERE {{filter}}",
    );
    let mut per_time: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for row in sql::query(store, &sql).unwrap().rows {
        let (Value::Text(time), Value::Real(ms)) = (&row[0], &row[1]) else {
            panic!("{row:?}");
        };
        per_time.entry(time.clone()).or_default().push(*ms);
    }
    assert_eq!(rolled.rows.len(), per_time.len(), "{sql}");
    assert_eq!(raw.rows.len(), per_time.len());
    for (got, exact) in rolled.rows.iter().zip(&raw.rows) {
        let Value::Text(time) = &got[0] else {
            panic!("{got:?}")
        };
        let mut latencies = per_time[time].clone();
        latencies.sort_by(f64::total_cmp);
        for (i, q) in [0.5, 0.9, 0.95, 0.99].into_iter().enumerate() {
            let rank = (q * (latencies.len() - 1) as f64).floor() as usize;
            let want = floor_us(latencies[rank]) as f64 / 1000.0;
            let Value::Real(value) = got[i + 1] else {
                panic!("{got:?}")
            };
            assert!(
                (value - want).abs() < 1e-9,
                "{time} p{q}: {value} vs {want}"
            );
            let Value::Real(cont) = exact[i + 1] else {
                panic!("{exact:?}")
            };
            // Whole microseconds are rounded: at most half of one above.
            assert!(
                value <= cont + 0.0005 + 1e-9,
                "{time} p{q}: {value} above {cont}"
            );
        }
    }
    per_time.len()
}

#[test]
fn roll_up_widgets_answer_what_their_sql_over_the_traces_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    write_dashboard_store(&path);
    let store = Store::open(&path).unwrap();
    let dashboard = Dashboard::builtin();
    let with_rollup: Vec<_> = dashboard
        .widgets
        .iter()
        .filter(|w| w.rollup_sql.is_some())
        .collect();
    assert!(with_rollup.len() >= 7, "{}", with_rollup.len());

    let custom = |from: Option<i64>, to: Option<i64>| TimeRange::Custom { from, to };
    let ranges = [
        TimeRange::LastHour,
        TimeRange::LastDay,
        TimeRange::Last7Days,
        TimeRange::Last30Days,
        // Cut at both ends, 17 minutes into an hour and 20 minutes before now.
        custom(
            Some(seconds_ago(3 * 86_400 + 17 * 60)),
            Some(seconds_ago(20 * 60)),
        ),
        // Inside one hour, and open at either end or both.
        custom(Some(seconds_ago(50 * 60)), Some(seconds_ago(49 * 60))),
        custom(None, Some(seconds_ago(2 * 86_400 + 7 * 60))),
        custom(Some(seconds_ago(9 * 86_400 + 33 * 60)), None),
        custom(None, None),
    ];
    let mut filters = Vec::new();
    for range in ranges {
        for bucket in [Bucket::Hour, Bucket::Day, Bucket::Week] {
            filters.push(Filter {
                range: range.clone(),
                bucket,
                ..Filter::default()
            });
        }
        filters.push(Filter {
            range: range.clone(),
            bucket: Bucket::Day,
            environment: Some("staging".into()),
            ..Filter::default()
        });
        filters.push(Filter {
            range: range.clone(),
            bucket: Bucket::Hour,
            name: Some("answer".into()),
            breakdown: Some(Breakdown::Environment),
            ..Filter::default()
        });
        for breakdown in [Breakdown::Release, Breakdown::Name, Breakdown::Version] {
            filters.push(Filter {
                range: range.clone(),
                bucket: Bucket::Day,
                breakdown: Some(breakdown),
                ..Filter::default()
            });
        }
        filters.push(Filter {
            range: range.clone(),
            bucket: Bucket::Hour,
            breakdown: Some(Breakdown::Release),
            compare: vec!["v1".into(), "v2".into()],
            ..Filter::default()
        });
    }

    let mut compared_rows = 0;
    for filter in &filters {
        assert!(filter.rollup_applies(true), "{filter:?}");
        for widget in &with_rollup {
            let raw_sql = filter.render(&widget.sql);
            let rollup_sql = filter.render_rollup(widget.rollup_sql.as_deref().unwrap());
            let raw = sql::query(&store, &raw_sql).unwrap_or_else(|e| panic!("{e}: {raw_sql}"));
            let rolled =
                sql::query(&store, &rollup_sql).unwrap_or_else(|e| panic!("{e}: {rollup_sql}"));
            assert_eq!(rolled.columns, raw.columns, "{}", widget.title);
            if raw.columns.iter().any(|c| c == "p50") {
                compared_rows += check_percentiles(&store, filter, &raw, &rolled);
                continue;
            }
            let (want, got) = (cells(&raw), cells(&rolled));
            assert!(
                same(&got, &want),
                "{}\n{filter:?}\nraw {want:?}\nroll-up {got:?}\n{rollup_sql}",
                widget.title
            );
            compared_rows += want.len();
        }
    }
    // The store's traces are in the ranges above: the comparison saw rows, not only empty
    // answers.
    assert!(compared_rows > 500, "{compared_rows}");

    // Filters the roll-up cannot answer run the SQL over the traces.
    for filter in [
        Filter {
            tags: vec!["beta".into()],
            ..Filter::default()
        },
        Filter {
            user: Some("alice".into()),
            ..Filter::default()
        },
        Filter {
            breakdown: Some(Breakdown::Model),
            ..Filter::default()
        },
        Filter {
            bucket: Bucket::Minute,
            ..Filter::default()
        },
    ] {
        assert!(!filter.rollup_applies(true), "{filter:?}");
    }
}
