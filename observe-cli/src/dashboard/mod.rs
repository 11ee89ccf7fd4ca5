//! Dashboards: widgets of PostgreSQL run under one filter, and what they are drawn with.
//!
//! A dashboard ([`Dashboard`], with the `ui` feature) is a TOML or YAML file of widgets, each a
//! query as `observe query` takes it and a chart type; `observe ui` shows the default one
//! ([`DEFAULT_DASHBOARD`]) or the file `--dashboard` names. The filter bar is a [`Filter`]:
//! a [`TimeRange`] cut into [`Bucket`]s, tags to include and exclude, environment, user,
//! trace name, one metadata key's value, and a [`Breakdown`] that splits series (by model,
//! user, session, name, tag, environment, release, version or a metadata key). Widgets
//! take it where their SQL says `{{filter}}`, `{{breakdown}}` and `{{bucket}}`, so that
//! the SQL a chart shows is the SQL that ran, and runs as is on the Query page.
//!
//! ```
//! use observe_cli::dashboard::{Filter, TimeRange};
//! let filter = Filter { range: TimeRange::LastHour, ..Filter::default() };
//! let sql = filter.render("SELECT COUNT(*) FROM traces WHERE {{filter}}");
//! assert!(observe_store::sql::translate(&sql).is_ok());
//! ```

#[cfg(feature = "ui")]
mod chart;
#[cfg(feature = "ui")]
mod file;
mod filter;
#[cfg(feature = "ui")]
mod format;
mod range;
mod rollup;
pub mod timeseries;

#[cfg(feature = "ui")]
pub use chart::{chart_svg, escape};
#[cfg(feature = "ui")]
pub use file::{ChartKind, Dashboard, DashboardError, Widget, DEFAULT_DASHBOARD};
pub use filter::{literal, Breakdown, Filter, FilterError};
#[cfg(feature = "ui")]
pub use format::DashboardFormat;
pub use range::{Bucket, RangeError, TimeRange};
