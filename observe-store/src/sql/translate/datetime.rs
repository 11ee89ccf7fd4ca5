//! Timestamps and intervals: literal intervals read into their parts, a timestamp shifted
//! by an interval as SQLite date modifiers, intervals as seconds, and `date_trunc`.

use sqlparser::ast::{BinaryOperator, Expr, Interval, Value};

use super::syntax::{call, number, number_text, string, string_literal, ts};
use crate::sql::error::SqlError;

/// An interval-typed expression as a number of seconds.
pub(super) fn interval_as_seconds(e: &Expr) -> Result<Expr, SqlError> {
    match e {
        Expr::Interval(i) => Ok(number(interval_seconds(&parse_interval(i)?))),
        Expr::Nested(inner) => interval_as_seconds(inner).map(|x| Expr::Nested(Box::new(x))),
        other => Ok(other.clone()),
    }
}

/// `ts ± interval`: SQLite date modifiers for a literal interval (calendar months stay
/// months), or seconds for a computed one.
pub(super) fn shift(timestamp: Expr, interval: &Expr, sign: f64) -> Result<Expr, SqlError> {
    let literal = match interval {
        Expr::Interval(i) => Some(i),
        Expr::Nested(inner) => match inner.as_ref() {
            Expr::Interval(i) => Some(i),
            _ => None,
        },
        _ => None,
    };
    let modifiers = match literal {
        Some(i) => parse_interval(i)?
            .iter()
            .map(|(n, unit)| string(&modifier(sign * n, *unit)))
            .collect(),
        None => {
            let seconds = interval_as_seconds(interval)?;
            let seconds = if sign < 0.0 {
                Expr::UnaryOp {
                    op: sqlparser::ast::UnaryOperator::Minus,
                    expr: Box::new(Expr::Nested(Box::new(seconds))),
                }
            } else {
                seconds
            };
            vec![call("printf", vec![string("%+.6f seconds"), seconds])]
        }
    };
    Ok(ts(timestamp, modifiers))
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Months,
    Years,
}

fn modifier(n: f64, unit: Unit) -> String {
    let name = match unit {
        Unit::Seconds => "seconds",
        Unit::Minutes => "minutes",
        Unit::Hours => "hours",
        Unit::Days => "days",
        Unit::Months => "months",
        Unit::Years => "years",
    };
    format!("{}{n} {name}", if n >= 0.0 { "+" } else { "" })
}

/// PostgreSQL's lengths: a month is 30 days and a year 365.25 days, as
/// `EXTRACT(EPOCH FROM interval)` counts them.
pub(super) fn interval_seconds(parts: &[(f64, Unit)]) -> f64 {
    parts
        .iter()
        .map(|(n, unit)| {
            n * match unit {
                Unit::Seconds => 1.0,
                Unit::Minutes => 60.0,
                Unit::Hours => 3600.0,
                Unit::Days => 86_400.0,
                Unit::Months => 30.0 * 86_400.0,
                Unit::Years => 365.25 * 86_400.0,
            }
        })
        .sum()
}

/// `'30 days'`, `'1 day 2 hours'`, `'90 min'`, `'1.5h'`, `'2' HOUR`.
pub(super) fn parse_interval(i: &Interval) -> Result<Vec<(f64, Unit)>, SqlError> {
    let text = match i.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let bad = || {
        SqlError::Unsupported(format!(
            "the interval `{i}`; write it like INTERVAL '30 days' or INTERVAL '1 day 2 hours'"
        ))
    };
    if let Some(field) = &i.leading_field {
        let n: f64 = text.trim().parse().map_err(|_| bad())?;
        let (scale, unit) = unit_of(&field.to_string().to_ascii_lowercase()).ok_or_else(bad)?;
        return Ok(vec![(n * scale, unit)]);
    }
    let mut parts = Vec::new();
    let mut tokens = split_number_units(&text).into_iter();
    while let Some(number) = tokens.next() {
        let n: f64 = number.parse().map_err(|_| bad())?;
        let unit = tokens.next().ok_or_else(bad)?;
        let (scale, unit) = unit_of(&unit.to_ascii_lowercase()).ok_or_else(bad)?;
        parts.push((n * scale, unit));
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(parts)
}

/// Splits `1day 2 hours` into `1`, `day`, `2`, `hours`.
fn split_number_units(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut numeric = false;
    for c in text.chars() {
        let is_num = c.is_ascii_digit() || c == '.' || c == '-' || c == '+';
        if c.is_whitespace() || c == ',' {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() && is_num != numeric {
            out.push(std::mem::take(&mut current));
        }
        numeric = is_num;
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn unit_of(word: &str) -> Option<(f64, Unit)> {
    Some(match word {
        "microsecond" | "microseconds" | "us" => (1e-6, Unit::Seconds),
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => (1e-3, Unit::Seconds),
        "second" | "seconds" | "sec" | "secs" | "s" => (1.0, Unit::Seconds),
        "minute" | "minutes" | "min" | "mins" | "m" => (1.0, Unit::Minutes),
        "hour" | "hours" | "hr" | "hrs" | "h" => (1.0, Unit::Hours),
        "day" | "days" | "d" => (1.0, Unit::Days),
        "week" | "weeks" | "w" => (7.0, Unit::Days),
        "month" | "months" | "mon" | "mons" => (1.0, Unit::Months),
        "year" | "years" | "y" | "yr" | "yrs" => (1.0, Unit::Years),
        _ => return None,
    })
}

/// `date_trunc(unit, x)`. `stored` says `x` is one of the store's timestamp columns, whose
/// text is always the store's form (or NULL, or empty for a time not given yet): then the
/// units but `week` keep the text's leading fields and append the rest, which is the same
/// text `strftime` would print at a fraction of its cost (it parses every row's date; a
/// time series over 100,000 traces spent about half its instructions there).
pub(super) fn date_trunc(unit: &Expr, x: &Expr, stored: bool) -> Result<Expr, SqlError> {
    let unit = string_literal(unit)
        .unwrap_or_default()
        .to_ascii_lowercase();
    // With the length of the leading fields a stored text keeps (`0`: none, `week`).
    let (format, modifiers, kept): (&str, &[&str], usize) = match unit.as_str() {
        "second" => ("%Y-%m-%dT%H:%M:%S.000000Z", &[], 19),
        "minute" => ("%Y-%m-%dT%H:%M:00.000000Z", &[], 16),
        "hour" => ("%Y-%m-%dT%H:00:00.000000Z", &[], 13),
        "day" => ("%Y-%m-%dT00:00:00.000000Z", &[], 10),
        "week" => ("%Y-%m-%dT00:00:00.000000Z", &["-6 days", "weekday 1"], 0),
        "month" => ("%Y-%m-01T00:00:00.000000Z", &[], 7),
        "year" => ("%Y-01-01T00:00:00.000000Z", &[], 4),
        other => {
            return Err(SqlError::Unsupported(format!(
                "date_trunc('{other}'); supported: second, minute, hour, day, week, month, year"
            )))
        }
    };
    let rest = "0000-01-01T00:00:00.000000Z".get(kept..);
    if let (true, 1.., Some(rest)) = (stored, kept, rest) {
        let fields = call(
            "substr",
            vec![x.clone(), number_text("1"), number_text(&kept.to_string())],
        );
        // NULLIF: an empty time (not given yet) truncates to NULL, as `strftime` makes it.
        return Ok(Expr::BinaryOp {
            left: Box::new(call("NULLIF", vec![fields, string("")])),
            op: BinaryOperator::StringConcat,
            right: Box::new(string(rest)),
        });
    }
    let mut args = vec![string(format), x.clone()];
    args.extend(modifiers.iter().map(|m| string(m)));
    // Each format is the store's timestamp text, so the result compares with timestamps.
    Ok(call("strftime", args))
}

/// `to_char(ts, 'YYYY-MM-DD HH24:MI')`: `strftime` with the same fields. Text in double
/// quotes and characters that are not letters are kept; a letter pattern without a
/// `strftime` field is refused by name.
pub(super) fn to_char(x: &Expr, format: &Expr) -> Result<Expr, SqlError> {
    const PATTERNS: [(&str, &str); 8] = [
        ("YYYY", "%Y"),
        ("HH24", "%H"),
        ("DDD", "%j"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("MI", "%M"),
        ("SS", "%S"),
        ("IW", "%V"),
    ];
    let Some(pattern) = string_literal(format) else {
        return Err(SqlError::Unsupported(
            "to_char with a format that is not a literal".into(),
        ));
    };
    let mut out = String::new();
    let mut rest = pattern.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (text, after) = quoted.split_once('"').unwrap_or((quoted, ""));
            out.push_str(&text.replace('%', "%%"));
            rest = after;
            continue;
        }
        if let Some((p, field)) = PATTERNS.iter().find(|(p, _)| rest.starts_with(p)) {
            out.push_str(field);
            rest = &rest[p.len()..];
            continue;
        }
        if c.is_ascii_alphabetic() {
            let word: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            return Err(SqlError::Unsupported(format!(
                "to_char pattern `{word}`; supported: YYYY, MM, DD, DDD, IW, HH24, MI, SS"
            )));
        }
        if c == '%' {
            out.push('%');
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(call("strftime", vec![string(&out), x.clone()]))
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn intervals() {
        let i = |s: &str| {
            let Expr::Interval(i) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(s)
                .unwrap()
                .parse_expr()
                .unwrap()
            else {
                panic!("not an interval")
            };
            interval_seconds(&parse_interval(&i).unwrap())
        };
        assert_eq!(i("INTERVAL '30 days'"), 30.0 * 86_400.0);
        assert_eq!(i("INTERVAL '1 day 2 hours'"), 86_400.0 + 7_200.0);
        assert_eq!(i("INTERVAL '1.5h'"), 5_400.0);
        assert_eq!(i("INTERVAL '250 ms'"), 0.25);
        assert_eq!(i("INTERVAL '2' HOUR"), 7_200.0);
    }

    #[test]
    fn a_stored_column_truncates_to_the_text_strftime_prints() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let column = Expr::Identifier(sqlparser::ast::Ident::new("ts"));
        for unit in ["second", "minute", "hour", "day", "week", "month", "year"] {
            let unit = string(unit);
            let fast = date_trunc(&unit, &column, true).unwrap();
            let slow = date_trunc(&unit, &column, false).unwrap();
            for text in [
                Some("2026-03-17T21:45:09.123456Z"),
                Some("1999-12-31T23:59:59.999999Z"),
                Some(""),
                None,
            ] {
                let sql = format!("SELECT {fast}, {slow} FROM (SELECT ?1 AS ts)");
                let (a, b): (Option<String>, Option<String>) = conn
                    .query_row(&sql, [text], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap();
                assert_eq!(a, b, "{unit} of {text:?}: {sql}");
            }
        }
    }
}
