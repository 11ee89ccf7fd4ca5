//! `observe sessions` and `observe traces`: the most recent first, as tables of rows the
//! store's indexes find.

use anyhow::{bail, Result};
use observe_store::queries::{Since, TimeUnit, TraceFilter};
use observe_store::sql::{RowSink, SqlError};
use observe_store::Reader;

use crate::cli_args::TraceFilters;
use crate::output::{Cells, Output, Rows};

/// `observe sessions`: each session's traces, duration, cost, users and last activity.
pub fn sessions(store: &mut Reader, out: &Output, limit: u32) -> Result<()> {
    listing(
        out,
        "no sessions yet: set a session id with \
         update_current_trace(TraceUpdate::new().session_id(...))\n",
        |sink| store.sessions_list(limit, sink),
    )
}

/// `observe traces`: the traces that pass `f`, with their observations and errors counted.
pub fn traces(store: &mut Reader, out: &Output, f: &TraceFilters, limit: u32) -> Result<()> {
    let filter = trace_filter(f)?;
    listing(out, "no traces match\n", |sink| {
        store.traces_list(&filter, limit, sink)
    })
}

/// Rows observe chose the columns of, shown formatted, or `empty` when there are none.
fn listing(
    out: &Output,
    empty: &str,
    run: impl FnOnce(&mut dyn RowSink) -> Result<(), SqlError>,
) -> Result<()> {
    out.rows(
        &Rows {
            limit: None,
            title: None,
            cells: Cells::Formatted,
            empty: Some(empty),
        },
        run,
    )
}

/// The command line's filters as the store takes them.
fn trace_filter(f: &TraceFilters) -> Result<TraceFilter> {
    Ok(TraceFilter {
        user: f.user.clone(),
        session: f.session.clone(),
        tag: f.tag.clone(),
        name: f.name.clone(),
        level: f.level,
        since: f.since.as_deref().map(parse_since).transpose()?,
    })
}

/// `7d`, `24h`, `30m`, `2w`, `90s` back from now; else a date or date-time SQLite reads.
fn parse_since(since: &str) -> Result<Since> {
    parse_when("--since", since)
}

/// The value of the time option `flag`, as [`parse_since`] reads it.
pub(crate) fn parse_when(flag: &str, since: &str) -> Result<Since> {
    let s = since.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if let Ok(n) = digits.parse::<u64>() {
        let ago = match unit {
            "s" => Since::Ago(n, TimeUnit::Seconds),
            "m" | "min" => Since::Ago(n, TimeUnit::Minutes),
            "h" => Since::Ago(n, TimeUnit::Hours),
            "d" => Since::Ago(n, TimeUnit::Days),
            "w" => Since::Ago(n * 7, TimeUnit::Days),
            _ if unit.is_empty() => bail!("{flag} {since}: add a unit: s, m, h, d or w (e.g. 7d)"),
            _ => {
                if !looks_like_date(s) {
                    bail!("{flag} {since}: expected a duration like 30m, 24h, 7d or a date like 2026-01-31")
                }
                return Ok(Since::Date(s.to_owned()));
            }
        };
        return Ok(ago);
    }
    bail!("{flag} {since}: expected a duration like 30m, 24h, 7d or a date like 2026-01-31")
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_duration_back_or_a_date() {
        assert_eq!(parse_since("2w").unwrap(), Since::Ago(14, TimeUnit::Days));
        assert_eq!(
            parse_since(" 30min").unwrap(),
            Since::Ago(30, TimeUnit::Minutes)
        );
        assert_eq!(
            parse_since("2026-01-31").unwrap(),
            Since::Date("2026-01-31".into())
        );
        assert!(parse_since("7")
            .unwrap_err()
            .to_string()
            .contains("add a unit"));
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("7y").is_err());
    }
}
