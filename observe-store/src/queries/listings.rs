//! The sessions and traces lists, most recent first, as rows the store's indexes find:
//! `observe sessions` and `observe traces`.

use rusqlite::types::Value as SqlValue;

use super::rows::Filter;
use crate::read::Store;
use crate::sql::{stream_rows, RowSink, SqlError, TIMESTAMP_FORMAT};
use observe_model::model::Level;

/// Which traces [`Store::traces_list`] lists; every filter given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceFilter {
    /// Only this user's traces.
    pub user: Option<String>,
    /// Only this session's traces.
    pub session: Option<String>,
    /// Only traces with this tag.
    pub tag: Option<String>,
    /// Only traces with this name.
    pub name: Option<String>,
    /// Only traces with an observation at this level.
    pub level: Option<Level>,
    /// Only traces started since then.
    pub since: Option<Since>,
}

/// Where a time window starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Since {
    /// This many units back from now.
    Ago(u64, TimeUnit),
    /// A date or date-time as SQLite's date functions read it (`2026-01-31`,
    /// `2026-01-31T12:00:00Z`).
    Date(String),
}

/// The unit of [`Since::Ago`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days of 24 hours.
    Days,
}

impl Since {
    /// SQLite's `strftime` time value and modifier for this instant.
    pub(super) fn modifiers(&self) -> (String, String) {
        match self {
            Since::Ago(n, unit) => {
                let unit = match unit {
                    TimeUnit::Seconds => "seconds",
                    TimeUnit::Minutes => "minutes",
                    TimeUnit::Hours => "hours",
                    TimeUnit::Days => "days",
                };
                ("now".to_owned(), format!("-{n} {unit}"))
            }
            Since::Date(date) => (date.clone(), "+0 seconds".to_owned()),
        }
    }
}

impl Store {
    /// Sessions, the most recently active first, at most `limit`: columns `session`,
    /// `traces`, `duration_ms`, `cost`, `computed_cost`, `errors` (traces with an
    /// observation at level `ERROR`), `user` (the users, comma separated) and `last_seen`,
    /// streamed to `sink`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// use observe_store::{sql::Table, Store};
    /// let store = Store::open(&path).unwrap();
    /// let mut table = Table { columns: vec![], rows: vec![] };
    /// store.sessions_list(50, &mut table).unwrap();
    /// assert_eq!(table.columns[0], "session");
    /// assert!(table.rows.is_empty());
    /// ```
    pub fn sessions_list(&self, limit: u32, sink: &mut dyn RowSink) -> Result<(), SqlError> {
        let page = self.newest_sessions(limit)?;
        self.session_list_rows(&page, sink)
    }

    /// The traces that pass `filter`, the most recent first, at most `limit`: columns
    /// `id`, `name`, `user`, `session`, `started`, `latency_ms`, `cost`, `computed_cost`,
    /// `observations`, `errors` (1 when an observation is at level `ERROR`: a trace's
    /// errors count once, as in every listing), `failed_observations` (how many are) and
    /// `tags`, streamed to `sink`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// use observe_store::queries::{Since, TimeUnit, TraceFilter};
    /// use observe_store::{sql::Table, Store};
    /// let store = Store::open(&path).unwrap();
    /// let filter = TraceFilter {
    ///     user: Some("u1".into()),
    ///     since: Some(Since::Ago(7, TimeUnit::Days)),
    ///     ..TraceFilter::default()
    /// };
    /// let mut table = Table { columns: vec![], rows: vec![] };
    /// store.traces_list(&filter, 50, &mut table).unwrap();
    /// assert_eq!(table.columns[..2], ["id", "name"]);
    /// ```
    pub fn traces_list(
        &self,
        filter: &TraceFilter,
        limit: u32,
        sink: &mut dyn RowSink,
    ) -> Result<(), SqlError> {
        let (sql, args) = traces_query(filter, limit);
        stream_rows(self.connection(), &sql, &args, sink)
    }
}

/// The SQL of [`Store::traces_list`] with this filter, and its arguments.
fn traces_query(f: &TraceFilter, limit: u32) -> (String, Vec<SqlValue>) {
    let mut filter = Filter::default();
    if let Some(user) = &f.user {
        filter.add("user_id = ?", &[user]);
    }
    if let Some(session) = &f.session {
        filter.add("session_id = ?", &[session]);
    }
    if let Some(tag) = &f.tag {
        filter.add("observe_array_contains(tags, ?)", &[tag]);
    }
    if let Some(name) = &f.name {
        filter.add("name = ?", &[name]);
    }
    if let Some(level) = f.level {
        filter.add(
            "EXISTS (SELECT 1 FROM observations o WHERE o.trace_seq = traces.seq AND o.level = ?)",
            &[level.as_str()],
        );
    }
    if let Some(since) = &f.since {
        let (base, modifier) = since.modifiers();
        filter.add(
            &format!("timestamp >= strftime('{TIMESTAMP_FORMAT}', ?, ?)"),
            &[&base, &modifier],
        );
    }
    let conditions = filter.where_clause();
    let limit = filter.bind(SqlValue::Integer(limit.into()));
    // The page is chosen first, from the traces' start alone, and only its traces look
    // into their observations: SQLite works out a result row's columns before it sorts,
    // so with the look-ups beside the sort, each of a store's traces paid for them.
    let sql = format!(
        "SELECT id, name, user_id AS user, session_id AS session, timestamp AS started,
                latency_ms, calculated_total_cost AS cost, computed_cost,
                observation_count AS observations,
                EXISTS (SELECT 1 FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR') AS errors,
                (SELECT COUNT(*) FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR') AS failed_observations,
                tags
         FROM traces
         WHERE seq IN (SELECT seq FROM traces {conditions} ORDER BY start_ns DESC LIMIT {limit})
         ORDER BY start_ns DESC"
    );
    (sql, filter.args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite plans the traces list with `f` on a store (one line per step).
    fn plan(f: &TraceFilter) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        drop(crate::StoreExporter::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let (sql, args) = traces_query(f, 50);
        crate::queries::rows::plan(&store, &sql, &args)
    }

    /// `user` and `since` find their traces through an index, so their cost follows the
    /// traces that match, not the size of the store.
    #[test]
    fn user_and_since_filters_go_through_an_index() {
        let user = plan(&TraceFilter {
            user: Some("u".into()),
            ..TraceFilter::default()
        });
        assert!(
            user.iter()
                .any(|step| step.contains("USING INDEX traces_user")),
            "{user:?}"
        );
        let since = plan(&TraceFilter {
            since: Some(Since::Ago(7, TimeUnit::Days)),
            ..TraceFilter::default()
        });
        assert!(
            since
                .iter()
                .any(|step| step.contains("USING INDEX traces_timestamp")),
            "{since:?}"
        );
    }

    #[test]
    fn every_filter_is_bound_in_order() {
        let (sql, args) = traces_query(
            &TraceFilter {
                user: Some("u".into()),
                tag: Some("t".into()),
                level: Some(Level::Error),
                since: Some(Since::Date("2026-01-31".into())),
                ..TraceFilter::default()
            },
            9,
        );
        assert!(sql.contains("WHERE user_id = ?1 AND observe_array_contains(tags, ?2)"));
        assert!(
            sql.contains("strftime('%Y-%m-%dT%H:%M:%f000Z', ?4, ?5)"),
            "{sql}"
        );
        assert!(sql.contains("LIMIT ?6"), "{sql}");
        assert_eq!(args[3], SqlValue::Text("2026-01-31".into()));
        assert_eq!(args[4], SqlValue::Text("+0 seconds".into()));
        assert_eq!(args[5], SqlValue::Integer(9));
    }
}
