//! The filter bar and the breakdown: what every widget of a dashboard is limited to and
//! split by, written into the widget's PostgreSQL where it says `{{filter}}`,
//! `{{breakdown}}` and `{{bucket}}`.
//!
//! Stored text only ever reaches the SQL as a quoted literal ([`literal`]), so a tag or a
//! user id cannot change the query.

use super::range::{Bucket, TimeRange};

/// What a trace is split by in a chart's series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Breakdown {
    /// The model of the trace's generations (the first by name when it used several).
    Model,
    /// `user_id`.
    User,
    /// `session_id`.
    Session,
    /// The trace's name.
    Name,
    /// Its tags: one of `tags`, the most frequent ones, given by the caller (a trace with
    /// several of them counts under the first listed).
    Tag(Vec<String>),
    /// `environment`.
    Environment,
    /// `release`.
    Release,
    /// `version`.
    Version,
    /// One key of the trace's metadata (`metadata->>'key'`).
    Metadata(String),
}

impl Breakdown {
    /// Reads a breakdown's name (`model`, `user`, `session`, `name`, `tag`, `environment`,
    /// `release`, `version`, `metadata`); `metadata` takes its key. `tag` starts with no
    /// tags: [`Breakdown::Tag`] is filled once the range's most used tags are known.
    ///
    /// ```
    /// use observe_cli::dashboard::Breakdown;
    /// assert_eq!(Breakdown::parse("user", None).unwrap(), Breakdown::User);
    /// assert_eq!(
    ///     Breakdown::parse("metadata", Some("content_type")).unwrap(),
    ///     Breakdown::Metadata("content_type".into())
    /// );
    /// assert!(Breakdown::parse("metadata", None).is_err());
    /// assert!(Breakdown::parse("colour", None).is_err());
    /// ```
    pub fn parse(name: &str, key: Option<&str>) -> Result<Breakdown, FilterError> {
        Ok(match name {
            "model" => Breakdown::Model,
            "user" => Breakdown::User,
            "session" => Breakdown::Session,
            "name" => Breakdown::Name,
            "tag" => Breakdown::Tag(Vec::new()),
            "environment" => Breakdown::Environment,
            "release" => Breakdown::Release,
            "version" => Breakdown::Version,
            "metadata" => match key.map(str::trim).filter(|k| !k.is_empty()) {
                Some(key) => Breakdown::Metadata(key.to_owned()),
                None => {
                    return Err(FilterError(
                        "a breakdown by metadata needs its key (`breakdown_key`)".into(),
                    ))
                }
            },
            other => {
                return Err(FilterError(format!(
                    "unknown breakdown `{other}`: expected model, user, session, name, tag, \
                     environment, release, version or metadata"
                )))
            }
        })
    }

    /// The PostgreSQL expression of a `traces` row (named `traces`) that gives its series.
    ///
    /// ```
    /// use observe_cli::dashboard::Breakdown;
    /// assert_eq!(Breakdown::User.expression(), "traces.user_id");
    /// assert_eq!(
    ///     Breakdown::Metadata("it's".into()).expression(),
    ///     "traces.metadata->>'it''s'"
    /// );
    /// let tags = Breakdown::Tag(vec!["a".into(), "b".into()]);
    /// assert_eq!(
    ///     tags.expression(),
    ///     "CASE WHEN 'a' = ANY(traces.tags) THEN 'a' WHEN 'b' = ANY(traces.tags) THEN 'b' END"
    /// );
    /// ```
    pub fn expression(&self) -> String {
        match self {
            Breakdown::Model => "(SELECT MIN(m.model) FROM observations m \
                 WHERE m.trace_seq = traces.seq AND m.model IS NOT NULL)"
                .into(),
            Breakdown::User => "traces.user_id".into(),
            Breakdown::Session => "traces.session_id".into(),
            Breakdown::Name => "traces.name".into(),
            Breakdown::Environment => "traces.environment".into(),
            Breakdown::Release => "traces.release".into(),
            Breakdown::Version => "traces.version".into(),
            Breakdown::Metadata(key) => format!("traces.metadata->>{}", literal(key)),
            Breakdown::Tag(tags) if tags.is_empty() => "NULL".into(),
            Breakdown::Tag(tags) => {
                let arms: Vec<String> = tags
                    .iter()
                    .map(|t| format!("WHEN {0} = ANY(traces.tags) THEN {0}", literal(t)))
                    .collect();
                format!("CASE {} END", arms.join(" "))
            }
        }
    }
}

/// A filter or breakdown that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub(crate) String);

/// The filter bar: one filter every widget of the dashboard runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The traces' start.
    pub range: TimeRange,
    /// The bucket of time series ([`TimeRange::bucket`] unless chosen).
    pub bucket: Bucket,
    /// Tags every trace shown has.
    pub tags: Vec<String>,
    /// Tags no trace shown has.
    pub exclude_tags: Vec<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// `user_id`.
    pub user: Option<String>,
    /// The trace's name.
    pub name: Option<String>,
    /// One metadata key and the text its value must have (`metadata->>'key' = 'value'`).
    pub metadata: Option<(String, String)>,
    /// How series are split, if they are.
    pub breakdown: Option<Breakdown>,
    /// The breakdown values kept (two of them compare side by side); empty keeps all.
    pub compare: Vec<String>,
}

impl Default for Filter {
    /// The last 7 days, hourly, nothing else.
    fn default() -> Filter {
        let range = TimeRange::Last7Days;
        Filter {
            bucket: range.bucket(),
            range,
            tags: Vec::new(),
            exclude_tags: Vec::new(),
            environment: None,
            user: None,
            name: None,
            metadata: None,
            breakdown: None,
            compare: Vec::new(),
        }
    }
}

impl Filter {
    /// The PostgreSQL condition on a `traces` row (named `traces`) that the filter keeps.
    ///
    /// ```
    /// use observe_cli::dashboard::{Filter, TimeRange};
    /// let filter = Filter {
    ///     range: TimeRange::LastHour,
    ///     tags: vec!["prod".into()],
    ///     exclude_tags: vec!["test".into()],
    ///     user: Some("o'brien".into()),
    ///     ..Filter::default()
    /// };
    /// assert_eq!(
    ///     filter.condition(),
    ///     "traces.timestamp >= NOW() - INTERVAL '1 hour' AND 'prod' = ANY(traces.tags) \
    ///      AND NOT 'test' = ANY(traces.tags) AND traces.user_id = 'o''brien'"
    /// );
    /// ```
    pub fn condition(&self) -> String {
        let mut parts = vec![self.range.condition("traces.timestamp")];
        parts.extend(self.row_conditions());
        parts.join(" AND ")
    }

    /// The conditions of [`Filter::condition`] but the range's.
    pub(super) fn row_conditions(&self) -> Vec<String> {
        let mut parts = Vec::new();
        parts.extend(
            self.tags
                .iter()
                .map(|t| format!("{} = ANY(traces.tags)", literal(t))),
        );
        parts.extend(
            self.exclude_tags
                .iter()
                .map(|t| format!("NOT {} = ANY(traces.tags)", literal(t))),
        );
        let equal = [
            ("traces.environment", &self.environment),
            ("traces.user_id", &self.user),
            ("traces.name", &self.name),
        ];
        for (column, value) in equal {
            if let Some(value) = value {
                parts.push(format!("{column} = {}", literal(value)));
            }
        }
        if let Some((key, value)) = &self.metadata {
            parts.push(format!(
                "traces.metadata->>{} = {}",
                literal(key),
                literal(value)
            ));
        }
        if let (Some(breakdown), false) = (&self.breakdown, self.compare.is_empty()) {
            let values: Vec<String> = self.compare.iter().map(|v| literal(v)).collect();
            parts.push(format!(
                "{} IN ({})",
                breakdown.expression(),
                values.join(", ")
            ));
        }
        parts
    }

    /// `sql` with its placeholders filled: `{{filter}}` with [`Filter::condition`],
    /// `{{breakdown}}` with the breakdown's expression (`'all'` without one) and
    /// `{{bucket}}` with the bucket's unit.
    ///
    /// ```
    /// use observe_cli::dashboard::{Breakdown, Filter, TimeRange};
    /// let filter = Filter {
    ///     range: TimeRange::LastDay,
    ///     bucket: TimeRange::LastDay.bucket(),
    ///     breakdown: Some(Breakdown::Environment),
    ///     ..Filter::default()
    /// };
    /// let sql = "SELECT date_trunc('{{bucket}}', timestamp) AS time, {{breakdown}} AS series, \
    ///            COUNT(*) FROM traces WHERE {{filter}} GROUP BY 1, 2";
    /// assert_eq!(
    ///     filter.render(sql),
    ///     "SELECT date_trunc('hour', timestamp) AS time, traces.environment AS series, \
    ///      COUNT(*) FROM traces WHERE (traces.timestamp >= NOW() - INTERVAL '1 day') GROUP BY 1, 2"
    /// );
    /// ```
    pub fn render(&self, sql: &str) -> String {
        self.fill(sql, &self.condition())
    }

    /// `sql` with `{{filter}}` filled with `condition`, the other placeholders as
    /// [`Filter::render`] fills them.
    pub(super) fn fill(&self, sql: &str, condition: &str) -> String {
        let breakdown = self
            .breakdown
            .as_ref()
            .map_or_else(|| "'all'".to_owned(), Breakdown::expression);
        // Parenthesized: the widget may combine it with `OR`.
        sql.replace("{{filter}}", &format!("({condition})"))
            .replace("{{breakdown}}", &breakdown)
            .replace("{{bucket}}", self.bucket.unit())
    }
}

/// `text` as a PostgreSQL string literal.
///
/// ```
/// assert_eq!(observe_cli::dashboard::literal("it's"), "'it''s'");
/// ```
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_part_is_a_quoted_literal() {
        let hostile = "x' OR 1=1 --";
        let filter = Filter {
            tags: vec![hostile.into()],
            environment: Some(hostile.into()),
            name: Some(hostile.into()),
            metadata: Some((hostile.into(), hostile.into())),
            breakdown: Some(Breakdown::Metadata(hostile.into())),
            compare: vec![hostile.into(), "b".into()],
            ..Filter::default()
        };
        let sql = filter.condition();
        // Each value appears only inside its doubled-quote literal.
        assert_eq!(sql.matches("'x'' OR 1=1 --'").count(), 7, "{sql}");
        assert_eq!(sql.replace("'x'' OR 1=1 --'", "").matches("OR").count(), 0);
        let translated =
            observe_store::sql::translate(&format!("SELECT COUNT(*) FROM traces WHERE {sql}"));
        assert!(translated.is_ok(), "{translated:?}");
    }

    #[test]
    fn without_a_breakdown_every_row_is_one_series() {
        let filter = Filter::default();
        assert_eq!(filter.render("{{breakdown}}"), "'all'");
        // A comparison needs a breakdown to compare along.
        let compare = Filter {
            compare: vec!["a".into(), "b".into()],
            ..Filter::default()
        };
        assert!(!compare.condition().contains(" IN "));
        let compare = Filter {
            breakdown: Some(Breakdown::Environment),
            ..compare
        };
        assert!(compare
            .condition()
            .ends_with("traces.environment IN ('a', 'b')"));
    }

    #[test]
    fn the_rendered_sql_translates_for_every_breakdown() {
        let breakdowns = [
            Breakdown::Model,
            Breakdown::User,
            Breakdown::Session,
            Breakdown::Name,
            Breakdown::Tag(vec!["a".into()]),
            Breakdown::Tag(Vec::new()),
            Breakdown::Environment,
            Breakdown::Release,
            Breakdown::Version,
            Breakdown::Metadata("k".into()),
        ];
        for breakdown in breakdowns {
            let filter = Filter {
                breakdown: Some(breakdown.clone()),
                compare: vec!["x".into(), "y".into()],
                ..Filter::default()
            };
            let sql = filter.render(
                "SELECT date_trunc('{{bucket}}', timestamp) AS time, {{breakdown}} AS series, \
                 COUNT(*) AS traces FROM traces WHERE {{filter}} GROUP BY 1, 2",
            );
            assert!(
                observe_store::sql::translate(&sql).is_ok(),
                "{breakdown:?}: {sql}"
            );
        }
    }
}
