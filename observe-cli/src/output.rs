//! Where results go: aligned tables for people, a JSON array or JSON lines for programs.
//!
//! Rows are written as the query yields them (JSON) or kept up to the table's row limit
//! (tables need every shown row to size their columns), never the whole result. A table
//! also stops at [`TABLE_MAX_BYTES`] of cells, so that `--limit 0` cannot hold a whole
//! store in memory: it says where it stopped and points to `--jsonl`, which streams. Every
//! text a table or tree shows passes through [`escape_control`]; JSON is escaped by its
//! serializer.

use std::io::{BufWriter, Stdout, Write as _};
use std::time::Duration;

use anyhow::Result;
use comfy_table::{presets, CellAlignment, ContentArrangement, LineStyle, Table as Grid};
use observe_model::money::format_usd;
use observe_model::view::{escape_control, format_duration};
use observe_store::sql::{value_to_json, RowSink, SqlError, Value};

/// The most a table holds, counted as the text of its cells plus [`CELL_OVERHEAD`] each.
pub const TABLE_MAX_BYTES: usize = 16 << 20;

/// What a cell costs beyond its text (the table's own structures), for [`TABLE_MAX_BYTES`].
const CELL_OVERHEAD: usize = 64;

/// The output format chosen on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An aligned table (or a tree) for people.
    Table,
    /// One JSON document: an array of row objects, or one object.
    Json,
    /// One JSON object per line, for piping big results.
    JsonLines,
}

/// How table cells show values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cells {
    /// As the query returned them, under the names it gave, but for money columns
    /// (`cost`, `*_cost`, `cost_*`), shown by [`format_usd`] as everywhere (`observe query`).
    AsWritten,
    /// Durations (`*_ms`) as `1.5s` under the name without `_ms`, costs as dollars: the
    /// built-in commands and reports, whose columns observe chose.
    Formatted,
}

/// How a query's rows show.
pub struct Rows<'a> {
    /// At most this many rows shown (tables always have one; JSON only when asked).
    pub limit: Option<usize>,
    /// A line above the table.
    pub title: Option<&'a str>,
    /// How cells show values.
    pub cells: Cells,
    /// Printed instead of an empty table.
    pub empty: Option<&'a str>,
}

/// Writes what the commands print to stdout.
pub struct Output {
    pub format: Format,
}

impl Output {
    /// Text as it is (callers escape what came from the store).
    pub fn text(&self, text: &str) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        quiet_pipe(
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush()),
        )
    }

    /// One JSON document: pretty for `--json`, one line for `--jsonl`.
    pub fn json_value(&self, value: &serde_json::Value) -> Result<()> {
        let text = if self.format == Format::JsonLines {
            serde_json::to_string(value)?
        } else {
            serde_json::to_string_pretty(value)?
        };
        self.text(&(text + "\n"))
    }

    /// Runs the query (`run` streams its rows to the sink it is given) and writes its rows
    /// in the chosen format.
    pub fn rows(
        &self,
        rows: &Rows<'_>,
        run: impl FnOnce(&mut dyn RowSink) -> Result<(), SqlError>,
    ) -> Result<()> {
        match self.format {
            Format::Table => {
                let mut table = TableSink {
                    limit: rows.limit,
                    columns: Vec::new(),
                    rows: Vec::new(),
                    cut: false,
                    bytes: 0,
                    full: false,
                };
                run(&mut table)?;
                match rows.empty {
                    Some(empty) if table.rows.is_empty() => self.text(empty),
                    _ => self.text(&table.render(rows.title, rows.cells)),
                }
            }
            Format::Json | Format::JsonLines => {
                let mut sink = JsonSink {
                    out: BufWriter::new(std::io::stdout()),
                    lines: self.format == Format::JsonLines,
                    limit: rows.limit,
                    columns: Vec::new(),
                    arrays: Vec::new(),
                    cells: rows.cells,
                    written: 0,
                    closed: false,
                };
                match run(&mut sink) {
                    Err(SqlError::Output(e)) => return quiet_pipe(Err(e)),
                    other => other?,
                }
                sink.finish()
            }
        }
    }
}

/// A closed pipe (`observe query ... | head`) ends the output quietly.
fn quiet_pipe(result: std::io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Keeps the rows a table shows, and notes whether there were more.
struct TableSink {
    limit: Option<usize>,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    cut: bool,
    /// What the rows kept hold, counted as [`TABLE_MAX_BYTES`] says.
    bytes: usize,
    /// Whether rows were left out because the table held [`TABLE_MAX_BYTES`].
    full: bool,
}

impl RowSink for TableSink {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Value>) -> std::io::Result<bool> {
        if self.limit.is_some_and(|limit| self.rows.len() >= limit) {
            self.cut = true;
            return Ok(false);
        }
        let size: usize = row.iter().map(|v| shown_len(v) + CELL_OVERHEAD).sum();
        if self.bytes + size > TABLE_MAX_BYTES {
            self.full = true;
            return Ok(false);
        }
        self.bytes += size;
        self.rows.push(row);
        Ok(true)
    }
}

impl TableSink {
    fn render(&self, title: Option<&str>, cells: Cells) -> String {
        let mut grid = Grid::new();
        // Columns apart, one rule under the header, nothing else.
        grid.load_style(
            presets::NOTHING.header_separator(LineStyle::none().fill('─').junction(' ')),
        )
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(self.columns.iter().map(|c| header(c, cells)));
        for row in &self.rows {
            grid.add_row(
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(column, value)| show(column, value, cells)),
            );
        }
        for (i, column) in self.columns.iter().enumerate() {
            let numeric = !self.rows.is_empty()
                && self
                    .rows
                    .iter()
                    .all(|r| matches!(r[i], Value::Integer(_) | Value::Real(_) | Value::Null));
            let formatted_number =
                is_cost_column(column) || (cells == Cells::Formatted && is_duration_column(column));
            if numeric || formatted_number {
                if let Some(c) = grid.column_mut(i) {
                    c.set_cell_alignment(CellAlignment::Right);
                }
            }
        }
        let mut text = String::new();
        if let Some(title) = title {
            text.push_str(&escape_control(title));
            text.push('\n');
        }
        text.push_str(&grid.to_string());
        text.push('\n');
        let n = self.rows.len();
        let plural = if n == 1 { "" } else { "s" };
        if self.full {
            text.push_str(&format!(
                "({n} row{plural} shown; cut at {} MiB of cells, the most a table holds: use \
                 --jsonl (or --json) to stream every row)\n",
                TABLE_MAX_BYTES >> 20
            ));
        } else if self.cut {
            text.push_str(&format!(
                "({n} row{plural} shown; more were cut at --limit {n}: raise --limit \
                 (0 for no limit), or use --jsonl to stream every row)\n"
            ));
        } else {
            text.push_str(&format!("({n} row{plural})\n"));
        }
        text
    }
}

/// Writes each row as a JSON object, keys in the query's column order, as it comes.
struct JsonSink {
    out: BufWriter<Stdout>,
    lines: bool,
    limit: Option<usize>,
    columns: Vec<String>,
    /// Which columns hold a JSON array as text (`tags` of the built-in commands), written
    /// as the array.
    arrays: Vec<bool>,
    cells: Cells,
    written: usize,
    closed: bool,
}

impl RowSink for JsonSink {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        // Each key encoded once, with its colon.
        self.columns = columns
            .iter()
            .map(|c| format!("{}:", serde_json::Value::String(c.clone())))
            .collect();
        self.arrays = columns
            .iter()
            .map(|c| self.cells == Cells::Formatted && c == "tags")
            .collect();
        Ok(())
    }

    fn row(&mut self, row: Vec<Value>) -> std::io::Result<bool> {
        if self.limit.is_some_and(|limit| self.written >= limit) {
            return Ok(false);
        }
        let mut line = String::new();
        line.push_str(match (self.lines, self.written) {
            (true, _) => "",
            (false, 0) => "[\n  ",
            (false, _) => ",\n  ",
        });
        line.push('{');
        for (i, (key, value)) in self.columns.iter().zip(&row).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(key);
            match value {
                Value::Text(text) if self.arrays[i] => line.push_str(&json_array(text)),
                _ => line.push_str(&value_to_json(value).to_string()),
            }
        }
        line.push('}');
        if self.lines {
            line.push('\n');
        }
        self.written += 1;
        match self.out.write_all(line.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(false)
            }
            other => other.map(|()| true),
        }
    }
}

impl JsonSink {
    fn finish(mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let end = match (self.lines, self.written) {
            (true, _) => "",
            (false, 0) => "[]\n",
            (false, _) => "\n]\n",
        };
        quiet_pipe(
            self.out
                .write_all(end.as_bytes())
                .and_then(|()| self.out.flush()),
        )
    }
}

/// Text that holds a JSON array, as that array; any other text as a JSON string.
fn json_array(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(array @ serde_json::Value::Array(_)) => array.to_string(),
        _ => serde_json::Value::String(text.to_owned()).to_string(),
    }
}

/// About how many bytes `value` takes once shown in a cell.
fn shown_len(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Integer(_) | Value::Real(_) => 24,
        Value::Text(t) => t.len(),
        Value::Blob(b) => 2 + 2 * b.len(),
    }
}

fn header(column: &str, cells: Cells) -> String {
    let shown = match cells {
        Cells::Formatted if is_duration_column(column) => {
            column.strip_suffix("_ms").unwrap_or(column)
        }
        _ => column,
    };
    escape_control(shown).into_owned()
}

fn show(column: &str, value: &Value, cells: Cells) -> String {
    let number = match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(f) => Some(*f),
        _ => None,
    };
    match number {
        Some(x)
            if cells == Cells::Formatted
                && is_duration_column(column)
                && x >= 0.0
                && x.is_finite() =>
        {
            format_duration(Duration::from_secs_f64(x / 1000.0))
        }
        // Money follows one rule in every table, `observe query`'s included.
        Some(x) if is_cost_column(column) => format_usd(x).unwrap_or_default(),
        _ => cell(value),
    }
}

fn is_duration_column(column: &str) -> bool {
    column.ends_with("_ms") || column == "latency" || column == "duration"
}

/// A column of dollars by its name; `cost_computed` and the like are flags, not money.
fn is_cost_column(column: &str) -> bool {
    (column == "cost" || column.ends_with("_cost") || column.starts_with("cost_"))
        && !column.ends_with("_computed")
}

/// A value as it is: numbers in full, text escaped, blobs as `\x` and hex (as psql shows
/// `bytea`), NULL as nothing.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(t) => escape_control(t).into_owned(),
        Value::Blob(b) => {
            let mut hex = String::from("\\x");
            for byte in b {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex
        }
    }
}
