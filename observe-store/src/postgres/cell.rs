//! PostgreSQL values as the rows of the SQLite store hold them ([`SqlValue`]), so that
//! one printing code serves both stores.
//!
//! The conversion is chosen so that the store's own columns read back as the SQLite store
//! holds them, for the typed reads (listings, lookups, observations); a person's query
//! prints PostgreSQL's own text forms instead ([`printed_value`](super::printed_value)):
//!
//! | PostgreSQL | value |
//! | --- | --- |
//! | `smallint`, `integer`, `bigint`, `oid` | integer |
//! | `real`, `double precision` | real |
//! | `numeric` | integer when it has no decimals and fits 64 bits, else real |
//! | `text`, `varchar`, `char`, `name`, `json` | text as stored |
//! | `jsonb` | text as PostgreSQL writes it (`{"a": 1}`) |
//! | `timestamptz` | text in the store's form, UTC: `2026-01-31T12:00:00.000000Z` |
//! | `timestamp` | the same without `Z`; `date` `2026-01-31`; `time` `12:00:00.000000` |
//! | `interval` | text as PostgreSQL writes it (`1 day 02:00:00`) |
//! | `boolean` | text `true` or `false` |
//! | `uuid` | text, hyphenated |
//! | `bytea` | blob |
//! | arrays of those | text: a JSON array (`["a","b"]`, as the SQLite store keeps tags) |
//!
//! Other types are refused with their name.

use std::error::Error;

use postgres::types::{FromSql, Kind, Type};
use rusqlite::types::Value as SqlValue;

/// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Days from 1970-01-01 to 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

type DecodeError = Box<dyn Error + Sync + Send>;

/// One value of a row, whatever its PostgreSQL type, as a [`SqlValue`].
#[derive(Debug)]
pub(crate) struct Cell(pub(crate) SqlValue);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, DecodeError> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> Result<Self, DecodeError> {
        Ok(Cell(SqlValue::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The value of `ty` that PostgreSQL sent as `raw` (its binary form).
fn decode(ty: &Type, raw: &[u8]) -> Result<SqlValue, DecodeError> {
    let value = match *ty {
        Type::BOOL => SqlValue::Text(
            if raw.first() == Some(&1) {
                "true"
            } else {
                "false"
            }
            .into(),
        ),
        Type::INT2 => SqlValue::Integer(i16::from_be_bytes(fixed(raw)?).into()),
        Type::INT4 => SqlValue::Integer(i32::from_be_bytes(fixed(raw)?).into()),
        Type::OID => SqlValue::Integer(u32::from_be_bytes(fixed(raw)?).into()),
        Type::INT8 => SqlValue::Integer(i64::from_be_bytes(fixed(raw)?)),
        Type::FLOAT4 => SqlValue::Real(f32::from_be_bytes(fixed(raw)?).into()),
        Type::FLOAT8 => SqlValue::Real(f64::from_be_bytes(fixed(raw)?)),
        Type::NUMERIC => numeric(raw)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            SqlValue::Text(std::str::from_utf8(raw)?.to_owned())
        }
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => SqlValue::Text(std::str::from_utf8(text)?.to_owned()),
            _ => return Err("jsonb in an unknown binary version".into()),
        },
        Type::TIMESTAMPTZ => SqlValue::Text(timestamp(i64::from_be_bytes(fixed(raw)?), "Z")),
        Type::TIMESTAMP => SqlValue::Text(timestamp(i64::from_be_bytes(fixed(raw)?), "")),
        Type::DATE => SqlValue::Text(date(i32::from_be_bytes(fixed(raw)?))),
        Type::TIME => SqlValue::Text(time_of_day(i64::from_be_bytes(fixed(raw)?))),
        Type::INTERVAL => SqlValue::Text(interval(raw)?),
        Type::UUID => SqlValue::Text(uuid(raw)?),
        Type::BYTEA => SqlValue::Blob(raw.to_vec()),
        _ => match ty.kind() {
            Kind::Array(element) => SqlValue::Text(array(element, raw)?.to_string()),
            Kind::Domain(inner) => decode(inner, raw)?,
            _ => {
                return Err(format!(
                    "observe cannot show values of type {}: cast the column (e.g. `::text`)",
                    ty.name()
                )
                .into())
            }
        },
    };
    Ok(value)
}

/// The `N` bytes of a fixed-size value.
fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], DecodeError> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()).into())
}

/// A big-endian integer of type `T` at `at`.
fn be_i16(raw: &[u8], at: usize) -> Result<i16, DecodeError> {
    Ok(i16::from_be_bytes(fixed(
        raw.get(at..at + 2).unwrap_or_default(),
    )?))
}

fn be_i32(raw: &[u8], at: usize) -> Result<i32, DecodeError> {
    Ok(i32::from_be_bytes(fixed(
        raw.get(at..at + 4).unwrap_or_default(),
    )?))
}

/// `numeric`: base-10000 digits with a weight and a display scale.
fn numeric(raw: &[u8]) -> Result<SqlValue, DecodeError> {
    let count = be_i16(raw, 0)?.max(0) as usize;
    let weight = i64::from(be_i16(raw, 2)?);
    let sign = be_i16(raw, 4)? as u16;
    let scale = be_i16(raw, 6)?.max(0) as usize;
    match sign {
        0xC000 => return Ok(SqlValue::Real(f64::NAN)),
        0xD000 => return Ok(SqlValue::Real(f64::INFINITY)),
        0xF000 => return Ok(SqlValue::Real(f64::NEG_INFINITY)),
        _ => {}
    }
    let digits = (0..count)
        .map(|i| be_i16(raw, 8 + 2 * i))
        .collect::<Result<Vec<_>, _>>()?;
    let group = |i: i64| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut whole = String::new();
    for i in 0..=weight {
        if whole.is_empty() {
            whole = group(i).to_string();
        } else {
            whole.push_str(&format!("{:04}", group(i)));
        }
    }
    if whole.is_empty() {
        whole.push('0');
    }
    let mut fraction = String::new();
    let mut i = weight + 1;
    while fraction.len() < scale {
        fraction.push_str(&format!("{:04}", group(i)));
        i += 1;
    }
    fraction.truncate(scale);
    let minus = if sign == 0x4000 { "-" } else { "" };
    if scale == 0 {
        if let Ok(n) = format!("{minus}{whole}").parse::<i64>() {
            return Ok(SqlValue::Integer(n));
        }
    }
    Ok(SqlValue::Real(
        format!("{minus}{whole}.{fraction}0").parse()?,
    ))
}

/// `timestamp` / `timestamptz`: microseconds since 2000-01-01, in the store's text form
/// followed by `zone`.
fn timestamp(micros: i64, zone: &str) -> String {
    match micros {
        i64::MAX => return "infinity".into(),
        i64::MIN => return "-infinity".into(),
        _ => {}
    }
    let since_1970 = micros.saturating_add(PG_EPOCH_MICROS);
    let day = since_1970.div_euclid(86_400_000_000);
    let of_day = since_1970.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}T{}{zone}", clock(of_day))
}

/// `date`: days since 2000-01-01.
fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        _ => {
            let (y, m, d) = civil_from_days(i64::from(days) + PG_EPOCH_DAYS);
            format!("{y:04}-{m:02}-{d:02}")
        }
    }
}

/// `time`: microseconds since midnight.
fn time_of_day(micros: i64) -> String {
    clock(micros)
}

/// `HH:MM:SS.ffffff` of microseconds within a day.
fn clock(micros: i64) -> String {
    let secs = micros / 1_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        micros % 1_000_000
    )
}

/// `interval`: microseconds, days and months, written as PostgreSQL writes them
/// (`1 year 2 mons 3 days 04:05:06.5`).
fn interval(raw: &[u8]) -> Result<String, DecodeError> {
    let micros = i64::from_be_bytes(fixed(raw.get(0..8).unwrap_or_default())?);
    let days = be_i32(raw, 8)?;
    let months = be_i32(raw, 12)?;
    let mut parts = Vec::new();
    let mut unit = |n: i32, one: &str, many: &str| {
        if n != 0 {
            parts.push(format!("{n} {}", if n.abs() == 1 { one } else { many }));
        }
    };
    unit(months / 12, "year", "years");
    unit(months % 12, "mon", "mons");
    unit(days, "day", "days");
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        let abs = micros.unsigned_abs();
        let secs = abs / 1_000_000;
        let mut text = format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        );
        if abs % 1_000_000 != 0 {
            let fraction = format!("{:06}", abs % 1_000_000);
            text.push('.');
            text.push_str(fraction.trim_end_matches('0'));
        }
        parts.push(text);
    }
    Ok(parts.join(" "))
}

fn uuid(raw: &[u8]) -> Result<String, DecodeError> {
    let bytes: [u8; 16] = fixed(raw)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// An array of `element`s as JSON: nested arrays for more dimensions, each element as
/// [`value_to_json`](crate::sql::value_to_json) writes its value.
fn array(element: &Type, raw: &[u8]) -> Result<serde_json::Value, DecodeError> {
    let dimensions = be_i32(raw, 0)?.max(0) as usize;
    let mut lengths = Vec::with_capacity(dimensions);
    for d in 0..dimensions {
        lengths.push(be_i32(raw, 12 + 8 * d)?.max(0) as usize);
    }
    let mut at = 12 + 8 * dimensions;
    let mut values = Vec::new();
    let total: usize = if dimensions == 0 {
        0
    } else {
        lengths.iter().product()
    };
    for _ in 0..total {
        let len = be_i32(raw, at)?;
        at += 4;
        let value = if len < 0 {
            SqlValue::Null
        } else {
            let end = at + len as usize;
            let bytes = raw.get(at..end).ok_or("array element past its end")?;
            at = end;
            decode(element, bytes)?
        };
        values.push(crate::sql::value_to_json(&value));
    }
    // Innermost dimension first: group the flat list into nested arrays.
    for &len in lengths.iter().skip(1).rev() {
        values = values
            .chunks(len.max(1))
            .map(|c| serde_json::Value::Array(c.to_vec()))
            .collect();
    }
    Ok(serde_json::Value::Array(values))
}

/// Year, month, day of a day number counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_in_the_store_form() {
        assert_eq!(timestamp(0, "Z"), "2000-01-01T00:00:00.000000Z");
        assert_eq!(
            timestamp(-PG_EPOCH_MICROS + 1_500_000, "Z"),
            "1970-01-01T00:00:01.500000Z"
        );
        assert_eq!(timestamp(-1, ""), "1999-12-31T23:59:59.999999");
        assert_eq!(date(31), "2000-02-01");
    }

    #[test]
    fn numerics_become_integers_or_reals() {
        // 12345.678: weight 1, digits [1, 2345, 6780], scale 3.
        let mut raw = Vec::new();
        for n in [3i16, 1, 0, 3, 1, 2345, 6780] {
            raw.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(numeric(&raw).unwrap(), SqlValue::Real(12345.678));
        // -20000: weight 1, digits [2], scale 0, negative.
        let mut raw = Vec::new();
        for n in [1i16, 1, 0x4000, 0, 2] {
            raw.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(numeric(&raw).unwrap(), SqlValue::Integer(-20000));
        // 0.05: weight -1, digits [500], scale 2.
        let mut raw = Vec::new();
        for n in [1i16, -1, 0, 2, 500] {
            raw.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(numeric(&raw).unwrap(), SqlValue::Real(0.05));
    }

    #[test]
    fn intervals_print_as_postgresql_writes_them() {
        let raw = |micros: i64, days: i32, months: i32| {
            let mut r = micros.to_be_bytes().to_vec();
            r.extend_from_slice(&days.to_be_bytes());
            r.extend_from_slice(&months.to_be_bytes());
            r
        };
        assert_eq!(interval(&raw(0, 0, 0)).unwrap(), "00:00:00");
        assert_eq!(
            interval(&raw(3_723_500_000, 1, 14)).unwrap(),
            "1 year 2 mons 1 day 01:02:03.5"
        );
        assert_eq!(interval(&raw(0, 30, 0)).unwrap(), "30 days");
    }
}
