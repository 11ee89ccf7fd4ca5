//! Values in the text PostgreSQL prints for them, computed from what SQLite holds: the
//! store's timestamp text as `timestamptz` prints (`2026-12-07 10:00:00.123+00`), 0/1 as
//! `true`/`false`, seconds as an `interval` (`1 day 02:03:04.5`), JSON text as `jsonb`
//! prints (`{"a": 1}`, keys in jsonb's order), a JSON array as a PostgreSQL array
//! (`{prod,"needs review"}`), and a JSON fragment as `->>` gives it. The translation wraps
//! a query's result columns in these (registered as SQLite functions, [`register`]), so a
//! query prints the same over the SQLite store as over PostgreSQL. The JSON forms are
//! `pg_json`'s.

use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

use super::pg_json::{array, json_text, jsonb};

/// The SQLite names of the functions below, as the translation calls them.
pub(crate) const TIMESTAMPTZ: &str = "observe_pg_timestamptz";
pub(crate) const BOOLEAN: &str = "observe_pg_bool";
pub(crate) const INTERVAL: &str = "observe_pg_interval";
pub(crate) const JSONB: &str = "observe_pg_jsonb";
pub(crate) const ARRAY: &str = "observe_pg_array";
pub(crate) const JSON_TEXT: &str = "observe_json_text";
pub(crate) const EPOCH: &str = "observe_epoch";
pub(crate) const SECONDS_BETWEEN: &str = "observe_seconds_between";
pub(crate) const TO_BOOLEAN: &str = "observe_to_bool";

/// Registers the functions on `conn`.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let text_fn = |name: &str, f: fn(&str) -> Option<String>| {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(match ctx.get::<SqlValue>(0)? {
                SqlValue::Null => None,
                SqlValue::Text(t) => f(&t).or(Some(t)),
                SqlValue::Integer(i) => f(&i.to_string()).or_else(|| Some(i.to_string())),
                SqlValue::Real(x) => f(&x.to_string()).or_else(|| Some(x.to_string())),
                SqlValue::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            })
        })
    };
    text_fn(TIMESTAMPTZ, timestamptz)?;
    text_fn(JSONB, jsonb)?;
    text_fn(ARRAY, array)?;
    conn.create_scalar_function(JSON_TEXT, 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.and_then(|t| json_text(&t)))
    })?;
    conn.create_scalar_function(BOOLEAN, 1, flags, |ctx| {
        Ok(match ctx.get::<SqlValue>(0)? {
            SqlValue::Null => None,
            SqlValue::Integer(i) => Some(i != 0),
            SqlValue::Real(x) => Some(x != 0.0),
            SqlValue::Text(t) => boolean(&t),
            SqlValue::Blob(_) => None,
        }
        .map(|b| if b { "true" } else { "false" }))
    })?;
    conn.create_scalar_function(INTERVAL, 1, flags, |ctx| {
        Ok(ctx.get::<Option<f64>>(0)?.map(interval))
    })?;
    conn.create_scalar_function(EPOCH, 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.and_then(|t| epoch(&t)))
    })?;
    conn.create_scalar_function(SECONDS_BETWEEN, 2, flags, |ctx| {
        let (a, b) = (ctx.get::<Option<String>>(0)?, ctx.get::<Option<String>>(1)?);
        Ok(
            match (a.as_deref().and_then(epoch), b.as_deref().and_then(epoch)) {
                // Both are whole microseconds; the rounding drops the float's noise.
                (Some(a), Some(b)) => Some(((a - b) * 1e6).round() / 1e6),
                _ => None,
            },
        )
    })?;
    conn.create_scalar_function(TO_BOOLEAN, 1, flags, |ctx| {
        Ok(match ctx.get::<SqlValue>(0)? {
            SqlValue::Integer(i) => Some(i != 0),
            SqlValue::Real(x) => Some(x != 0.0),
            SqlValue::Text(t) => boolean(&t),
            SqlValue::Null | SqlValue::Blob(_) => None,
        })
    })
}

/// PostgreSQL's boolean input words.
fn boolean(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "y" | "on" | "1" => Some(true),
        "f" | "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The parts of `YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+00:00]` (or a bare date): days since
/// 1970-01-01, seconds of the day, and the fraction's digits.
fn parse_timestamp(text: &str) -> Option<(i64, u32, String)> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if b.len() == 10 {
        return Some((days, 0, String::new()));
    }
    if !matches!(b.get(10), Some(b'T' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (h, mi, s) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = &text[19..];
    let mut fraction = String::new();
    if let Some(f) = rest.strip_prefix('.') {
        let end = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
        fraction = f[..end].to_owned();
        rest = &f[end..];
    }
    if !matches!(rest, "" | "Z" | "+00" | "+00:00") {
        return None;
    }
    Some((days, (h * 3600 + mi * 60 + s) as u32, fraction))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The store's timestamp text as PostgreSQL prints a `timestamptz` in UTC: a space for
/// the `T`, the fraction without its trailing zeros (none when it is zero), `+00`.
pub(crate) fn timestamptz(text: &str) -> Option<String> {
    let (_, _, fraction) = parse_timestamp(text)?;
    let fraction = fraction.get(..6).unwrap_or(&fraction).trim_end_matches('0');
    let time = if text.len() == 10 {
        "00:00:00"
    } else {
        &text[11..19]
    };
    let dot = if fraction.is_empty() { "" } else { "." };
    Some(format!("{} {time}{dot}{fraction}+00", &text[..10]))
}

/// Seconds since 1970 of a timestamp text, to the microsecond.
fn epoch(text: &str) -> Option<f64> {
    let (days, seconds, fraction) = parse_timestamp(text)?;
    let micros: i64 = format!("{:0<6}", fraction.get(..6).unwrap_or(&fraction))
        .parse()
        .ok()?;
    Some((days * 86_400 + i64::from(seconds)) as f64 + micros as f64 / 1e6)
}

/// Seconds as PostgreSQL prints the `interval` between two timestamps: whole days, then
/// the time of day, each part with its own sign (`-1 days -02:00:00`), microseconds.
pub(crate) fn interval(seconds: f64) -> String {
    let micros = (seconds * 1e6).round() as i64;
    let days = micros / 86_400_000_000;
    let rest = micros % 86_400_000_000;
    let mut out = String::new();
    if days != 0 {
        out.push_str(&format!(
            "{days} {}",
            if days == 1 { "day" } else { "days" }
        ));
    }
    if rest != 0 || days == 0 {
        if !out.is_empty() {
            out.push(' ');
        }
        if rest < 0 {
            out.push('-');
        }
        let r = rest.unsigned_abs();
        let (h, m, s, us) = (
            r / 3_600_000_000,
            r / 60_000_000 % 60,
            r / 1_000_000 % 60,
            r % 1_000_000,
        );
        out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
        if us != 0 {
            let frac = format!("{us:06}");
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_timestamptz() {
        assert_eq!(
            timestamptz("2026-12-07T10:00:00.123000Z").as_deref(),
            Some("2026-12-07 10:00:00.123+00")
        );
        assert_eq!(
            timestamptz("2026-12-07T10:00:00.000000Z").as_deref(),
            Some("2026-12-07 10:00:00+00")
        );
        assert_eq!(
            timestamptz("2026-12-07T10:00:00.1234567Z").as_deref(),
            Some("2026-12-07 10:00:00.123456+00")
        );
        assert_eq!(
            timestamptz("2026-12-07").as_deref(),
            Some("2026-12-07 00:00:00+00")
        );
        assert_eq!(timestamptz("not a time"), None);
        assert_eq!(epoch("1970-01-02T00:00:01.5Z"), Some(86_401.5));
    }

    #[test]
    fn intervals_print_as_postgresql_does() {
        assert_eq!(interval(0.0), "00:00:00");
        assert_eq!(interval(2.345), "00:00:02.345");
        assert_eq!(interval(86_400.0), "1 day");
        assert_eq!(interval(2.0 * 86_400.0 + 3_723.5), "2 days 01:02:03.5");
        assert_eq!(interval(-(86_400.0 + 7_200.0)), "-1 days -02:00:00");
    }
}
