//! Dashboard files: a title and widgets in TOML or YAML ([`DashboardFormat`]), each widget
//! a PostgreSQL query and how to draw it. One schema (the types below) serves both
//! languages. The default dashboard is such a file, embedded in the binary
//! (`default.toml`).
//!
//! ```toml
//! title = "Costs"
//!
//! [[widget]]
//! title = "Cost per day by model"
//! chart = "line"          # line | bar | table | number
//! x = "time"              # the column along the x axis (line, bar)
//! y = ["cost"]            # one column or several, each a series (a plain string for one)
//! series = "series"       # a column whose values split the rows into series (optional)
//! sql = """
//! SELECT date_trunc('{{bucket}}', timestamp) AS time, {{breakdown}} AS series,
//!        SUM(calculated_total_cost) AS cost
//! FROM traces WHERE {{filter}} GROUP BY 1, 2 ORDER BY 1"""
//! ```

use std::path::Path;

use serde::Deserialize;

use super::format::DashboardFormat;

/// The dashboard `observe ui` shows without `--dashboard`.
pub const DEFAULT_DASHBOARD: &str = include_str!("default.toml");

/// How a widget's rows are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// Lines over `x` (time), one per series.
    Line,
    /// Horizontal bars, one per `x` value (and series).
    Bar,
    /// The rows as a table.
    Table,
    /// The first row's `y` value, large.
    Number,
}

impl ChartKind {
    /// `line`, `bar`, `table` or `number`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChartKind::Line => "line",
            ChartKind::Bar => "bar",
            ChartKind::Table => "table",
            ChartKind::Number => "number",
        }
    }
}

/// One column or several.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum Columns {
    One(String),
    Many(Vec<String>),
}

/// One widget of a dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    /// Shown above the chart.
    pub title: String,
    /// PostgreSQL as `observe query` takes it, with the placeholders `{{filter}}`,
    /// `{{breakdown}}` and `{{bucket}}` (see [`Filter::render`](super::Filter::render)).
    pub sql: String,
    /// The same answer from the store's hourly roll-up of traces, with the placeholder
    /// `{{hours}}` for its rows (see [`Filter::render_rollup`](super::Filter::render_rollup)),
    /// run instead of `sql` when the store keeps the roll-up and the filter lets it
    /// ([`Filter::rollup_applies`](super::Filter::rollup_applies)).
    #[serde(default)]
    pub rollup_sql: Option<String>,
    /// How its rows are drawn.
    pub chart: ChartKind,
    /// The column along the x axis (line and bar charts; the first column by default).
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default, rename = "y")]
    y_columns: Option<Columns>,
    /// A column whose values split the rows into series.
    #[serde(default)]
    pub series: Option<String>,
}

impl Widget {
    /// The value columns: as given, else every column but `x` and `series` (found once the
    /// query has run).
    pub fn y(&self) -> Vec<String> {
        match &self.y_columns {
            None => Vec::new(),
            Some(Columns::One(c)) => vec![c.clone()],
            Some(Columns::Many(c)) => c.clone(),
        }
    }
}

/// A dashboard: a title and its widgets, in order.
///
/// ```
/// use observe_cli::dashboard::{ChartKind, Dashboard};
/// let d = Dashboard::parse(
///     "title = \"Mine\"\n\
///      [[widget]]\n\
///      title = \"Traces per day\"\n\
///      chart = \"line\"\n\
///      x = \"day\"\n\
///      y = \"traces\"\n\
///      sql = \"SELECT date_trunc('day', timestamp) AS day, COUNT(*) AS traces FROM traces GROUP BY 1\"\n",
/// )
/// .unwrap();
/// assert_eq!(d.widgets[0].chart, ChartKind::Line);
/// assert_eq!(d.widgets[0].y(), ["traces"]);
/// assert!(Dashboard::parse("[[widget]]\ntitle = \"x\"\nchart = \"pie\"\nsql = \"\"").is_err());
/// assert!(Dashboard::builtin().widgets.len() > 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Shown above the widgets.
    #[serde(default = "untitled")]
    pub title: String,
    /// The widgets, in order (`[[widget]]` in TOML; `widget:` or `widgets:` in YAML).
    #[serde(default, rename = "widget", alias = "widgets")]
    pub widgets: Vec<Widget>,
}

fn untitled() -> String {
    "Dashboard".into()
}

/// A dashboard file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The file could not be read.
    #[error("reading the dashboard {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a dashboard.
    #[error("the dashboard is not valid: {0}")]
    Invalid(String),
}

impl Dashboard {
    /// Reads a dashboard from TOML text.
    pub fn parse(text: &str) -> Result<Dashboard, DashboardError> {
        Dashboard::parse_as(text, DashboardFormat::Toml)
    }

    /// Reads a dashboard from text in `format`. Errors name the line and column, and a
    /// field or value the schema does not know.
    ///
    /// ```
    /// use observe_cli::dashboard::{ChartKind, Dashboard, DashboardFormat};
    /// let yaml = "title: Mine\n\
    ///             widget:\n\
    ///             \x20 - title: Traces\n\
    ///             \x20   chart: number\n\
    ///             \x20   y: traces\n\
    ///             \x20   sql: SELECT COUNT(*) AS traces FROM traces WHERE {{filter}}\n";
    /// let d = Dashboard::parse_as(yaml, DashboardFormat::Yaml).unwrap();
    /// assert_eq!(d.widgets[0].chart, ChartKind::Number);
    /// assert_eq!(d.widgets[0].y(), ["traces"]);
    /// ```
    pub fn parse_as(text: &str, format: DashboardFormat) -> Result<Dashboard, DashboardError> {
        let invalid = |e: &dyn std::fmt::Display| DashboardError::Invalid(e.to_string());
        let dashboard: Dashboard = match format {
            DashboardFormat::Toml => toml::from_str(text).map_err(|e| invalid(&e))?,
            DashboardFormat::Yaml => serde_saphyr::from_str(text).map_err(|e| invalid(&e))?,
        };
        if dashboard.widgets.is_empty() {
            return Err(DashboardError::Invalid(format!(
                "it has no widget: {}",
                format.widget_hint()
            )));
        }
        Ok(dashboard)
    }

    /// Reads a dashboard file, in the language its extension or text says
    /// ([`DashboardFormat::of`]).
    pub fn load(path: &Path) -> Result<Dashboard, DashboardError> {
        let text = std::fs::read_to_string(path).map_err(|source| DashboardError::Read {
            path: path.to_owned(),
            source,
        })?;
        Dashboard::parse_as(&text, DashboardFormat::of(path, &text))
    }

    /// The default dashboard ([`DEFAULT_DASHBOARD`]).
    pub fn builtin() -> Dashboard {
        // Its text is part of the binary and a unit test reads it.
        Dashboard::parse(DEFAULT_DASHBOARD).expect("the default dashboard is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_dashboard_has_the_seeds_four_analytics() {
        let d = Dashboard::builtin();
        let titles: Vec<&str> = d.widgets.iter().map(|w| w.title.as_str()).collect();
        for seed in [
            "Performance by user",
            "Performance by content type",
            "Slowest sessions",
            "Slow or expensive users (at least 5 sessions)",
        ] {
            assert!(titles.contains(&seed), "{seed} missing from {titles:?}");
        }
        // Every widget follows the filter bar.
        for w in &d.widgets {
            assert!(w.sql.contains("{{filter}}"), "{}", w.title);
        }
    }

    #[test]
    fn every_default_widget_translates_under_every_breakdown() {
        use crate::dashboard::{Breakdown, Filter};
        let d = Dashboard::builtin();
        for breakdown in [
            None,
            Some(Breakdown::Model),
            Some(Breakdown::Metadata("k".into())),
        ] {
            let filter = Filter {
                breakdown,
                ..Filter::default()
            };
            for w in &d.widgets {
                let sql = filter.render(&w.sql);
                assert!(
                    observe_store::sql::translate(&sql).is_ok(),
                    "{}: {sql}",
                    w.title
                );
            }
        }
    }

    #[test]
    fn every_default_roll_up_sql_reads_the_hours_and_translates() {
        use crate::dashboard::{Breakdown, Filter, TimeRange};
        let d = Dashboard::builtin();
        let rollups: Vec<_> = d
            .widgets
            .iter()
            .filter_map(|w| w.rollup_sql.as_ref())
            .collect();
        assert!(rollups.len() >= 7);
        for breakdown in [None, Some(Breakdown::Environment), Some(Breakdown::Version)] {
            for range in [TimeRange::LastHour, TimeRange::Last30Days] {
                let filter = Filter {
                    breakdown: breakdown.clone(),
                    range,
                    ..Filter::default()
                };
                for sql in &rollups {
                    assert!(
                        (sql.contains("{{hours}}") || sql.contains("{{latencies}}"))
                            && sql.contains("{{filter}}"),
                        "{sql}"
                    );
                    let sql = filter.render_rollup(sql);
                    let translated = observe_store::sql::translate(&sql);
                    assert!(translated.is_ok(), "{sql}: {translated:?}");
                }
            }
        }
    }

    /// The module documentation's TOML example, in YAML.
    const COSTS_YAML: &str = "\
title: Costs
widget:
  - title: Cost per day by model
    chart: line        # line | bar | table | number
    x: time
    y: [cost]
    series: series
    sql: |
      SELECT date_trunc('{{bucket}}', timestamp) AS time, {{breakdown}} AS series,
             SUM(calculated_total_cost) AS cost
      FROM traces WHERE {{filter}} GROUP BY 1, 2 ORDER BY 1
  - title: Traces
    chart: number
    y: traces
    sql: SELECT COUNT(*) AS traces FROM traces WHERE {{filter}}
";

    const COSTS_TOML: &str = r#"title = "Costs"

[[widget]]
title = "Cost per day by model"
chart = "line"
x = "time"
y = ["cost"]
series = "series"
sql = """
SELECT date_trunc('{{bucket}}', timestamp) AS time, {{breakdown}} AS series,
       SUM(calculated_total_cost) AS cost
FROM traces WHERE {{filter}} GROUP BY 1, 2 ORDER BY 1
"""

[[widget]]
title = "Traces"
chart = "number"
y = "traces"
sql = "SELECT COUNT(*) AS traces FROM traces WHERE {{filter}}"
"#;

    #[test]
    fn a_yaml_file_reads_as_the_same_toml_file_does() {
        let yaml = Dashboard::parse_as(COSTS_YAML, DashboardFormat::Yaml).unwrap();
        let toml = Dashboard::parse(COSTS_TOML).unwrap();
        assert_eq!(yaml, toml);
        assert_eq!(yaml.widgets.len(), 2);
        assert_eq!(yaml.widgets[0].series.as_deref(), Some("series"));
        // `widgets:` is the same list.
        let plural = COSTS_YAML.replace("widget:", "widgets:");
        assert_eq!(
            Dashboard::parse_as(&plural, DashboardFormat::Yaml).unwrap(),
            toml
        );
    }

    #[test]
    fn files_are_read_by_extension_or_else_by_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let expected = Dashboard::parse(COSTS_TOML).unwrap();
        for (name, text) in [
            ("costs.yaml", COSTS_YAML),
            ("costs.YML", COSTS_YAML),
            ("costs", COSTS_YAML),
            ("costs.toml", COSTS_TOML),
            ("costs.dashboard", COSTS_TOML),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert_eq!(Dashboard::load(&path).unwrap(), expected, "{name}");
        }
        // A YAML file named .toml is read as TOML, and says so.
        let path = dir.path().join("wrong.toml");
        std::fs::write(&path, COSTS_YAML).unwrap();
        assert!(Dashboard::load(&path).is_err());
    }

    #[test]
    fn a_broken_yaml_widget_is_refused_naming_its_line_and_value() {
        let pie = COSTS_YAML.replace("chart: number", "chart: pie");
        let e = Dashboard::parse_as(&pie, DashboardFormat::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pie"), "{e}");
        assert!(e.contains("line 13"), "{e}");
        let colour = COSTS_YAML.replace("    y: traces\n", "    y: traces\n    colour: red\n");
        let e = Dashboard::parse_as(&colour, DashboardFormat::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        assert!(e.contains("line 15"), "{e}");
        // Not YAML at all: an unclosed list.
        let e = Dashboard::parse_as("title: x\nwidget: [\n  - a\n", DashboardFormat::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line"), "{e}");
        let e = Dashboard::parse_as("title: Empty\n", DashboardFormat::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("widget:"), "{e}");
    }

    #[test]
    fn unknown_fields_and_empty_dashboards_are_refused() {
        let e =
            Dashboard::parse("[[widget]]\ntitle = \"t\"\nchart = \"line\"\nsql = \"\"\ncolour = 1")
                .unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        assert!(Dashboard::parse("title = \"x\"").is_err());
        let e = Dashboard::load(Path::new("/nonexistent/dash.toml")).unwrap_err();
        assert!(matches!(e, DashboardError::Read { .. }));
    }
}
