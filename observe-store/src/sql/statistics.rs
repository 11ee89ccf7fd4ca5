//! PostgreSQL's statistical aggregates SQLite lacks, under their PostgreSQL names:
//! `stddev`/`stddev_samp`, `stddev_pop`, `variance`/`var_samp` and `var_pop`, computed in
//! one pass (Welford's method) and NULL where PostgreSQL gives NULL (no rows, or one row
//! for the sample forms).

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::Connection;

/// Which statistic an aggregate gives.
#[derive(Clone, Copy)]
struct Spread {
    /// Divide by n - 1 (sample) rather than n (population).
    sample: bool,
    /// The square root of the variance.
    root: bool,
}

/// The running count, mean and sum of squared differences from it.
#[derive(Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Aggregate<Moments, Option<f64>> for Spread {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Moments> {
        Ok(Moments::default())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Moments) -> rusqlite::Result<()> {
        if let Some(x) = ctx.get::<Option<f64>>(0)? {
            acc.n += 1.0;
            let delta = x - acc.mean;
            acc.mean += delta / acc.n;
            acc.m2 += delta * (x - acc.mean);
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<Moments>) -> rusqlite::Result<Option<f64>> {
        let Some(m) = acc else { return Ok(None) };
        let divisor = if self.sample { m.n - 1.0 } else { m.n };
        if divisor < 1.0 {
            return Ok(None);
        }
        let variance = (m.m2 / divisor).max(0.0);
        Ok(Some(if self.root { variance.sqrt() } else { variance }))
    }
}

/// Registers the aggregates on `conn`.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let kinds = [
        ("stddev", true, true),
        ("stddev_samp", true, true),
        ("stddev_pop", false, true),
        ("variance", true, false),
        ("var_samp", true, false),
        ("var_pop", false, false),
    ];
    for (name, sample, root) in kinds {
        conn.create_aggregate_function(name, 1, flags, Spread { sample, root })?;
    }
    Ok(())
}
