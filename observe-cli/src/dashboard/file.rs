//! Dashboard files: a title and widgets in TOML, each widget a PostgreSQL query and how
//! to draw it. The default dashboard is such a file, embedded in the binary
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
    /// The widgets, in order.
    #[serde(default, rename = "widget")]
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
        let dashboard: Dashboard =
            toml::from_str(text).map_err(|e| DashboardError::Invalid(e.to_string()))?;
        if dashboard.widgets.is_empty() {
            return Err(DashboardError::Invalid(
                "it has no widget: add one as [[widget]] with title, chart and sql".into(),
            ));
        }
        Ok(dashboard)
    }

    /// Reads a dashboard file.
    pub fn load(path: &Path) -> Result<Dashboard, DashboardError> {
        let text = std::fs::read_to_string(path).map_err(|source| DashboardError::Read {
            path: path.to_owned(),
            source,
        })?;
        Dashboard::parse(&text)
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
