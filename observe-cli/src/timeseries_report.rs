//! `observe report --timeseries`: the dashboard's figures per bucket, with a bar per row
//! in a table (JSON has the numbers alone).

use anyhow::Result;
use observe_cli::dashboard::{timeseries, Filter, TimeRange};
use observe_store::sql::{SqlError, Table, Value};
use observe_store::Reader;

use crate::cli_args::ReportArgs;
use crate::output::{Cells, Format, Output, Rows};
use crate::sql_commands::REPORT_TIMEOUT;

/// How wide the bar of the busiest bucket is, in characters.
const BAR_WIDTH: usize = 24;

/// The time series' PostgreSQL for the command line's range, bucket and filters.
pub fn sql(args: &ReportArgs) -> Result<String> {
    let range = TimeRange::parse(&args.range, None, None)?;
    let bucket = match &args.bucket {
        Some(b) => b.parse()?,
        None => range.bucket(),
    };
    Ok(timeseries::sql(&Filter {
        range,
        bucket,
        tags: args.tag.clone(),
        environment: args.environment.clone(),
        ..Filter::default()
    }))
}

/// `observe report --timeseries --show-sql`: the PostgreSQL it runs.
pub fn print_sql(out: &Output, args: &ReportArgs) -> Result<()> {
    out.text(&(sql(args)? + "\n"))
}

/// Runs the time series and prints it.
pub fn run(store: &mut Reader, out: &Output, args: &ReportArgs) -> Result<()> {
    let text = sql(args)?;
    let mut table = Table {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    store.query(&text, Some(REPORT_TIMEOUT), &mut table)?;
    let title = format!(
        "Traces per {} over the last {}",
        args.bucket
            .as_deref()
            .unwrap_or(TimeRange::parse(&args.range, None, None)?.bucket().unit()),
        args.range
    );
    let with_bar = out.format == Format::Table;
    let traces = table.column("traces");
    let count = |row: &[Value]| match traces.map(|i| &row[i]) {
        Some(Value::Integer(n)) => *n as f64,
        _ => 0.0,
    };
    let max = table.rows.iter().map(|r| count(r)).fold(0.0, f64::max);
    out.rows(
        &Rows {
            limit: None,
            title: Some(&title),
            cells: Cells::Formatted,
            empty: Some("no traces in this range\n"),
        },
        |sink| {
            let mut columns = table.columns.clone();
            let at = traces.map_or(columns.len(), |i| i + 1);
            if with_bar {
                columns.insert(at, String::new());
            }
            sink.columns(&columns).map_err(SqlError::Output)?;
            for row in &table.rows {
                let mut row = row.clone();
                if with_bar {
                    row.insert(
                        at,
                        Value::Text(timeseries::bar(count(&row), max, BAR_WIDTH)),
                    );
                }
                if !sink.row(row).map_err(SqlError::Output)? {
                    break;
                }
            }
            Ok(())
        },
    )
}
