//! The analytics reports of `observe report`, written in PostgreSQL as a Langfuse user
//! writes them against Langfuse's `traces` relation, and run through the same translator
//! as `observe query` ([`observe_store::sql::query`]).
//!
//! Costs include the costs observe computed from usage for generations that reported no
//! cost; the `computed_cost` columns say how much of them was (the store's
//! `traces.computed_cost`, which Langfuse does not have).
//!
//! ```
//! use observe_cli::reports::Report;
//! let sqlite = observe_store::sql::translate(&Report::Users.sql()).unwrap();
//! assert!(sqlite.contains("GROUP BY user_id"));
//! assert_eq!("slow-sessions".parse::<Report>().unwrap(), Report::SlowSessions);
//! assert!(Report::ContentTypes.sql().contains("metadata->>'content_type'"));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// (a) Performance by user over the last 30 days: traces, average latency, total cost.
pub const USERS: &str = "\
SELECT user_id,
       COUNT(*) AS traces,
       AVG(latency_ms) AS avg_latency_ms,
       SUM(calculated_total_cost) AS total_cost,
       SUM(computed_cost) AS computed_cost
FROM traces
WHERE timestamp > NOW() - INTERVAL '30 days'
GROUP BY user_id
ORDER BY total_cost DESC";

/// (b) Performance by one key of the traces' metadata over the last 30 days: the SQL of
/// `observe report by-metadata <key>`; the seed's report by content type is
/// `by_metadata("content_type")`.
///
/// ```
/// let sql = observe_cli::reports::by_metadata("content_type");
/// assert!(sql.starts_with("SELECT metadata->>'content_type' AS \"content_type\","));
/// // Quotes in the key stay inside the literal.
/// assert!(observe_cli::reports::by_metadata("it's").contains("metadata->>'it''s'"));
/// ```
pub fn by_metadata(key: &str) -> String {
    let literal = key.replace('\'', "''");
    let column = key.replace('"', "\"\"");
    format!(
        "\
SELECT metadata->>'{literal}' AS \"{column}\",
       COUNT(*) AS traces,
       AVG(latency_ms) AS avg_latency_ms,
       AVG(calculated_total_cost) AS avg_cost,
       AVG(computed_cost) AS avg_computed_cost
FROM traces
WHERE timestamp > NOW() - INTERVAL '30 days'
  AND metadata->>'{literal}' IS NOT NULL
GROUP BY metadata->>'{literal}'
ORDER BY traces DESC, 1"
    )
}

/// (c) The ten slowest sessions of the last 7 days: a session runs from its first trace's
/// start to its last trace's end.
pub const SLOW_SESSIONS: &str = "\
SELECT session_id,
       MIN(timestamp) AS started,
       MAX(timestamp + latency_ms * INTERVAL '1 millisecond') AS ended,
       EXTRACT(EPOCH FROM MAX(timestamp + latency_ms * INTERVAL '1 millisecond') - MIN(timestamp)) * 1000 AS duration_ms,
       SUM(calculated_total_cost) AS total_cost,
       SUM(computed_cost) AS computed_cost,
       COUNT(*) AS traces
FROM traces
WHERE timestamp > NOW() - INTERVAL '7 days'
  AND session_id IS NOT NULL
GROUP BY session_id
ORDER BY duration_ms DESC
LIMIT 10";

/// (d) Users with the highest average session latency, among those with at least 5 sessions.
pub const SLOW_USERS: &str = "\
SELECT user_id,
       COUNT(*) AS sessions,
       AVG(session_latency_ms) AS avg_session_latency_ms,
       SUM(session_cost) AS total_cost,
       SUM(session_computed_cost) AS computed_cost
FROM (
    SELECT user_id,
           session_id,
           EXTRACT(EPOCH FROM MAX(timestamp + latency_ms * INTERVAL '1 millisecond') - MIN(timestamp)) * 1000 AS session_latency_ms,
           SUM(calculated_total_cost) AS session_cost,
           SUM(computed_cost) AS session_computed_cost
    FROM traces
    WHERE user_id IS NOT NULL AND session_id IS NOT NULL
    GROUP BY user_id, session_id
) AS per_session
GROUP BY user_id
HAVING COUNT(*) >= 5
ORDER BY avg_session_latency_ms DESC";

/// One of the built-in reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// [`USERS`]
    Users,
    /// [`by_metadata`] of `content_type`: the seed's report (b).
    ContentTypes,
    /// [`by_metadata`] of any key.
    ByMetadata(String),
    /// [`SLOW_SESSIONS`]
    SlowSessions,
    /// [`SLOW_USERS`]
    SlowUsers,
}

impl Report {
    /// The reports that take no argument, in the order of the documentation.
    pub const ALL: [Report; 4] = [
        Report::Users,
        Report::ContentTypes,
        Report::SlowSessions,
        Report::SlowUsers,
    ];

    /// The report by the metadata key `key`.
    pub fn by_metadata(key: impl Into<String>) -> Report {
        Report::ByMetadata(key.into())
    }

    /// The report's PostgreSQL query.
    ///
    /// ```
    /// assert!(observe_cli::reports::Report::SlowUsers.sql().contains("HAVING COUNT(*) >= 5"));
    /// ```
    pub fn sql(&self) -> Cow<'static, str> {
        match self {
            Report::Users => Cow::Borrowed(USERS),
            Report::ContentTypes => Cow::Owned(by_metadata("content_type")),
            Report::ByMetadata(key) => Cow::Owned(by_metadata(key)),
            Report::SlowSessions => Cow::Borrowed(SLOW_SESSIONS),
            Report::SlowUsers => Cow::Borrowed(SLOW_USERS),
        }
    }

    /// The name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Report::Users => "users",
            Report::ContentTypes => "content-types",
            Report::ByMetadata(_) => "by-metadata",
            Report::SlowSessions => "slow-sessions",
            Report::SlowUsers => "slow-users",
        }
    }

    /// A one-line description.
    pub fn title(&self) -> String {
        match self {
            Report::Users => "Performance by user, last 30 days".into(),
            Report::ContentTypes => "Performance by content type, last 30 days".into(),
            Report::ByMetadata(key) => format!("Performance by metadata `{key}`, last 30 days"),
            Report::SlowSessions => "Slowest sessions, last 7 days".into(),
            Report::SlowUsers => {
                "Users with the highest average session latency (at least 5 sessions)".into()
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is none of the reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownReport(String);

impl UnknownReport {
    fn named(name: &str) -> UnknownReport {
        UnknownReport(format!(
            "unknown report `{name}`: expected users, content-types, by-metadata <key>, \
             slow-sessions or slow-users"
        ))
    }
}

impl FromStr for Report {
    type Err = UnknownReport;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Report::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownReport::named(s))
    }
}

impl Report {
    /// A report from its command-line name and argument: `by-metadata` takes the key,
    /// the others take nothing.
    ///
    /// ```
    /// use observe_cli::reports::Report;
    /// assert_eq!(Report::parse("by-metadata", Some("model")).unwrap(), Report::by_metadata("model"));
    /// assert!(Report::parse("by-metadata", None).is_err());
    /// assert!(Report::parse("users", Some("x")).is_err());
    /// ```
    pub fn parse(name: &str, argument: Option<&str>) -> Result<Report, UnknownReport> {
        match (name, argument) {
            ("by-metadata", Some(key)) => Ok(Report::by_metadata(key)),
            ("by-metadata", None) => Err(UnknownReport(
                "by-metadata needs a key: e.g. `observe report by-metadata content_type`".into(),
            )),
            (name, None) => name.parse(),
            (name, Some(extra)) => Err(match name.parse::<Report>() {
                Ok(_) => UnknownReport(format!("the report {name} takes no argument (`{extra}`)")),
                Err(e) => e,
            }),
        }
    }
}
