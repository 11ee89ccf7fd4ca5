//! The four analytics reports of `observe report`, written in PostgreSQL as a Langfuse user
//! writes them against Langfuse's `traces` relation, and run through the same translator
//! as `observe query` ([`crate::sql::query`]).
//!
//! ```
//! use observe_cli::reports::Report;
//! let sqlite = observe_cli::sql::translate(Report::Users.sql()).unwrap();
//! assert!(sqlite.contains("GROUP BY user_id"));
//! assert_eq!("slow-sessions".parse::<Report>().unwrap(), Report::SlowSessions);
//! ```

use std::fmt;
use std::str::FromStr;

/// (a) Performance by user over the last 30 days: traces, average latency, total cost.
pub const USERS: &str = "\
SELECT user_id,
       COUNT(*) AS traces,
       AVG(latency_ms) AS avg_latency_ms,
       SUM(calculated_total_cost) AS total_cost
FROM traces
WHERE timestamp > NOW() - INTERVAL '30 days'
GROUP BY user_id
ORDER BY total_cost DESC";

/// (b) Performance by content type (`metadata.content_type`) over the last 30 days.
pub const CONTENT_TYPES: &str = "\
SELECT metadata->>'content_type' AS content_type,
       COUNT(*) AS traces,
       AVG(latency_ms) AS avg_latency_ms,
       AVG(calculated_total_cost) AS avg_cost
FROM traces
WHERE timestamp > NOW() - INTERVAL '30 days'
  AND metadata->>'content_type' IS NOT NULL
GROUP BY metadata->>'content_type'
ORDER BY traces DESC, content_type";

/// (c) The ten slowest sessions of the last 7 days: a session runs from its first trace's
/// start to its last trace's end.
pub const SLOW_SESSIONS: &str = "\
SELECT session_id,
       MIN(timestamp) AS started,
       MAX(timestamp + latency_ms * INTERVAL '1 millisecond') AS ended,
       EXTRACT(EPOCH FROM MAX(timestamp + latency_ms * INTERVAL '1 millisecond') - MIN(timestamp)) * 1000 AS duration_ms,
       SUM(calculated_total_cost) AS total_cost,
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
       SUM(session_cost) AS total_cost
FROM (
    SELECT user_id,
           session_id,
           EXTRACT(EPOCH FROM MAX(timestamp + latency_ms * INTERVAL '1 millisecond') - MIN(timestamp)) * 1000 AS session_latency_ms,
           SUM(calculated_total_cost) AS session_cost
    FROM traces
    WHERE user_id IS NOT NULL AND session_id IS NOT NULL
    GROUP BY user_id, session_id
) AS per_session
GROUP BY user_id
HAVING COUNT(*) >= 5
ORDER BY avg_session_latency_ms DESC";

/// One of the built-in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// [`USERS`]
    Users,
    /// [`CONTENT_TYPES`]
    ContentTypes,
    /// [`SLOW_SESSIONS`]
    SlowSessions,
    /// [`SLOW_USERS`]
    SlowUsers,
}

impl Report {
    /// Every report, in the order of the documentation.
    pub const ALL: [Report; 4] = [
        Report::Users,
        Report::ContentTypes,
        Report::SlowSessions,
        Report::SlowUsers,
    ];

    /// The report's PostgreSQL query.
    ///
    /// ```
    /// assert!(observe_cli::reports::Report::SlowUsers.sql().contains("HAVING COUNT(*) >= 5"));
    /// ```
    pub fn sql(self) -> &'static str {
        match self {
            Report::Users => USERS,
            Report::ContentTypes => CONTENT_TYPES,
            Report::SlowSessions => SLOW_SESSIONS,
            Report::SlowUsers => SLOW_USERS,
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Report::Users => "users",
            Report::ContentTypes => "content-types",
            Report::SlowSessions => "slow-sessions",
            Report::SlowUsers => "slow-users",
        }
    }

    /// A one-line description.
    pub fn title(self) -> &'static str {
        match self {
            Report::Users => "Performance by user, last 30 days",
            Report::ContentTypes => "Performance by content type, last 30 days",
            Report::SlowSessions => "Slowest sessions, last 7 days",
            Report::SlowUsers => {
                "Users with the highest average session latency (at least 5 sessions)"
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
#[error("unknown report `{0}`: expected users, content-types, slow-sessions or slow-users")]
pub struct UnknownReport(String);

impl FromStr for Report {
    type Err = UnknownReport;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Report::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownReport(s.to_owned()))
    }
}
