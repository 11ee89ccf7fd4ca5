//! The dashboard's time range and the buckets its time series are cut into.

use std::fmt;

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
fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `2026-12-01`, `2026-12-01T14:00`, `2026-12-01 14:00:05Z` as seconds since 1970 (UTC).
fn parse_instant(text: &str) -> Result<i64, RangeError> {
    let bad = || {
        RangeError(format!(
            "`{text}` is not a time: write 2026-12-01 or 2026-12-01T14:00 (UTC)"
        ))
    };
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let number = |s: &str| -> Result<i64, RangeError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 4 {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(day), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let (y, m, day) = (number(y)?, number(m)?, number(day)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut seconds = days_from_civil(y, m, day) * 86_400;
    if let Some(time) = time {
        let time = time.split('.').next().unwrap_or(time);
        let parts: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let limits = [24, 60, 61];
        for (i, part) in parts.iter().enumerate() {
            let n = number(part)?;
            if n >= limits[i] {
                return Err(bad());
            }
            seconds += n * [3_600, 60, 1][i];
        }
    }
    Ok(seconds)
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since 1970 as `2026-12-01T14:00:00Z`.
fn iso(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // The inverse of `days_from_civil`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_as_utc_and_print_back() {
        assert_eq!(parse_instant("1970-01-01").unwrap(), 0);
        assert_eq!(parse_instant("2000-03-01T00:00:01Z").unwrap(), 951_868_801);
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
