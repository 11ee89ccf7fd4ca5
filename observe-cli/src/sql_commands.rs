//! `observe report` and `observe query`: PostgreSQL translated for the store, then run
//! under a time limit, or printed instead.

use std::time::Duration;

use anyhow::Result;
use observe_cli::reports::Report;
use observe_store::{sql, Reader};

use crate::cli_args::{QueryArgs, ReportArgs};
use crate::output::{Cells, Format, Output, Rows};

/// Rows a table shows when `--limit` is not given: enough to read, few enough that a
/// query over a large store does not fill the terminal or the memory.
const TABLE_ROWS: usize = 1000;

/// How long a built-in report may run.
pub(crate) const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL query as `report` and `query` run it, and how its rows show.
struct Postgres<'a> {
    text: &'a str,
    timeout: Option<Duration>,
    /// The `--limit` given, if any.
    limit: Option<usize>,
    title: Option<&'a str>,
    cells: Cells,
}

/// `observe report NAME`: the report's rows, titled, with observe's formatting.
pub fn report(store: &mut Reader, out: &Output, args: &ReportArgs) -> Result<()> {
    let report = chosen(args)?;
    run(
        store,
        out,
        &Postgres {
            text: &report.sql(),
            timeout: Some(REPORT_TIMEOUT),
            limit: None,
            title: Some(&report.title()),
            cells: Cells::Formatted,
        },
    )
}

/// `observe report NAME --show-sql`: the report's PostgreSQL, as docs/CLI.md has it.
pub fn print_report_sql(out: &Output, args: &ReportArgs) -> Result<()> {
    let report = chosen(args)?;
    out.text(&format!("{}\n", report.sql()))
}

/// `observe query SQL`: the rows as the query wrote them.
pub fn query(store: &mut Reader, out: &Output, args: &QueryArgs) -> Result<()> {
    run(
        store,
        out,
        &Postgres {
            text: &args.sql,
            timeout: args.timeout.0,
            limit: args.limit,
            title: None,
            cells: Cells::AsWritten,
        },
    )
}

/// `observe query SQL --translate`: the SQLite that would run.
pub fn print_translation(out: &Output, args: &QueryArgs) -> Result<()> {
    out.text(&(sql::translate(&args.sql)? + "\n"))
}

fn chosen(args: &ReportArgs) -> Result<Report> {
    Ok(Report::parse(
        args.report.as_deref().unwrap_or_default(),
        args.key.as_deref(),
    )?)
}

fn run(store: &mut Reader, out: &Output, query: &Postgres<'_>) -> Result<()> {
    out.rows(
        &Rows {
            limit: table_limit(out, query.limit),
            title: query.title,
            cells: query.cells,
            empty: None,
        },
        |sink| store.query(query.text, query.timeout, sink).map(drop),
    )
}

/// The row limit: as given (0 is none), else [`TABLE_ROWS`] for a table and none for JSON.
fn table_limit(out: &Output, given: Option<usize>) -> Option<usize> {
    match given {
        Some(0) => None,
        Some(n) => Some(n),
        None => (out.format == Format::Table).then_some(TABLE_ROWS),
    }
}
