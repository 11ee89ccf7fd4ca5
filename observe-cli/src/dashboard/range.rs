//! The dashboard's time range and the buckets its time series are cut into.

use std::fmt;

use observe_model::model::Timestamp;

/// A bucket of a time series: the unit `date_trunc` cuts timestamps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
    /// One week (from Monday, as PostgreSQL's `date_trunc('week', …)`).
    Week,
}

impl Bucket {
    /// The unit as `date_trunc` takes it.
    ///
    /// ```
    /// use observe_cli::dashboard::Bucket;
    /// assert_eq!(Bucket::Hour.unit(), "hour");
    /// assert_eq!("day".parse::<Bucket>().unwrap(), Bucket::Day);
    /// assert!("fortnight".parse::<Bucket>().is_err());
    /// ```
    pub fn unit(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    /// Seconds in one bucket.
    pub fn seconds(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3_600,
            Bucket::Day => 86_400,
            Bucket::Week => 7 * 86_400,
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.unit())
    }
}

impl std::str::FromStr for Bucket {
    type Err = RangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "minute" => Ok(Bucket::Minute),
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            "week" => Ok(Bucket::Week),
            other => Err(RangeError(format!(
                "unknown bucket `{other}`: expected minute, hour, day or week"
            ))),
        }
    }
}

/// A range or bucket that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RangeError(String);

/// The traces a dashboard looks at, by their start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeRange {
    /// The last hour.
    LastHour,
    /// The last 24 hours.
    LastDay,
    /// The last 7 days.
    Last7Days,
    /// The last 30 days.
    Last30Days,
    /// From one instant to another (either end open), as ISO text: `2026-12-01` or
    /// `2026-12-01T14:00[:00][Z]`, read as UTC.
    Custom {
        /// The first instant in the range, in seconds since 1970.
        from: Option<i64>,
        /// The first instant after the range, in seconds since 1970.
        to: Option<i64>,
    },
}

/// Longest a time series runs, in buckets, before a coarser bucket is chosen.
const MAX_BUCKETS: i64 = 200;

impl TimeRange {
    /// Reads the range a request or a command line names: `1h`, `24h`, `7d`, `30d`, or
    /// `custom` with `from` and `to`.
    ///
    /// ```
    /// use observe_cli::dashboard::{Bucket, TimeRange};
    /// assert_eq!(TimeRange::parse("7d", None, None).unwrap().bucket(), Bucket::Hour);
    /// let custom = TimeRange::parse("custom", Some("2026-12-01"), Some("2026-12-03T12:00")).unwrap();
    /// assert_eq!(custom.bucket(), Bucket::Hour);
    /// assert!(TimeRange::parse("custom", Some("yesterday"), None).is_err());
    /// ```
    pub fn parse(
        name: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<TimeRange, RangeError> {
        Ok(match name {
            "1h" | "hour" => TimeRange::LastHour,
            "24h" | "1d" | "day" => TimeRange::LastDay,
            "7d" | "week" => TimeRange::Last7Days,
            "30d" | "month" => TimeRange::Last30Days,
            "custom" => {
                let from = from.map(parse_instant).transpose()?;
                let to = to.map(parse_instant).transpose()?;
                if let (Some(f), Some(t)) = (from, to) {
                    if t <= f {
                        return Err(RangeError(
                            "the range ends before it starts: `to` must be after `from`".into(),
                        ));
                    }
                }
                TimeRange::Custom { from, to }
            }
            other => {
                return Err(RangeError(format!(
                    "unknown time range `{other}`: expected 1h, 24h, 7d, 30d or custom"
                )))
            }
        })
    }

    /// How long the range is in seconds; a custom range open at one end runs to now, or
    /// from 30 days before its end.
    pub fn seconds(&self, now: i64) -> i64 {
        match self {
            TimeRange::LastHour => 3_600,
            TimeRange::LastDay => 86_400,
            TimeRange::Last7Days => 7 * 86_400,
            TimeRange::Last30Days => 30 * 86_400,
            TimeRange::Custom { from, to } => {
                let to = to.unwrap_or(now);
                (to - from.unwrap_or(to - 30 * 86_400)).max(1)
            }
        }
    }

    /// The bucket that cuts the range into at most 200 points: minutes over an hour,
    /// hours over a day or a week, days over a month.
    pub fn bucket(&self) -> Bucket {
        self.bucket_at(now_seconds())
    }

    fn bucket_at(&self, now: i64) -> Bucket {
        let span = self.seconds(now);
        [Bucket::Minute, Bucket::Hour, Bucket::Day]
            .into_iter()
            .find(|b| span / b.seconds() <= MAX_BUCKETS)
            .unwrap_or(Bucket::Week)
    }

    /// The PostgreSQL condition on a timestamp column (`column`) that keeps the range.
    ///
    /// ```
    /// use observe_cli::dashboard::TimeRange;
    /// assert_eq!(
    ///     TimeRange::LastDay.condition("traces.timestamp"),
    ///     "traces.timestamp >= NOW() - INTERVAL '1 day'"
    /// );
    /// let custom = TimeRange::parse("custom", Some("2026-12-01"), None).unwrap();
    /// assert_eq!(
    ///     custom.condition("timestamp"),
    ///     "timestamp >= '2026-12-01T00:00:00Z'::timestamptz"
    /// );
    /// ```
    pub fn condition(&self, column: &str) -> String {
        let since = |interval: &str| format!("{column} >= NOW() - INTERVAL '{interval}'");
        match self {
            TimeRange::LastHour => since("1 hour"),
            TimeRange::LastDay => since("1 day"),
            TimeRange::Last7Days => since("7 days"),
            TimeRange::Last30Days => since("30 days"),
            TimeRange::Custom { from, to } => {
                let mut parts = Vec::new();
                if let Some(from) = from {
                    parts.push(format!("{column} >= '{}'::timestamptz", iso(*from)));
                }
                if let Some(to) = to {
                    parts.push(format!("{column} < '{}'::timestamptz", iso(*to)));
                }
                if parts.is_empty() {
                    "TRUE".into()
                } else {
                    parts.join(" AND ")
                }
            }
        }
    }

    /// The range's first instant and the first instant after it, in seconds since 1970
    /// (`None`: open at that end), with the ranges that end now read at `now`.
    ///
    /// ```
    /// use observe_cli::dashboard::TimeRange;
    /// assert_eq!(TimeRange::LastHour.bounds(7_200), (Some(3_600), None));
    /// let custom = TimeRange::parse("custom", None, Some("1970-01-02")).unwrap();
    /// assert_eq!(custom.bounds(0), (None, Some(86_400)));
    /// ```
    pub fn bounds(&self, now: i64) -> (Option<i64>, Option<i64>) {
        match self {
            TimeRange::Custom { from, to } => (*from, *to),
            relative => (Some(now - relative.seconds(now)), None),
        }
    }

    /// The name a request or a command line gives the range (`custom` for a custom one).
    pub fn name(&self) -> &'static str {
        match self {
            TimeRange::LastHour => "1h",
            TimeRange::LastDay => "24h",
            TimeRange::Last7Days => "7d",
            TimeRange::Last30Days => "30d",
            TimeRange::Custom { .. } => "custom",
        }
    }
}

/// Seconds since 1970 now.
pub(super) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `2026-12-01`, `2026-12-01T14:00`, `2026-12-01 14:00:05Z` as seconds since 1970 (UTC),
/// read as RFC 3339 by the model's one calendar once the parts left out are filled in.
fn parse_instant(text: &str) -> Result<i64, RangeError> {
    let bad = || {
        RangeError(format!(
            "`{text}` is not a time: write 2026-12-01 or 2026-12-01T14:00 (UTC)"
        ))
    };
    let trimmed = text.trim().trim_end_matches('Z');
    let (date, time) = match trimmed.split_once(['T', ' ']) {
        Some((d, t)) => (d, t),
        None => (trimmed, "00:00"),
    };
    let time = match time.split(':').count() {
        2 => format!("{time}:00"),
        3 => time.to_owned(),
        _ => return Err(bad()),
    };
    // A fraction of a second is dropped: buckets are a minute at the finest.
    Timestamp::parse_rfc3339(&format!("{date}T{time}Z"))
        .map(|t| (t.as_nanos() / 1_000_000_000) as i64)
        .ok_or_else(bad)
}

/// Seconds since 1970 as `2026-12-01T14:00:00Z`.
pub(super) fn iso(seconds: i64) -> String {
    let nanos = u64::try_from(seconds).unwrap_or(0) * 1_000_000_000;
    Timestamp(nanos).to_rfc3339().replace(".000000Z", "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_as_utc_and_print_back() {
        assert_eq!(parse_instant("1970-01-01").unwrap(), 0);
        assert_eq!(parse_instant("2000-03-01T00:00:01Z").unwrap(), 951_868_801);
        assert_eq!(
            parse_instant("2000-03-01T00:00:01.75Z").unwrap(),
            951_868_801
        );
        for text in [
            "2026-12-01T14:05:09Z",
            "2024-02-29T23:59:59Z",
            "1999-12-31T00:00:00Z",
        ] {
            assert_eq!(iso(parse_instant(text).unwrap()), text);
        }
        assert_eq!(
            iso(parse_instant("2026-12-01 14:05").unwrap()),
            "2026-12-01T14:05:00Z"
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-12",
            "2026-12-01T25:00",
            "x-y-z",
            "2026-12-01T1:2:3:4",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_keep_a_series_within_two_hundred_points() {
        let now = 2_000_000_000;
        assert_eq!(TimeRange::LastHour.bucket_at(now), Bucket::Minute);
        assert_eq!(TimeRange::LastDay.bucket_at(now), Bucket::Hour);
        assert_eq!(TimeRange::Last7Days.bucket_at(now), Bucket::Hour);
        assert_eq!(TimeRange::Last30Days.bucket_at(now), Bucket::Day);
        let long = TimeRange::Custom {
            from: Some(0),
            to: Some(1_000 * 86_400),
        };
        assert_eq!(long.bucket_at(now), Bucket::Week);
        // Open at its start: the 30 days before its end.
        let open = TimeRange::Custom {
            from: None,
            to: Some(now),
        };
        assert_eq!(open.seconds(now), 30 * 86_400);
        for range in [
            TimeRange::LastHour,
            TimeRange::LastDay,
            TimeRange::Last7Days,
            TimeRange::Last30Days,
        ] {
            let b = range.bucket_at(now);
            assert!(range.seconds(now) / b.seconds() <= MAX_BUCKETS, "{range:?}");
        }
    }

    #[test]
    fn a_custom_range_must_end_after_it_starts() {
        assert!(TimeRange::parse("custom", Some("2026-12-02"), Some("2026-12-01")).is_err());
        assert!(TimeRange::parse("2w", None, None).is_err());
        let r = TimeRange::parse("custom", Some("2026-12-01"), Some("2026-12-02")).unwrap();
        assert_eq!(
            r.condition("t"),
            "t >= '2026-12-01T00:00:00Z'::timestamptz AND t < '2026-12-02T00:00:00Z'::timestamptz"
        );
        assert_eq!(
            TimeRange::Custom {
                from: None,
                to: None
            }
            .condition("t"),
            "TRUE"
        );
    }
}
