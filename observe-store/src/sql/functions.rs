//! The SQL functions translated queries call, registered on each connection: SQLite has
//! no arrays and no ordered-set aggregates, so observe supplies them.

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

use super::table::value_to_json;

/// Registers the functions translated queries call: `observe_array_contains(json_array,
/// value)`, `observe_like(text, pattern, escape, case_insensitive)`, the aggregates `observe_percentile_cont(x, p)` and
/// `observe_percentile_disc(x, p)`, `observe_greatest` and `observe_least`, the statistical
/// aggregates of `statistics`, and the printing and time functions of `pg_text`.
pub(crate) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("observe_array_contains", 2, flags, |ctx| {
        let array: Option<String> = ctx.get(0)?;
        let needle = ctx.get::<SqlValue>(1)?;
        let Some(Ok(serde_json::Value::Array(items))) = array
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
        else {
            return Ok(false);
        };
        let needle = value_to_json(&needle);
        Ok(items.iter().any(|item| item == &needle))
    })?;
    conn.create_aggregate_function(
        "observe_percentile_cont",
        2,
        flags,
        Percentile { discrete: false },
    )?;
    conn.create_aggregate_function(
        "observe_percentile_disc",
        2,
        flags,
        Percentile { discrete: true },
    )?;
    conn.create_scalar_function("observe_like", 4, flags, |ctx| {
        let (text, pattern) = (ctx.get::<Option<String>>(0)?, ctx.get::<Option<String>>(1)?);
        let escape = ctx.get::<Option<String>>(2)?;
        let insensitive = ctx.get::<bool>(3)?;
        Ok(match (text, pattern, escape) {
            (Some(t), Some(p), Some(e)) => {
                Some(super::like::like(&t, &p, e.chars().next(), insensitive))
            }
            _ => None,
        })
    })?;
    // PostgreSQL's GREATEST and LEAST skip NULLs; SQLite's max and min return NULL.
    for (name, greatest) in [("observe_greatest", true), ("observe_least", false)] {
        conn.create_scalar_function(name, -1, flags, move |ctx| {
            let mut best: Option<SqlValue> = None;
            for i in 0..ctx.len() {
                let v = ctx.get::<SqlValue>(i)?;
                if v == SqlValue::Null {
                    continue;
                }
                let better = best
                    .as_ref()
                    .is_none_or(|b| (compare(&v, b) == std::cmp::Ordering::Greater) == greatest);
                if better {
                    best = Some(v);
                }
            }
            Ok(best.unwrap_or(SqlValue::Null))
        })?;
    }
    super::statistics::register(conn)?;
    super::pg_text::register(conn)
}

/// SQLite's order of two values: numbers by value, below text, text by its bytes.
fn compare(a: &SqlValue, b: &SqlValue) -> std::cmp::Ordering {
    let number = |v: &SqlValue| match v {
        SqlValue::Integer(i) => Some(*i as f64),
        SqlValue::Real(x) => Some(*x),
        _ => None,
    };
    match (number(a), number(b), a, b) {
        (Some(x), Some(y), _, _) => x.total_cmp(&y),
        (Some(_), None, _, _) => std::cmp::Ordering::Less,
        (None, Some(_), _, _) => std::cmp::Ordering::Greater,
        (_, _, SqlValue::Text(x), SqlValue::Text(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

/// `percentile_cont` (linear interpolation) and `percentile_disc` (first value whose
/// cumulative share reaches p), as PostgreSQL defines them.
struct Percentile {
    discrete: bool,
}

impl Aggregate<(Vec<f64>, f64), Option<f64>> for Percentile {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<(Vec<f64>, f64)> {
        Ok((Vec::new(), 0.5))
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut (Vec<f64>, f64)) -> rusqlite::Result<()> {
        if let Some(x) = ctx.get::<Option<f64>>(0)? {
            acc.0.push(x);
        }
        acc.1 = ctx.get::<f64>(1)?;
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<(Vec<f64>, f64)>,
    ) -> rusqlite::Result<Option<f64>> {
        let Some((mut xs, p)) = acc else {
            return Ok(None);
        };
        if xs.is_empty() {
            return Ok(None);
        }
        xs.sort_by(f64::total_cmp);
        let p = p.clamp(0.0, 1.0);
        if self.discrete {
            let i = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1;
            return Ok(Some(xs[i]));
        }
        let rank = p * (xs.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        Ok(Some(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo as f64)))
    }
}
